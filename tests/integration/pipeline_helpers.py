"""Shared pieces for pipeline-step integration tests: a recording bus, jobs walked to VALIDATED,
a Vertex client pointed at a twin."""

from __future__ import annotations

import time
import uuid

from shared.config import Settings
from shared.jobs.states import JobState
from shared.jobs.store import JobStore
from shared.pipeline.poll_jobs import poll_active_jobs
from shared.vertex import VertexTuning

PROJECT = "tunewire-test"


class RecordingBus:
    """Stands in for EventBus: records what would be published."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.tuning_requests: list[str] = []

    def job_state_changed(self, job_id: str, state: str, reason: str) -> str:
        self.events.append((job_id, state))
        return "1"

    def request_tuning(self, job_id: str) -> str:
        self.tuning_requests.append(job_id)
        return "1"


def validated_job(store: JobStore, training_uri: str, **settings) -> str:
    """A job walked RECEIVED → VALIDATING → VALIDATED with launch settings."""
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    store.create_if_absent(job_id, {"source": {"name": "train.jsonl"}}, reason="uploaded")
    for state in (JobState.VALIDATING, JobState.VALIDATED):
        store.transition(job_id, state, reason="walk", updates={
            "training_uri": training_uri,
            "settings": {"base_model": "gemini-2.5-flash", "epochs": 1, "adapter_size": 4, "tuning_mode": "adapter", **settings},
        })
    return job_id


def vertex_for(server) -> VertexTuning:
    return VertexTuning(Settings(project=PROJECT, region="us-central1", vertex_endpoint=server.url))


def poll_until(state: JobState, job_id: str, *, store, bus, vertex, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        poll_active_jobs(store=store, bus=bus, vertex=vertex)
        job = store.get(job_id)
        if job["state"] == state.value:
            return job
        time.sleep(0.3)
    raise AssertionError(f"{job_id} never reached {state.value}: {store.get(job_id)['state']}")
