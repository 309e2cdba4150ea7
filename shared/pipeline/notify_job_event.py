"""Delivering a job event as signed Standard Webhooks, once per (job, event, endpoint).

Targets: every enabled registered endpoint whose prefix matches the uploaded object, plus the
upload's own `tunewire-webhook` URL. Each (job, event, endpoint) has one delivery record in
`webhook_deliveries`; a record already delivered is skipped, so a redelivered event sends
nothing twice (and a POST that landed before a crash carries the same `webhook-id`, on which
receivers dedupe). Every attempt is logged on the job. Any failed target makes the handler raise,
so Pub/Sub retries with backoff and finally dead-letters; 410 disables an endpoint; a URL refused
as unsafe is recorded and never retried.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.config import Settings
from shared.documents import Decision, change_document
from shared.faults import crash_point
from shared.jobs.states import JobState
from shared.webhooks import (
    build_payload,
    deliver_to_url,
    encode_payload,
    endpoint_matches,
    event_type_for_state,
    sign_with_all,
    webhook_message_id,
)
from shared.webhooks.registry import EndpointRegistry


UNKNOWN_JOB = "an unknown job"
STATE_NOT_ENTERED = "a state the job never entered"
"""Events are published after their commit, so an event for a state not in the job's history is
stray or forged: acknowledged, never sent."""


class DeliveryFailed(Exception):
    """At least one target failed: raise so Pub/Sub redelivers the event later."""


@dataclass(frozen=True)
class Target:
    endpoint_id: str  # a registered endpoint's id, or "upload" for the upload's own URL
    url: str
    secrets: tuple[str, ...]


@dataclass
class NotifyOutcome:
    job_id: str
    event_type: str | None
    delivered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    ignored: str | None = None  # why nothing was sent: UNKNOWN_JOB or STATE_NOT_ENTERED


def notify_job_event(
    *,
    job_id: str,
    state: str,
    settings: Settings,
    store: Any,
    registry: EndpointRegistry,
    deliveries: Any,
    timeout_s: float = 10.0,
) -> NotifyOutcome:
    """`deliveries` is the Firestore collection of delivery records."""
    event_type = event_type_for_state(state)
    outcome = NotifyOutcome(job_id, event_type)
    if event_type is None:
        return outcome
    job = store.get(job_id)
    if job is None:
        outcome.ignored = UNKNOWN_JOB
        return outcome
    if state not in {entry.get("state") for entry in job.get("history") or []}:
        outcome.ignored = STATE_NOT_ENTERED
        return outcome
    if state in (job.get("outbox") or []):
        store.event_received(job_id, JobState(state))
    message_id = webhook_message_id(job_id, event_type)
    body = encode_payload(build_payload({**job, "state": state}, event_type))
    for target in _targets(job, registry):
        record_ref = deliveries.document(_delivery_id(message_id, target))
        claim = _claim(record_ref, lease_s=2 * timeout_s + 5)
        if claim == "done":
            outcome.skipped.append(target.endpoint_id)
            continue
        if claim == "busy":  # a concurrent delivery of the same event holds it; look again on retry
            outcome.failed.append(target.endpoint_id)
            continue
        record = record_ref.get()
        headers = sign_with_all(list(target.secrets), message_id, int(time.time()), body)
        attempt = deliver_to_url(
            target.url,
            headers,
            body,
            allow_loopback=settings.local,
            allowed_hosts=settings.allowed_webhook_hosts,
            timeout_s=timeout_s,
        )
        crash_point("notify.after_post")
        _log_attempt(record_ref, record, job_id, event_type, message_id, target, attempt, store)
        by_outcome = {"delivered": outcome.delivered, "gone": outcome.gone, "refused": outcome.refused}
        by_outcome.get(attempt.outcome, outcome.failed).append(target.endpoint_id)
        if attempt.outcome == "gone" and target.endpoint_id != "upload":
            registry.disable(target.endpoint_id, "gone: the receiver answered 410")
    if outcome.failed:
        raise DeliveryFailed(f"{len(outcome.failed)} webhook deliveries failed for {job_id} {event_type}: {', '.join(outcome.failed)}")
    return outcome


def _claim(record_ref: Any, *, lease_s: float) -> str:
    """Take the delivery record for this attempt by compare-and-set: "done" when it was already
    delivered (or refused / gone), "busy" while another invocation's attempt is in flight, else
    "claimed" — so two concurrent deliveries of one event never both POST."""
    def claim(record: dict[str, Any] | None) -> Decision[str]:
        record = record or {}
        if record.get("status") in ("delivered", "refused", "gone"):
            return "done", None
        now = datetime.now(timezone.utc)
        if record.get("in_flight_until") and record["in_flight_until"] > now:
            return "busy", None
        return "claimed", {"in_flight_until": now + timedelta(seconds=lease_s)}

    return change_document(record_ref, claim)


def _targets(job: dict[str, Any], registry: EndpointRegistry) -> list[Target]:
    object_name = (job.get("source") or {}).get("name", "")
    targets = [
        Target(endpoint.id, endpoint.url, tuple(registry.secrets_for(endpoint.id)))
        for endpoint in registry.list()
        if endpoint_matches(endpoint, object_name)
    ]
    upload_url = (job.get("settings") or {}).get("webhook")
    if upload_url:
        targets.append(Target("upload", upload_url, tuple(registry.default_secrets())))
    return targets


def _delivery_id(message_id: str, target: Target) -> str:
    url_hash = hashlib.sha256(target.url.encode()).hexdigest()[:12]
    return f"{message_id}-{target.endpoint_id}-{url_hash}"


def _log_attempt(record_ref: Any, record: Any, job_id: str, event_type: str, message_id: str, target: Target,
                 attempt: Any, store: Any) -> None:
    now = datetime.now(timezone.utc)
    previous = record.to_dict() if record.exists else {}
    attempts = list(previous.get("attempts") or [])
    entry = {
        "at": now,
        "status": attempt.status,
        "latency_ms": round(attempt.latency_ms, 1),
        "outcome": attempt.outcome,
        "error": (attempt.error or "")[:300] or None,
    }
    attempts.append(entry)
    record_ref.set(
        {
            "job_id": job_id,
            "event": event_type,
            "webhook_id": message_id,
            "endpoint_id": target.endpoint_id,
            "url": target.url,
            "status": attempt.outcome,
            "attempts": attempts[-50:],
            "updated_at": now,
            "in_flight_until": None,
        }
    )
    from google.cloud import firestore

    store.update(
        job_id,
        {"deliveries": firestore.ArrayUnion([{"event": event_type, "endpoint_id": target.endpoint_id, "attempt": len(attempts), **entry}])},
    )
