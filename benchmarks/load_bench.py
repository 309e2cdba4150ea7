"""Load on the local stack: a burst of uploads, then one poll tick over many active jobs.

    .venv/bin/python benchmarks/load_bench.py [--uploads 200] [--poll-jobs 500] [--repeats 5]

On a fresh stack (fake twin engine, tiny model, quota "queue" with one training slot, so every
Vertex job after the first waits queued): `--uploads` small valid datasets sent at once from 16
threads → job documents, duplicates (a second job or a second Vertex job for one upload), lost
uploads (no job, or a job that never reached VALIDATED) and upload → VALIDATED p50/p95 from the
committed history. Then `--poll-jobs` active jobs, each with a queued Vertex job on the twin, and
`poll_active_jobs` (what the poll_jobs function runs on every tick) timed directly: the first
tick (it records every job's Vertex state), then `--repeats` steady ticks. Baseline, interleaved
with the ticks: the same GetTuningJob calls one after another with no Firestore work. The stack's
tick interval and the cloud scheduler's shortest (60 s) are what one tick must fit in.
The scenario itself lives in benchmarks/load_scenario.py (shared with tests/reliability/test_load.py).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.load_scenario import (  # noqa: E402
    CLOUD_TICK_INTERVAL_S,
    LOAD_STACK,
    BurstResult,
    PollMeasure,
    measure_poll,
    run_upload_burst,
    seed_active_jobs,
)
from infra.stack import LocalStack, StackConfig  # noqa: E402
from shared.clients import Clients  # noqa: E402


def report(burst: BurstResult, poll: PollMeasure, tick_interval_s: float, load_before: float) -> dict[str, object]:
    """The JSON line: the asked-for keys first, then what explains them."""
    return {
        "uploads": burst.uploads,
        "jobs": burst.jobs,
        "duplicates": burst.duplicates,
        "lost": burst.lost,
        "validated": burst.validated,
        "validated_p50_s": round(burst.validated_p50_s, 3),
        "validated_p95_s": round(burst.validated_p95_s, 3),
        "vertex_jobs": burst.vertex_jobs,
        "unlaunched": burst.unlaunched,
        "burst_send_s": round(burst.send_s, 2),
        "burst_all_validated_s": round(burst.all_validated_s, 2),
        "poll_jobs": poll.jobs,
        "polled": poll.first.polled,
        "poll_errors": len(poll.first.errors) + sum(len(s.errors) for s in poll.steady),
        "states_recorded": poll.states_recorded,
        "poll_500_s": round(poll.poll_s, 3),
        "poll_first_s": round(poll.first_s, 3),
        "poll_runs_s": [round(s, 3) for s in poll.steady_s],
        "select_s": round(statistics.median(poll.select_s), 3),
        "baseline_s": round(poll.baseline, 3),
        "baseline_threads_s": round(statistics.median(poll.baseline_threads_s), 3),
        "ratio": round(poll.ratio, 2),
        "tick_interval_s": tick_interval_s,
        "cloud_tick_interval_s": CLOUD_TICK_INTERVAL_S,
        "fits_stack_tick": poll.poll_s < tick_interval_s and poll.first_s < tick_interval_s,
        "fits_cloud_tick": poll.poll_s < CLOUD_TICK_INTERVAL_S and poll.first_s < CLOUD_TICK_INTERVAL_S,
        "loadavg_1m_before": round(load_before, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200, help="uploads sent at once")
    parser.add_argument("--poll-jobs", type=int, default=500, help="active jobs one poll tick must look at")
    parser.add_argument("--repeats", type=int, default=5, help="steady poll ticks (and baselines) timed")
    parser.add_argument("--examples", type=int, default=12, help="examples per small dataset")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="tunewire-load-") as state_dir:
        config = StackConfig(state_dir=Path(state_dir), **LOAD_STACK)
        started = time.monotonic()
        stack = LocalStack(config).start()
        print(f"stack up in {time.monotonic() - started:.1f} s (tick {config.tick_interval_s:g} s)", flush=True)
        try:
            clients = Clients(stack.settings())
            burst = run_upload_burst(stack, clients, uploads=args.uploads, examples=args.examples)
            print(f"burst: {burst.uploads} uploads sent in {burst.send_s:.1f} s → {burst.jobs} jobs, "
                  f"{burst.duplicates} duplicates, {burst.lost} lost, {burst.validated} validated "
                  f"(all decided {burst.all_validated_s:.1f} s after the first upload); "
                  f"{burst.vertex_jobs} Vertex jobs, {burst.unlaunched} unlaunched; states {burst.states}", flush=True)
            print(f"upload → VALIDATED  p50 {burst.validated_p50_s:.2f} s  p95 {burst.validated_p95_s:.2f} s", flush=True)
            started = time.monotonic()
            seed = seed_active_jobs(stack, clients, count=args.poll_jobs)
            print(f"seeded {args.poll_jobs} active jobs with queued Vertex jobs in {time.monotonic() - started:.1f} s", flush=True)
            poll = measure_poll(clients, seed, repeats=args.repeats)
        finally:
            stack.stop()

    result = report(burst, poll, config.tick_interval_s, load_before)
    print(f"poll tick over {poll.jobs} jobs: polled {poll.first.polled}, {result['poll_errors']} errors, "
          f"{poll.states_recorded} Vertex states recorded by the first tick ({poll.states_matching} equal to the twin's)")
    if poll.first.polled < poll.jobs:
        print(f"  WARNING: {poll.jobs - poll.first.polled} active jobs were not looked at by the tick "
              "(JobStore.active_jobs reads at most 1000 per tick)")
    print(f"  first tick (writes every state)  {poll.first_s:.2f} s")
    print(f"  steady tick (median of {len(poll.steady_s)})    {poll.poll_s:.2f} s  runs {result['poll_runs_s']}")
    print(f"  of which the active-jobs query   {result['select_s']:.2f} s")
    print(f"  baseline: {poll.jobs} GETs in a row {poll.baseline:.2f} s  → ratio {poll.ratio:.2f}×"
          f"  ({result['baseline_threads_s']:.2f} s with {clients.settings.poll_concurrency} threads)")
    print(f"  one tick must fit in {config.tick_interval_s:g} s here (fits: {result['fits_stack_tick']}), "
          f"{CLOUD_TICK_INTERVAL_S:g} s at the cloud scheduler's shortest (fits: {result['fits_cloud_tick']})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
