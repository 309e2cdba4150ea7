"""Reconciliation, on every scheduler tick: Firestore is the truth; messages only say "look now".

A message can be lost between a commit and its publish (the function dies there), or inside
Pub/Sub's local emulator (a restart drops what it held). Each loss leaves a trace in Firestore that
this pass looks for and re-drives, with the same idempotent message the pipeline would have sent:

* an event in a job's `outbox` that notify has not received after `reconcile_after_s`
  → `job-events` again;
* a VALIDATED job untouched for `reconcile_after_s` → `tuning-requests` again;
* a RECEIVED or VALIDATING job untouched for `validation_stale_s` → its storage notification
  again (the validate handler ends it INVALID once `max_validation_attempts` deliveries started
  and none finished).

(A job PENDING too long is reported by the poll itself, which reads every active job anyway.)

Each re-drive is recorded on the job (`redriven.<what>`, and `updated_at`), so the same job is
re-driven at most once per grace period however many ticks run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.config import Settings
from shared.jobs.states import JobState
from shared.jobs.store import JobStore, last_entry, utc_now
from shared.uploads.notification import storage_notification

REDRIVEN_ATTRIBUTE = "tunewire-redriven"
"""Set on every message this pass publishes, so logs and dead letters show where it came from."""


@dataclass
class ReconcileSummary:
    events_republished: list[tuple[str, str]] = field(default_factory=list)
    launches_requested: list[str] = field(default_factory=list)
    uploads_redriven: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return bool(self.events_republished or self.launches_requested or self.uploads_redriven)


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
    return summary


def _guard(summary: ReconcileSummary, job: dict[str, Any], action: Any) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - one job must not stop the pass; reported in the tick's log
        summary.errors.append((str(job.get("id")), f"{type(exc).__name__}: {exc}"[:300]))


def _republish_events(job: dict[str, Any], now: datetime, cutoff: datetime, store: JobStore, bus: Any,
                      summary: ReconcileSummary) -> None:
    last = (job.get("redriven") or {}).get("events")
    if last is not None and last > cutoff:
        return  # published again recently: give notify the same grace as the first time
    published = False
    entries = [last_entry(job, state) or {"state": state} for state in job.get("outbox") or []]
    for entry in sorted(entries, key=lambda item: (item.get("at") is None, item.get("at") or cutoff)):
        if entry.get("at") is not None and entry["at"] > cutoff:
            continue  # notify may still be on it
        bus.job_state_changed(job["id"], entry["state"], entry.get("reason", ""))
        summary.events_republished.append((job["id"], entry["state"]))
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
    data, attributes = storage_notification(resource)
    bus.publish_raw(settings.topic_dataset_uploads, data, {**attributes, REDRIVEN_ATTRIBUTE: "reconcile"})
    store.update(job["id"], {"redriven.upload": now})
    summary.uploads_redriven.append(job["id"])
