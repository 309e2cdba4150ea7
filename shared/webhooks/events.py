"""Webhook event types, stable message ids and the payload built from a job document.

A payload follows the Standard Webhooks shape ``{"type", "timestamp", "data"}``. ``data`` is
built from the job's Firestore document (``id``, ``state``, ``source``, ``settings``,
``validation``, ``vertex``, ``tuned_model``, ``error``, ``history``, timestamps); any of those
keys may be missing and then shows up as ``None`` in the payload, never as an exception.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from shared.jobs.states import JobState
from shared.jsonable import plain as _plain, rfc3339

JOB_VALIDATED: Final = "tuning.job.validated"
JOB_INVALID: Final = "tuning.job.invalid"
JOB_RUNNING: Final = "tuning.job.running"
JOB_SUCCEEDED: Final = "tuning.job.succeeded"
JOB_FAILED: Final = "tuning.job.failed"
JOB_CANCELLED: Final = "tuning.job.cancelled"

EVENT_FOR_STATE: Final[Mapping[JobState, str]] = {
    JobState.VALIDATED: JOB_VALIDATED,
    JobState.INVALID: JOB_INVALID,
    JobState.RUNNING: JOB_RUNNING,
    JobState.SUCCEEDED: JOB_SUCCEEDED,
    JobState.FAILED: JOB_FAILED,
    JobState.CANCELLED: JOB_CANCELLED,
}
"""JobState -> event type. States not listed (RECEIVED, VALIDATING, LAUNCHING, PENDING,
CANCELLING) emit no webhook."""

STATE_FOR_EVENT: Final[Mapping[str, JobState]] = {event: state for state, event in EVENT_FOR_STATE.items()}
EVENT_TYPES: Final[tuple[str, ...]] = tuple(EVENT_FOR_STATE.values())

MESSAGE_ID_PREFIX: Final = "msg_"
_MESSAGE_ID_HEX_CHARS = 32

# The short validation summary (see ValidationReport.summary); a full report is cut down to these.
_VALIDATION_SUMMARY_KEYS = (
    "valid",
    "model",
    "examples",
    "tokens",
    "billable_tokens",
    "estimated_usd",
    "error_counts",
    "warning_counts",
    "first_errors",
)
_HISTORY_TIME_KEYS = ("at", "timestamp", "time", "changed_at")
_UPDATED_TIME_KEYS = ("updated_at", "updated", "update_time")


def event_type_for_state(state: JobState | str) -> str | None:
    """The event type a job entering ``state`` emits, or None when that state emits none."""
    try:
        return EVENT_FOR_STATE.get(JobState(state))
    except ValueError:
        return None


def webhook_message_id(job_id: str, event_type: str) -> str:
    """``msg_`` + 32 hex chars of sha256(job id, event type): the same for every retry of one
    (job, event) pair, so receivers can dedupe on the ``webhook-id`` header."""
    digest = hashlib.sha256(f"{job_id}\x00{event_type}".encode("utf-8", "surrogatepass")).hexdigest()
    return MESSAGE_ID_PREFIX + digest[:_MESSAGE_ID_HEX_CHARS]




def build_payload(
    job: Mapping[str, Any],
    event_type: str,
    *,
    occurred_at: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The webhook payload for ``job`` and ``event_type``.

    ``timestamp`` is when the event happened, so a retried delivery carries the same payload:
    ``occurred_at`` when given, else the time of the job's latest ``history`` entry for the
    event's state, else the job's ``updated_at``, else now. Raises ValueError for an unknown
    event type.
    """
    if event_type not in STATE_FOR_EVENT:
        raise ValueError(f"unknown webhook event type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
    event_state = STATE_FOR_EVENT[event_type]
    moment = occurred_at or _event_time(job, event_state) or _dt.datetime.now(_dt.timezone.utc)

    source = _as_mapping(job.get("source"))
    vertex = _as_mapping(job.get("vertex"))
    tuned = _as_mapping(job.get("tuned_model"))
    state = job.get("state")
    data: dict[str, Any] = {
        "job_id": job.get("id"),
        "state": _plain(state) if state is not None else event_state.value,
        "source": {
            "bucket": source.get("bucket"),
            "name": _first(source, "name", "object"),
            "generation": _generation(source.get("generation")),
        },
        "validation": _validation_summary(job.get("validation")),
        "tuned_model": None
        if not tuned
        else {
            "model": _first(tuned, "model", "tuned_model_name", "name"),
            "endpoint": _first(tuned, "endpoint", "tuned_model_endpoint_name"),
        },
        "error": _plain(job.get("error")),
        "vertex": None
        if not vertex
        else {
            "job_name": _first(vertex, "job_name", "name"),
            "state": _first(vertex, "state"),
        },
    }
    return {"type": event_type, "timestamp": rfc3339(moment), "data": data}


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, keys in insertion order: the exact bytes to sign and send."""
    return json.dumps(_plain(payload), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return _plain(value)
    return None


def _generation(value: Any) -> str | None:
    """GCS generations travel as strings (as in the GCS JSON API): they exceed 2**53 in places."""
    return None if value is None or value == "" else str(value)


def _validation_summary(validation: Any) -> dict[str, Any] | None:
    if not isinstance(validation, Mapping):
        return None
    summary = {key: _plain(validation[key]) for key in _VALIDATION_SUMMARY_KEYS if key in validation}
    tokens = summary.get("tokens")
    if isinstance(tokens, Mapping):  # a full report: tokens is an object, the summary wants the total
        summary["tokens"] = tokens.get("total")
        summary.setdefault("billable_tokens", tokens.get("billable"))
    return summary or None


def _event_time(job: Mapping[str, Any], state: JobState) -> _dt.datetime | None:
    history = job.get("history")
    if isinstance(history, list):
        for entry in reversed(history):
            if isinstance(entry, Mapping) and _plain(entry.get("state")) == state.value:
                for key in _HISTORY_TIME_KEYS:
                    moment = _as_datetime(entry.get(key))
                    if moment is not None:
                        return moment
    for key in _UPDATED_TIME_KEYS:
        moment = _as_datetime(job.get(key))
        if moment is not None:
            return moment
    return None


def _as_datetime(value: Any) -> _dt.datetime | None:
    if isinstance(value, _dt.datetime):  # includes Firestore's DatetimeWithNanoseconds
        return value
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


