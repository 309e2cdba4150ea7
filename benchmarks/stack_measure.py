"""Measuring the local stack from outside: small datasets, timed uploads, history timestamps.

Shared by the stack benchmarks (pipeline_bench, load_bench) and the load test, so a latency means
the same thing wherever it is printed: the committed `history` timestamp of a state minus the
moment the upload call returned (the same clock: everything runs on one machine).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from shared.clients import Clients
from shared.jobs.identity import job_id_for_upload

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sentiment" / "train.jsonl"


def small_dataset(examples: int) -> bytes:
    """The first `examples` lines of the bundled sentiment dataset: small, valid, quick to check."""
    return ("\n".join(EXAMPLE.read_text().splitlines()[:examples]) + "\n").encode()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation), so a p95 is a latency that really happened."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def upload(clients: Clients, bucket: str, name: str, body: bytes, metadata: dict[str, str] | None = None) -> tuple[str, float]:
    """Upload one object; returns the job id the pipeline derives for it and when the upload returned."""
    blob = clients.storage.bucket(bucket).blob(name)
    blob.metadata = {"tunewire-epochs": "1"} if metadata is None else metadata
    blob.upload_from_string(body)
    return job_id_for_upload(bucket, name, blob.generation), time.time()


def at(job: dict[str, Any], state: str) -> float | None:
    """When the job's committed history first entered `state` (epoch seconds), or None."""
    for entry in job.get("history", []):
        if entry["state"] == state:
            return entry["at"].timestamp()
    return None
