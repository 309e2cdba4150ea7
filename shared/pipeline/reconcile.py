"""Reconciliation, on every scheduler tick: Firestore is the truth; messages only say "look now".

A message can be lost between a commit and its publish (the function dies there), or inside
Pub/Sub's local emulator (a restart drops what it held). Each loss leaves a trace in Firestore that
this pass looks for and re-drives, with the same idempotent message the pipeline would have sent:

* an event in a job's `outbox` that notify has not received after `reconcile_after_s`
  → `job-events` again;
* a VALIDATED job untouched for `reconcile_after_s` → `tuning-requests` again;
* a RECEIVED or VALIDATING job untouched for `validation_stale_s` → its storage notification
  again (the validate handler ends it INVALID once `max_validation_attempts` deliveries started
  and none finished);
* a job PENDING for longer than `pending_alert_s` → reported once: a `stuck` record on the job
  and a WARNING log line (an alerting policy can match it).

Each re-drive is recorded on the job (`redriven.<what>`, and `updated_at`), so the same job is
re-driven at most once per grace period however many ticks run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from shared.config import Settings
from shared.jobs.states import JobState
from shared.jobs.store import JobStore, utc_now

REDRIVEN_ATTRIBUTE = "tunewire-redriven"
"""Set on every message this pass publishes, so logs and dead letters show where it came from."""


@dataclass
class ReconcileSummary:
    events_republished: list[tuple[str, str]] = field(default_factory=list)
    launches_requested: list[str] = field(default_factory=list)
    uploads_redriven: list[str] = field(default_factory=list)
    stuck_reported: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return bool(self.events_republished or self.launches_requested or self.uploads_redriven or self.stuck_reported)


def reconcile(*, store: JobStore, bus: Any, settings: Settings, storage_client: Any = None,
              now: datetime | None = None) -> ReconcileSummary:
    """One pass; each job's failure is recorded in `errors` and never stops the others."""
    now = now or utc_now()
    summary = ReconcileSummary()
    after = timedelta(seconds=settings.reconcile_after_s)
    for job in store.jobs_with_unsent_events():
        _guard(summary, job, lambda job=job: _republish_events(job, now, now - after, store, bus, summary))
    for job in store.jobs_untouched_since([JobState.VALIDATED], now - after):
        _guard(summary, job, lambda job=job: _request_launch(job, now, store, bus, summary))
    stale_validation = now - timedelta(seconds=settings.validation_stale_s)
    for job in store.jobs_untouched_since([JobState.RECEIVED, JobState.VALIDATING], stale_validation):
        _guard(summary, job, lambda job=job: _redrive_upload(job, now, settings, store, bus, storage_client, summary))
    pending_limit = timedelta(seconds=settings.pending_alert_s)
    for job in store.jobs_in_state(JobState.PENDING, limit=500):
        _guard(summary, job, lambda job=job: _report_stuck(job, now, pending_limit, store, summary))
    return summary


def _guard(summary: ReconcileSummary, job: dict[str, Any], action: Any) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - one job must not stop the pass; reported in the tick's log
        summary.errors.append((str(job.get("id")), f"{type(exc).__name__}: {exc}"[:300]))


def entered_at(job: dict[str, Any], state: str) -> datetime | None:
    """When the job last entered `state`, from its history."""
    for entry in reversed(job.get("history") or []):
        if entry.get("state") == state:
            return entry.get("at")
    return None


def _republish_events(job: dict[str, Any], now: datetime, cutoff: datetime, store: JobStore, bus: Any,
                      summary: ReconcileSummary) -> None:
    last = (job.get("redriven") or {}).get("events")
    if last is not None and last > cutoff:
        return  # published again recently: give notify the same grace as the first time
    published = False
    pending = [(entered_at(job, state), state) for state in job.get("outbox") or []]
    for at, state in sorted(pending, key=lambda item: (item[0] is None, item[0] or cutoff)):
        if at is not None and at > cutoff:
            continue  # notify may still be on it
        reason = next((e.get("reason", "") for e in reversed(job.get("history") or []) if e.get("state") == state), "")
        bus.job_state_changed(job["id"], state, reason)
        summary.events_republished.append((job["id"], state))
        published = True
    if published:
        store.update(job["id"], {"redriven.events": now})


def _request_launch(job: dict[str, Any], now: datetime, store: JobStore, bus: Any, summary: ReconcileSummary) -> None:
    bus.request_tuning(job["id"])
    store.update(job["id"], {"redriven.launch": now})  # also restarts its grace (updated_at)
    summary.launches_requested.append(job["id"])


def _redrive_upload(job: dict[str, Any], now: datetime, settings: Settings, store: JobStore, bus: Any, storage_client: Any,
                    summary: ReconcileSummary) -> None:
    source = job.get("source") or {}
    if not source.get("bucket") or not source.get("name"):
        return
    resource: dict[str, Any] = {"bucket": source["bucket"], "name": source["name"], "generation": str(source.get("generation", ""))}
    if storage_client is not None:  # the object's metadata carries the upload's settings
        blob = storage_client.bucket(source["bucket"]).get_blob(source["name"], generation=int(source["generation"]))
        if blob is not None:
            resource = {**blob._properties, **resource}
    attributes = {
        "bucketId": source["bucket"],
        "objectId": source["name"],
        "objectGeneration": str(source.get("generation", "")),
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
        REDRIVEN_ATTRIBUTE: "reconcile",
    }
    bus.publish_raw(settings.topic_dataset_uploads, orjson.dumps(resource), attributes)
    store.update(job["id"], {"redriven.upload": now})
    summary.uploads_redriven.append(job["id"])


def _report_stuck(job: dict[str, Any], now: datetime, limit: timedelta, store: JobStore, summary: ReconcileSummary) -> None:
    since = entered_at(job, JobState.PENDING.value)
    if since is None or now - since <= limit or (job.get("stuck") or {}).get("since") == since:
        return
    reason = (f"PENDING on Vertex AI for {_duration(now - since)} (limit {_duration(limit)}): "
              "quota or capacity is holding it; it stays active and is polled on")
    store.update(job["id"], {"stuck": {"state": JobState.PENDING.value, "since": since, "reported_at": now, "reason": reason}})
    summary.stuck_reported.append(job["id"])


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
