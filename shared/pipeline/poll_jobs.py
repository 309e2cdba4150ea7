"""One scheduler tick: look at every job that may have a Vertex job and record what changed.

Vertex's own state is kept beside ours (`vertex.state`), never instead of ours. Each change of our
state is a committed transition followed by a job-event; changes of Vertex detail alone (sub
state, checkpoints, stats) are plain updates. Jobs waiting for quota get their launch requested
again.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.faults import crash_point
from shared.jobs.states import JobState
from shared.jobs.store import JobStore, last_entry, utc_now
from shared.vertex import PermanentVertexError, VertexJob

log = logging.getLogger("tunewire.poll")

# Vertex JobState name -> our state
VERTEX_TO_JOB_STATE: dict[str, JobState] = {
    "JOB_STATE_QUEUED": JobState.PENDING,
    "JOB_STATE_PENDING": JobState.PENDING,
    "JOB_STATE_PAUSED": JobState.PENDING,
    "JOB_STATE_RUNNING": JobState.RUNNING,
    "JOB_STATE_UPDATING": JobState.RUNNING,
    "JOB_STATE_CANCELLING": JobState.CANCELLING,
    "JOB_STATE_SUCCEEDED": JobState.SUCCEEDED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": JobState.SUCCEEDED,
    "JOB_STATE_FAILED": JobState.FAILED,
    "JOB_STATE_EXPIRED": JobState.FAILED,
    "JOB_STATE_CANCELLED": JobState.CANCELLED,
}

STALE_LAUNCH = timedelta(minutes=2)
"""A LAUNCHING job with no launch lease, untouched this long, gets its launch requested again
(its tuning request was lost); one whose launcher died holding the lease is retried as soon as
the lease runs out."""


@dataclass
class PollSummary:
    polled: int = 0
    transitions: list[tuple[str, str]] = field(default_factory=list)
    relaunched: list[str] = field(default_factory=list)
    stuck_reported: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def poll_active_jobs(*, store: JobStore, bus: Any, vertex: Any, concurrency: int = 8,
                     pending_alert: timedelta | None = None) -> PollSummary:
    """`pending_alert`: a job still PENDING after this long is reported stuck (once)."""
    summary = PollSummary()
    now = utc_now()
    polled_jobs: list[dict[str, Any]] = []
    for job in store.active_jobs():
        state = JobState(job["state"])
        has_vertex_job = bool((job.get("vertex") or {}).get("job_name"))
        if state is JobState.LAUNCHING and not has_vertex_job:
            if _should_relaunch(job):
                bus.request_tuning(job["id"])
                summary.relaunched.append(job["id"])
        elif state is JobState.CANCELLING and not has_vertex_job:
            _settle_cancel_before_vertex(job, store=store, bus=bus, vertex=vertex, summary=summary)
        elif has_vertex_job:
            polled_jobs.append(job)

    def fetch(job: dict[str, Any]) -> tuple[dict[str, Any], VertexJob | Exception]:
        try:
            return job, vertex.get(job["vertex"]["job_name"])
        except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the tick
            return job, exc

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="poll") as pool:
        for job, result in pool.map(fetch, polled_jobs):
            summary.polled += 1
            if isinstance(result, Exception):
                summary.errors.append((job["id"], f"{type(result).__name__}: {result}"[:300]))
                if isinstance(result, PermanentVertexError):
                    _fail_lost_job(job, str(result), store, bus, summary)
                continue
            try:
                changed = record_vertex_job(job, result, store=store, bus=bus)
            except Exception as exc:  # noqa: BLE001 - one job's commit failing must not stop the tick
                summary.errors.append((job["id"], f"{type(exc).__name__}: {exc}"[:300]))
                continue
            if changed is not None:
                summary.transitions.append((job["id"], changed.value))
            elif pending_alert is not None and report_if_stuck(job, now=now, limit=pending_alert, store=store):
                summary.stuck_reported.append(job["id"])
    return summary


def report_if_stuck(job: dict[str, Any], *, now: datetime, limit: timedelta, store: JobStore) -> bool:
    """Record `stuck` on a job PENDING longer than `limit`, once per stay in PENDING."""
    entry = last_entry(job, JobState.PENDING.value) if job.get("state") == JobState.PENDING.value else None
    since = (entry or {}).get("at")
    if since is None or now - since <= limit or (job.get("stuck") or {}).get("since") == since:
        return False
    reason = (f"PENDING on Vertex AI for {_duration(now - since)} (limit {_duration(limit)}): "
              "quota or capacity is holding it; it stays active and is polled on")
    store.update(job["id"], {"stuck": {"state": JobState.PENDING.value, "since": since, "reported_at": now, "reason": reason}})
    return True


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _should_relaunch(job: dict[str, Any]) -> bool:
    launch = job.get("launch") or {}
    if launch.get("waiting_for_quota"):
        return True
    lease = (job.get("leases") or {}).get("launch") or {}
    if lease.get("until"):
        return lease["until"] <= utc_now()  # the launcher died holding it
    updated = job.get("updated_at")
    return updated is not None and utc_now() - updated > STALE_LAUNCH


def record_vertex_job(job: dict[str, Any], vertex_job: VertexJob, *, store: JobStore, bus: Any) -> JobState | None:
    """Commit what Vertex says about one job; returns our new state when it changed."""
    updates = _vertex_fields(vertex_job)
    current = JobState(job["state"])
    wanted = VERTEX_TO_JOB_STATE.get(vertex_job.state, current)
    if current is JobState.CANCELLING and wanted in (JobState.PENDING, JobState.RUNNING):
        wanted = current  # our cancel is in flight; Vertex has not caught up yet
    if wanted is not current:
        if wanted is JobState.FAILED:
            updates["error"] = {"code": vertex_job.error_code, "message": (vertex_job.error_message or "")[:2000]}
        reason = _reason(vertex_job, wanted)
        result = store.transition(job["id"], wanted, reason=reason, updates=updates, only_from=[current])
        if result.changed:
            crash_point("poll.after_transition_commit")
            bus.job_state_changed(job["id"], wanted.value, reason)
            return wanted
        return None
    if _differs(job, updates):
        store.update(job["id"], updates)
    return None


def _vertex_fields(vertex_job: VertexJob) -> dict[str, Any]:
    fields: dict[str, Any] = {"vertex": {"job_name": vertex_job.name, "state": vertex_job.state}}
    if vertex_job.tuned_model or vertex_job.endpoint or vertex_job.checkpoints:
        fields["tuned_model"] = {
            "model": vertex_job.tuned_model,
            "endpoint": vertex_job.endpoint,
            "checkpoints": [dict(checkpoint) for checkpoint in vertex_job.checkpoints],
        }
    if vertex_job.data_stats:
        fields["data_stats"] = vertex_job.data_stats
    return fields


def _differs(job: dict[str, Any], updates: dict[str, Any]) -> bool:
    return any(job.get(key) != value for key, value in updates.items())


def _reason(vertex_job: VertexJob, state: JobState) -> str:
    if state is JobState.FAILED:
        return f"Vertex AI job failed: {vertex_job.error_message or vertex_job.state}"[:1000]
    if state is JobState.SUCCEEDED:
        return f"tuned model {vertex_job.tuned_model} ready at {vertex_job.endpoint}"
    return f"Vertex AI job is {vertex_job.state}"


def _fail_lost_job(job: dict[str, Any], message: str, store: JobStore, bus: Any, summary: PollSummary) -> None:
    """The Vertex job cannot be read for good (e.g. 404): the job fails with that reason."""
    reason = f"the Vertex AI job can no longer be read: {message}"[:1000]
    result = store.transition(job["id"], JobState.FAILED, reason=reason, updates={"error": {"message": message[:2000]}},
                              only_from=[JobState(job["state"])])
    if result.changed:
        bus.job_state_changed(job["id"], JobState.FAILED.value, reason)
        summary.transitions.append((job["id"], JobState.FAILED.value))


def _settle_cancel_before_vertex(job: dict[str, Any], *, store: JobStore, bus: Any, vertex: Any, summary: PollSummary) -> None:
    """A job cancelled while launching: cancel the Vertex job if the launch made one, else end it."""
    found = vertex.find_by_label(job["id"])
    if found is not None:
        store.update(job["id"], {"vertex": {"job_name": found.name, "state": found.state}})
        if not found.ended:
            vertex.cancel(found.name)
        return
    lease = (job.get("leases") or {}).get("launch") or {}
    if lease.get("until") and lease["until"] > utc_now():
        return  # a launch is still in flight; look again next tick
    reason = "cancelled before a Vertex AI job was created"
    result = store.transition(job["id"], JobState.CANCELLED, reason=reason, only_from=[JobState.CANCELLING])
    if result.changed:
        bus.job_state_changed(job["id"], JobState.CANCELLED.value, reason)
        summary.transitions.append((job["id"], JobState.CANCELLED.value))
