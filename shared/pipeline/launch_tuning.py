"""Launching a validated job on Vertex AI: at most one Vertex job per tunewire job.

LAUNCHING is committed first; the create carries `labels.tunewire-job=<id>`; a redelivered or
retried launch first looks for a Vertex job with that label. A quota refusal leaves the job in
LAUNCHING marked `launch.waiting_for_quota`; the poller re-requests the launch on later ticks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared.jobs.states import JobState
from shared.faults import crash_point
from shared.jobs.store import JobStore, utc_now
from shared.vertex import PermanentVertexError, QuotaExhausted, VertexJob

# Vertex state -> the tunewire state a freshly created or found job moves to
LAUNCH_LEASE = "launch"

LAUNCHED_STATE = {
    "JOB_STATE_QUEUED": JobState.PENDING,
    "JOB_STATE_PENDING": JobState.PENDING,
    "JOB_STATE_RUNNING": JobState.RUNNING,
    "JOB_STATE_UPDATING": JobState.RUNNING,
    "JOB_STATE_PAUSED": JobState.PENDING,
}


@dataclass(frozen=True)
class LaunchOutcome:
    action: str  # launched | found_existing | waiting_for_quota | failed | already_done | unknown_job | cancelled_after_create
    job_id: str
    reason: str
    state: JobState | None = None


def vertex_summary(vertex_job: VertexJob) -> dict[str, Any]:
    return {"job_name": vertex_job.name, "state": vertex_job.state}


def handle_tuning_request(job_id: str, *, store: JobStore, bus: Any, vertex: Any, lease_s: float = 90.0) -> LaunchOutcome:
    """`lease_s` (Settings.lease_s) outlasts one launch; a launcher that dies holding it
    blocks others only that long, then the poller requests the launch again."""
    document = store.get(job_id)
    if document is None:
        return LaunchOutcome("unknown_job", job_id, "no such job; message acknowledged")
    state = JobState(document["state"])
    if state is JobState.VALIDATED:
        moved = store.transition(job_id, JobState.LAUNCHING, reason="launching on Vertex AI", only_from=[JobState.VALIDATED])
        if not moved.changed:
            return LaunchOutcome("already_done", job_id, moved.refused or "moved elsewhere")
        document = moved.document or document
    elif state is not JobState.LAUNCHING:
        return LaunchOutcome("already_done", job_id, f"job is {state.value}")

    holder = uuid.uuid4().hex
    if not store.acquire_lease(job_id, LAUNCH_LEASE, seconds=lease_s, holder=holder):
        return LaunchOutcome("already_done", job_id, "another launch of this job is in progress")
    try:
        return _launch(job_id, document, store=store, bus=bus, vertex=vertex)
    finally:
        store.release_lease(job_id, LAUNCH_LEASE, holder=holder)


def _launch(job_id: str, document: dict[str, Any], *, store: JobStore, bus: Any, vertex: Any) -> LaunchOutcome:
    existing = vertex.find_by_label(job_id)
    if existing is not None:
        return _record_launch(job_id, document, existing, store, bus, vertex, found=True)
    try:
        created = vertex.create(job_id=job_id, job_settings=document.get("settings") or {}, training_uri=document["training_uri"])
    except QuotaExhausted as exc:
        launch = dict(document.get("launch") or {})
        launch.update(waiting_for_quota=True, quota_refusals=int(launch.get("quota_refusals", 0)) + 1,
                      last_quota_error=str(exc)[:500], last_attempt_at=utc_now())
        store.update(job_id, {"launch": launch})
        return LaunchOutcome("waiting_for_quota", job_id, f"Vertex AI quota exhausted; the job waits: {exc}")
    except PermanentVertexError as exc:
        reason = f"Vertex AI refused the tuning job: {exc}"
        result = store.transition(job_id, JobState.FAILED, reason=reason, updates={"error": {"message": str(exc)[:2000]}},
                                  only_from=[JobState.LAUNCHING])
        if result.changed:
            bus.job_state_changed(job_id, JobState.FAILED.value, reason)
        return LaunchOutcome("failed", job_id, reason, JobState.FAILED)
    crash_point("launch.after_vertex_create")
    return _record_launch(job_id, document, created, store, bus, vertex, found=False)


def _record_launch(
    job_id: str, document: dict[str, Any], vertex_job: VertexJob, store: JobStore, bus: Any, vertex: Any, *, found: bool
) -> LaunchOutcome:
    wanted = LAUNCHED_STATE.get(vertex_job.state, JobState.PENDING)
    verb = "found existing" if found else "created"
    reason = f"{verb} Vertex AI tuning job {vertex_job.name} ({vertex_job.state})"
    result = store.transition(
        job_id,
        wanted,
        reason=reason,
        updates={
            "vertex": vertex_summary(vertex_job),
            "launch": {**(document.get("launch") or {}), "waiting_for_quota": False, "launched_at": utc_now()},
        },
        only_from=[JobState.LAUNCHING],
    )
    if result.changed:
        bus.job_state_changed(job_id, wanted.value, reason)
    elif result.before is JobState.CANCELLING:  # cancelled while we were creating: cancel what we made
        store.update(job_id, {"vertex": vertex_summary(vertex_job)})
        vertex.cancel(vertex_job.name)
        return LaunchOutcome("cancelled_after_create", job_id, f"job was cancelled during launch; {vertex_job.name} cancelled")
    return LaunchOutcome("found_existing" if found else "launched", job_id, reason, wanted)
