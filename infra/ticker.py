"""The local scheduler: publishes a poll tick to `poll-ticks` every interval (Cloud Scheduler's job
in the cloud). Run as its own process: `python -m infra.ticker --interval 5`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from shared.bus import EventBus
from shared.config import Settings
from shared.messages import POLL_TICK, JobMessage

log = logging.getLogger("tunewire.ticker")


def run(interval_s: float, stop: threading.Event) -> None:
    settings = Settings.from_env()
    bus = EventBus(settings)
    while not stop.wait(interval_s):
        try:
            bus.publish(settings.topic_poll_ticks, JobMessage(POLL_TICK, "scheduler"))
        except Exception as exc:  # noqa: BLE001 - a missed tick is logged; the next one comes
            log.warning("tick not published: %s", exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between ticks")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("publishing a poll tick every %.1f s", args.interval)
    run(args.interval, stop)


if __name__ == "__main__":
    main()
