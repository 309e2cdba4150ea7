"""Pipeline latency on the local stack (tiny model), against the raw hop, in one run.

    .venv/bin/python benchmarks/pipeline_bench.py [--n 50] [--burst 100]

Baseline ("raw hop"): upload → a trivial function (benchmarks/hop_function.py) through the same
fake-gcs → Pub/Sub → push → functions-framework path, subscribed to the same topic, so every
upload is measured by both at once. Measured: upload → VALIDATED and upload → RUNNING (from the
job's committed history timestamps, so polling adds nothing), for N small datasets uploaded one
after another (each trained to the end before the next, so RUNNING is not a queue wait); then a
burst of uploads at once → exactly that many jobs, all validated. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.stack_measure import at, percentile, small_dataset, upload  # noqa: E402
from infra.processes import ManagedProcess, free_loopback_port  # noqa: E402
from infra.stack import LocalStack, StackConfig  # noqa: E402
from shared.clients import Clients  # noqa: E402


def start_hop(stack: LocalStack, log: Path) -> ManagedProcess:
    from google.cloud import pubsub_v1

    port = free_loopback_port()
    process = ManagedProcess(
        name="hop-function",
        argv=[sys.executable, "-m", "functions_framework", "--target", "record_hop", "--source", str(REPO / "benchmarks" / "hop_function.py"),
              "--signature-type", "cloudevent", "--host", "127.0.0.1", "--port", str(port)],
        log_path=stack.run_dir / "hop-function.log",
        env={"HOP_LOG": str(log)},
    )
    process.start()
    from infra.stack import _answers

    process.wait_healthy(lambda: _answers(f"http://127.0.0.1:{port}"), 60)
    subscriber = pubsub_v1.SubscriberClient()
    project, topic = stack.config.project, stack.settings().topic_dataset_uploads
    subscriber.create_subscription(request={
        "name": subscriber.subscription_path(project, "bench-hop"),
        "topic": f"projects/{project}/topics/{topic}",
        "push_config": {"push_endpoint": f"http://127.0.0.1:{port}/projects/{project}/topics/{topic}"},
        "ack_deadline_seconds": 60,
    })
    return process


def wait_for(clients: Clients, job_id: str, states: set[str], timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = clients.jobs.get(job_id)
        if job and job["state"] in states:
            return job
        time.sleep(0.2)
    raise SystemExit(f"{job_id} did not reach {states} within {timeout_s} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="sequential uploads measured")
    parser.add_argument("--burst", type=int, default=100, help="uploads sent at once")
    parser.add_argument("--examples", type=int, default=32, help="examples per small dataset")
    args = parser.parse_args()
    body = small_dataset(args.examples)

    with tempfile.TemporaryDirectory(prefix="tunewire-bench-") as state_dir:
        stack = LocalStack(StackConfig(state_dir=Path(state_dir), tick_interval_s=1.0, max_concurrent_jobs=1)).start()
        hop_log = Path(state_dir) / "hop.jsonl"
        hop = start_hop(stack, hop_log)
        try:
            clients = Clients(stack.settings())
            bucket = stack.config.datasets_bucket
            uploads: dict[str, tuple[str, float]] = {}
            validated, running = [], []
            for i in range(args.n):
                name = f"bench/seq/{i:04d}/train.jsonl"
                job_id, uploaded = upload(clients, bucket, name, body)
                uploads[name] = (job_id, uploaded)
                job = wait_for(clients, job_id, {"SUCCEEDED", "FAILED", "INVALID", "CANCELLED"})
                validated.append(at(job, "VALIDATED") - uploaded)
                running_at = at(job, "RUNNING")  # None when training ended between two poll ticks
                if running_at is not None:
                    running.append(running_at - uploaded)
                shown = f"{running[-1]:.2f} s" if running_at is not None else "not seen (ended between ticks)"
                print(f"  {i + 1:>3}/{args.n}  validated {validated[-1]:.2f} s  running {shown}", flush=True)
            time.sleep(1)
            received = {json.loads(line)["name"]: json.loads(line)["received"] for line in hop_log.read_text().splitlines()}
            hops = [received[name] - uploaded for name, (_, uploaded) in uploads.items() if name in received]

            burst_names = [f"bench/burst/{i:04d}/train.jsonl" for i in range(args.burst)]
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=16) as pool:
                burst_ids = list(pool.map(lambda n: upload(clients, bucket, n, body)[0], burst_names))
            for job_id in burst_ids:
                wait_for(clients, job_id, {"VALIDATED", "LAUNCHING", "PENDING", "RUNNING", "SUCCEEDED"}, timeout_s=600)
            burst_s = time.monotonic() - started
            from google.cloud.firestore_v1.base_query import FieldFilter

            jobs = clients.firestore.collection("jobs")
            burst_docs = list(jobs.where(filter=FieldFilter("source.name", ">=", "bench/burst/"))
                              .where(filter=FieldFilter("source.name", "<", "bench/burst/\uf8ff")).stream())
            burst_jobs = len(burst_docs)
            duplicates = burst_jobs - len({d.to_dict()["source"]["name"] for d in burst_docs})
        finally:
            hop.stop()
            stack.stop()

    result = {
        "n": args.n,
        "validated_p50_s": round(statistics.median(validated), 3),
        "validated_p95_s": round(percentile(validated, 95), 3),
        "running_seen": len(running),
        "running_p50_s": round(statistics.median(running), 3),
        "running_p95_s": round(percentile(running, 95), 3),
        "hop_p50_s": round(statistics.median(hops), 3),
        "hop_p95_s": round(percentile(hops, 95), 3),
        "overhead_ratio": round(statistics.median(validated) / statistics.median(hops), 2),
        "burst_uploads": args.burst,
        "burst_jobs": burst_jobs,
        "burst_duplicates": duplicates,
        "burst_all_validated_s": round(burst_s, 2),
    }
    print(f"upload → VALIDATED  p50 {result['validated_p50_s']:.2f} s  p95 {result['validated_p95_s']:.2f} s")
    print(f"upload → RUNNING    p50 {result['running_p50_s']:.2f} s  p95 {result['running_p95_s']:.2f} s")
    print(f"raw hop (baseline)  p50 {result['hop_p50_s']:.3f} s  p95 {result['hop_p95_s']:.3f} s  → validated/hop {result['overhead_ratio']}×")
    print(f"burst: {args.burst} uploads → {burst_jobs} jobs ({duplicates} duplicates), all validated in {burst_s:.1f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
