"""Faults on a running local stack: arming crash points, waiting for the crash, bringing the
component back as the platform would (Cloud Functions starts a new instance), and counting what
the pipeline did afterwards."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared import faults
from tests.e2e.stack_helpers import Receiver, StackDriver

TEST_FUNCTION_ENV = {
    "TUNEWIRE_RECONCILE_AFTER_S": "8",  # re-drive lost messages after 8 s, not 2 min
    "TUNEWIRE_VERTEX_TIMEOUT_S": "3",  # so a launch lease left by a dead launcher lasts 36 s
}


def registered_receiver(driver: StackDriver, prefix: str) -> Iterator[Receiver]:
    """A verifying receiver registered for uploads under `prefix`; removed afterwards."""
    server = Receiver()
    endpoint, _ = driver.clients.endpoints.add(server.url, prefix=prefix, secret=server.secret)
    yield server
    driver.clients.endpoints.remove(endpoint.id)
    server.close()


def crash_points_file(driver: StackDriver) -> Path:
    return Path(driver.stack.config.function_env[faults.FILE_ENV])


def function_env(folder: Path, **extra: str) -> dict[str, str]:
    """Function settings for a fault-injection stack whose crash points file is in `folder`."""
    return {**TEST_FUNCTION_ENV, faults.FILE_ENV: str(folder / "crash-points.json"), **extra}


def wait_for_crash(driver: StackDriver, component: str, point: str, timeout_s: float = 120.0) -> None:
    """Wait until a function's worker died at `point` (its supervisor logged the exit code).

    functions-framework serves through gunicorn, whose master starts a new worker when one dies:
    the same thing Cloud Functions does with a crashed instance, so nothing needs restarting."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = driver.log(component)
        if f'"crash_point":"{point}"' in text and f"exited with code {faults.CRASH_EXIT_CODE}" in text:
            return
        time.sleep(0.2)
    raise AssertionError(f"{component} did not crash at {point} within {timeout_s} s")


def log_entries(driver: StackDriver, component: str) -> list[dict[str, Any]]:
    """The JSON log lines a component wrote (functions log one JSON object per line)."""
    entries = []
    for line in driver.log(component).splitlines():
        if line.startswith("{"):
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
    return entries


def webhook_ids_by_event(receiver: Receiver, job_id: str) -> dict[str, set[str]]:
    """event type -> the webhook-ids it arrived under, for one job."""
    ids: dict[str, set[str]] = {}
    for event, headers in zip(receiver.events, receiver.headers):
        if event["data"]["job_id"] == job_id:
            lowered = {key.lower(): value for key, value in headers.items()}
            ids.setdefault(event["type"], set()).add(lowered.get("webhook-id", ""))
    return ids


def posts_per_event(receiver: Receiver, job_id: str) -> Counter:
    return Counter(event["type"] for event in receiver.events if event["data"]["job_id"] == job_id)


def delivery_records(driver: StackDriver, job_id: str) -> list[dict[str, Any]]:
    collection = driver.clients.settings.deliveries_collection
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = driver.clients.firestore.collection(collection).where(filter=FieldFilter("job_id", "==", job_id))
    return [snapshot.to_dict() for snapshot in query.stream()]


def transitions(job: dict[str, Any]) -> list[str]:
    return [entry["state"] for entry in job["history"]]
