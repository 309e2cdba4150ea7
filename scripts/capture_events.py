"""Capture real push deliveries from the local emulators for handler tests.

Starts the Pub/Sub emulator and fake-gcs-server (publishing finalize events to the
topic ``dataset-uploads``), subscribes PUSH subscriptions on every tunewire topic pointing at a
tiny HTTP server run here, uploads an object with custom metadata, publishes one message of each
kind tunewire sends (through ``shared.bus.EventBus``, the code the functions use), and writes the
exact request bodies the emulator POSTs:

    tests/events/gcs_finalize_push.json          (raw body bytes, unchanged)
    tests/events/gcs_finalize_push.headers.json  (request headers, as received)
    tests/events/tuning_request_push.json        (topic tuning-requests)
    tests/events/job_event_push.json             (topic job-events, state RUNNING)
    tests/events/poll_tick_push.json             (topic poll-ticks, the scheduler's tick)

Run from the repository root: ``python scripts/capture_events.py [--out-dir DIR]``.
Everything it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # allow running without an installed package
    sys.path.insert(0, str(REPO_ROOT))

from infra.emulators import start_fake_gcs, start_pubsub_emulator
from infra.processes import free_loopback_port

PROJECT = "tunewire-test"
TOPIC = "dataset-uploads"
SUBSCRIPTION = "dataset-uploads-push"
BUCKET = "tunewire-test-datasets"
OBJECT_NAME = "uploads/sentiment/train.jsonl"
METADATA = {"tunewire-base-model": "gemini-2.5-flash", "tunewire-epochs": "3"}
CONTENT = (
    b'{"contents": [{"role": "user", "parts": [{"text": "I loved it"}]},'
    b' {"role": "model", "parts": [{"text": "positive"}]}]}\n'
)
PUSH_WAIT_S = 30.0

Capture = tuple[bytes, list[tuple[str, str]]]
OUR_TOPICS = {"tuning-requests": "tuning_request_push.json", "job-events": "job_event_push.json", "poll-ticks": "poll_tick_push.json"}


def _push_server(deliveries: queue.Queue[tuple[str, bytes, list[tuple[str, str]]]]) -> ThreadingHTTPServer:
    """An HTTP server on a free loopback port that records every POST and answers 204."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            deliveries.put((self.path, body, list(self.headers.items())))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return ThreadingHTTPServer(("127.0.0.1", free_loopback_port()), Handler)


def capture(run_dir: Path) -> dict[str, Capture]:
    """Run the emulators, upload one object, publish our messages; return deliveries by file name."""
    from google.cloud import pubsub_v1, storage

    deliveries: queue.Queue[tuple[str, bytes, list[tuple[str, str]]]] = queue.Queue()
    server = _push_server(deliveries)
    thread = threading.Thread(target=server.serve_forever, name="push-endpoint", daemon=True)
    thread.start()
    pubsub = start_pubsub_emulator(run_dir, PROJECT)
    gcs = None
    try:
        os.environ.update(pubsub.env)
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(PROJECT, TOPIC)
        publisher.create_topic(name=topic)  # before fake-gcs starts: events to a missing topic are dropped
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/projects/{PROJECT}/topics/{TOPIC}"
        subscriber.create_subscription(
            name=subscriber.subscription_path(PROJECT, SUBSCRIPTION),
            topic=topic,
            push_config={"push_endpoint": endpoint},
        )
        subscriber.close()

        gcs = start_fake_gcs(run_dir, pubsub=pubsub, project=PROJECT, topic=TOPIC)
        os.environ.update(gcs.env)
        client = storage.Client(project=PROJECT)
        blob = client.create_bucket(BUCKET).blob(OBJECT_NAME)
        blob.metadata = METADATA
        blob.upload_from_string(CONTENT, content_type="application/jsonl")

        from shared.bus import EventBus
        from shared.config import Settings
        from shared.messages import POLL_TICK, JobMessage

        for topic_name in OUR_TOPICS:
            topic_path = publisher.create_topic(name=publisher.topic_path(PROJECT, topic_name)).name
            subscriber = pubsub_v1.SubscriberClient()
            subscriber.create_subscription(
                name=subscriber.subscription_path(PROJECT, f"{topic_name}-push"),
                topic=topic_path,
                push_config={"push_endpoint": f"http://127.0.0.1:{server.server_address[1]}/projects/{PROJECT}/topics/{topic_name}"},
            )
            subscriber.close()
        bus = EventBus(Settings(project=PROJECT), publisher)
        bus.request_tuning("train-3f2a9c0d1e4b5a69")
        bus.job_state_changed("train-3f2a9c0d1e4b5a69", "RUNNING", "Vertex AI job is JOB_STATE_RUNNING")
        bus.publish("poll-ticks", JobMessage(POLL_TICK, "scheduler"))

        captured: dict[str, Capture] = {}
        wanted = {"gcs_finalize_push.json", *OUR_TOPICS.values()}
        while set(captured) != wanted:
            try:
                path, body, headers = deliveries.get(timeout=PUSH_WAIT_S)
            except queue.Empty:
                raise SystemExit(f"missing push deliveries {sorted(wanted - set(captured))}; logs in {run_dir}") from None
            topic_name = path.rsplit("/", 1)[-1]
            captured[OUR_TOPICS.get(topic_name, "gcs_finalize_push.json")] = (body, headers)
        return captured
    finally:
        if gcs is not None:
            gcs.stop()
        pubsub.stop()
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Capture one delivery and write the body and headers files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "tests" / "events")
    args = parser.parse_args(argv)
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tunewire-capture-") as run_dir:
        captured = capture(Path(run_dir))
    for name, (body, headers) in sorted(captured.items()):
        json.loads(body)  # it must be JSON; written byte for byte
        (out_dir / name).write_bytes(body)
        if name == "gcs_finalize_push.json":
            (out_dir / "gcs_finalize_push.headers.json").write_text(json.dumps(dict(headers), indent=2) + "\n")
        print(f"wrote {out_dir / name} ({len(body)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
