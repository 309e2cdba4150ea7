"""Cancelling a job in any non-terminal state.

Before launch the job simply ends CANCELLED. Once a Vertex job may exist, tunewire asks Vertex to
cancel and moves to CANCELLING; the poller confirms CANCELLED (or whatever Vertex ends in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.jobs.states import JobState, is_terminal
from shared.jobs.store import JobStore

BEFORE_LAUNCH = (JobState.RECEIVED, JobState.VALIDATING, JobState.VALIDATED)


@dataclass(frozen=True)
class CancelOutcome:
    action: str  # cancelled | cancelling | already_terminal | not_found
    job_id: str
    state: str | None
    reason: str


def cancel_job(job_id: str, *, store: JobStore, bus: Any, vertex: Any, requested_by: str = "user") -> CancelOutcome:
    job = store.get(job_id)
    if job is None:
        return CancelOutcome("not_found", job_id, None, "no such job")
    state = JobState(job["state"])
    if is_terminal(state) or state is JobState.CANCELLING:
        return CancelOutcome("already_terminal" if is_terminal(state) else "cancelling", job_id, state.value, f"job is {state.value}")
    if state in BEFORE_LAUNCH:
        reason = f"cancelled by {requested_by} before launch"
        result = store.transition(job_id, JobState.CANCELLED, reason=reason, only_from=[state])
        if result.changed:
            bus.job_state_changed(job_id, JobState.CANCELLED.value, reason)
            return CancelOutcome("cancelled", job_id, JobState.CANCELLED.value, reason)
        return cancel_job(job_id, store=store, bus=bus, vertex=vertex, requested_by=requested_by)  # it moved: retry once more

    name = (job.get("vertex") or {}).get("job_name")
    if name is None:
        found = vertex.find_by_label(job_id)
        name = found.name if found else None
    if name is not None:
        vertex.cancel(name)
    reason = f"cancel requested by {requested_by}" + (f"; Vertex AI job {name} cancelling" if name else "; no Vertex job yet")
    updates = {"vertex": {**(job.get("vertex") or {}), "job_name": name}} if name else {}
    result = store.transition(job_id, JobState.CANCELLING, reason=reason, updates=updates, only_from=[state])
    if not result.changed:
        return cancel_job(job_id, store=store, bus=bus, vertex=vertex, requested_by=requested_by)
    return CancelOutcome("cancelling", job_id, JobState.CANCELLING.value, reason)
