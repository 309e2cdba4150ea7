"""Compare-and-set (shared/documents.py) against Firestore transactions, on the Firestore emulator.

    .venv/bin/python benchmarks/firestore_writes_bench.py [--lifecycles 100] [--repeat 3] [--seconds 60]

Baseline, measured in the same run: the same read-modify-writes as Firestore transactions
(`@firestore.transactional`, the client's own retries), which is how tunewire wrote them before.
Both sides run tunewire's own JobStore and shared/leases, with only `change_document` swapped
(`writing_with`), so the checks are the same and only the way of writing differs.

1. **Uncontended lifecycle**: create a job and walk it through the 6 transitions of a successful
   run (7 writes), one caller; `--lifecycles` jobs each way, interleaved `--repeat` times, fastest counts.
2. **Doubled poll ticks**: as the e2e stack with every message delivered twice: every second two
   callers at once take the poll lock (a new lock document at the start), the one that gets it
   holds it `--hold` s and gives it back; `--seconds` of this each way. Counted: ticks that ran,
   that were skipped (the other copy had the lock), that failed with an error, and the slowest
   take-and-give-back.

Prints a table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from infra.emulators import start_firestore_emulator  # noqa: E402
from shared import leases  # noqa: E402
from shared.documents import Decision, change_document  # noqa: E402
from shared.jobs.states import JobState  # noqa: E402
from shared.jobs.store import JobStore  # noqa: E402

PROJECT = "tunewire-bench"
LIFECYCLE = [JobState.VALIDATING, JobState.VALIDATED, JobState.LAUNCHING, JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED]

Writer = Callable[[Any, Callable[[dict[str, Any] | None], Decision[Any]]], Any]


def transactional_writer(client: Any) -> Writer:
    """The baseline: read and write inside a Firestore transaction (the client retries aborts 5 times)."""
    from google.cloud import firestore

    def write(ref: Any, decide: Callable[[dict[str, Any] | None], Decision[Any]]) -> Any:
        @firestore.transactional
        def body(transaction: Any) -> Any:
            snapshot = ref.get(transaction=transaction)
            result, changes = decide(snapshot.to_dict() if snapshot.exists else None)
            if changes is not None:
                if snapshot.exists:
                    transaction.update(ref, changes)
                else:
                    transaction.set(ref, changes)  # as tunewire's transactions wrote new documents
            return result

        return body(client.transaction())

    return write


def cas_writer(ref: Any, decide: Callable[[dict[str, Any] | None], Decision[Any]]) -> Any:
    return change_document(ref, decide)


@contextmanager
def writing_with(write: Writer) -> Iterator[None]:
    """tunewire's own job store and leases, their every read-modify-write made through `write`."""
    with patch("shared.jobs.store.change_document", write), patch("shared.leases.change_document", write):
        yield


def lifecycle_seconds(client: Any, write: Writer, jobs: int) -> float:
    """`jobs` job documents created and moved through LIFECYCLE with `write`, one caller."""
    store = JobStore(client, collection=f"bench-{uuid.uuid4().hex[:6]}")
    with writing_with(write):
        started = time.perf_counter()
        for _ in range(jobs):
            job_id = uuid.uuid4().hex
            store.create_if_absent(job_id, {"source": {"name": "bench"}}, reason="uploaded")
            for state in LIFECYCLE:
                if not store.transition(job_id, state, reason="bench").changed:
                    raise RuntimeError(f"transition to {state.value} refused")
        return time.perf_counter() - started


def doubled_ticks(client: Any, write: Writer, *, copies: int, interval_s: float, hold_s: float, duration_s: float) -> dict[str, Any]:
    """Poll ticks as the e2e stack delivers them twice: every `interval_s`, `copies` callers at
    once take the lock (a new document) with shared/leases, hold it `hold_s` if they got it, give it back."""
    ref = client.collection("bench-locks").document(uuid.uuid4().hex)
    counts = {"ran": 0, "skipped": 0, "failed": 0}
    slowest = [0.0]
    lock = threading.Lock()

    def tick(barrier: threading.Barrier) -> None:
        holder = uuid.uuid4().hex
        barrier.wait()
        started = time.perf_counter()
        outcome = "failed"
        try:
            if leases.acquire(ref, "poll", seconds=60, holder=holder, create=True):
                time.sleep(hold_s)
                leases.release(ref, "poll", holder=holder)
                outcome = "ran"
            else:
                outcome = "skipped"
        except Exception:  # noqa: BLE001 - counted: a failed tick is what the function would raise
            pass
        with lock:
            counts[outcome] += 1
            slowest[0] = max(slowest[0], time.perf_counter() - started - (hold_s if outcome == "ran" else 0.0))

    threads: list[threading.Thread] = []
    deadline = time.monotonic() + duration_s
    with writing_with(write):
        while time.monotonic() < deadline:
            barrier = threading.Barrier(copies)
            batch = [threading.Thread(target=tick, args=(barrier,)) for _ in range(copies)]
            for thread in batch:
                thread.start()
            threads += batch
            time.sleep(interval_s)
        for thread in threads:
            thread.join()
    return {**counts, "ticks": len(threads), "slowest_s": round(slowest[0], 2)}


def measure(args: argparse.Namespace) -> tuple[float, float, list[float], list[float], dict[str, Any]]:
    """Both sides on the running emulator: the lifecycle timings (fastest of `--repeat`, each
    run interleaved) and the doubled ticks."""
    from google.cloud import firestore

    client = firestore.Client(project=PROJECT)
    baseline_writer = transactional_writer(client)
    lifecycle_seconds(client, cas_writer, 5)  # warm the channel and the emulator
    cas_runs, baseline_runs = [], []
    for _ in range(args.repeat):
        baseline_runs.append(lifecycle_seconds(client, baseline_writer, args.lifecycles))
        cas_runs.append(lifecycle_seconds(client, cas_writer, args.lifecycles))
    races = {
        who: doubled_ticks(client, writer, copies=2, interval_s=1.0, hold_s=args.hold, duration_s=args.seconds)
        for who, writer in (("transaction", baseline_writer), ("cas", cas_writer))
    }
    return min(baseline_runs), min(cas_runs), baseline_runs, cas_runs, races


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=100, help="jobs per lifecycle timing")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each side gets doubled ticks")
    parser.add_argument("--hold", type=float, default=0.5, help="how long a tick that got the lock holds it")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved lifecycle timings; the fastest counts")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tunewire-bench-") as run_dir:
        emulator = start_firestore_emulator(Path(run_dir), PROJECT)
        os.environ.update(emulator.env)
        try:
            baseline_s, cas_s, baseline_runs, cas_runs, races = measure(args)
        finally:
            emulator.stop()
    writes = args.lifecycles * (1 + len(LIFECYCLE))

    print(f"uncontended: {args.lifecycles} jobs x {1 + len(LIFECYCLE)} writes, fastest of {args.repeat}")
    print(f"  transactions (baseline)  {baseline_s:6.2f} s  {1000 * baseline_s / writes:5.2f} ms a write")
    print(f"  compare-and-set          {cas_s:6.2f} s  {1000 * cas_s / writes:5.2f} ms a write  -> {cas_s / baseline_s:.2f}x the baseline")
    print(f"doubled poll ticks: 2 callers every 1 s for {args.seconds:.0f} s, each holding the lock {args.hold} s if it got it")
    for name, row in races.items():
        print(f"  {name:12} {row['ticks']} ticks: {row['ran']} ran, {row['skipped']} skipped, {row['failed']} failed; "
              f"slowest take+give back {row['slowest_s']} s")
    print(json.dumps({
        "lifecycles": args.lifecycles, "writes": writes, "transaction_s": round(baseline_s, 3), "cas_s": round(cas_s, 3),
        "ratio": round(cas_s / baseline_s, 2), "transaction_runs_s": [round(s, 3) for s in baseline_runs],
        "cas_runs_s": [round(s, 3) for s in cas_runs], "doubled_ticks": races, "loadavg_1m_before": round(load_before, 2),
    }))


if __name__ == "__main__":
    main()
