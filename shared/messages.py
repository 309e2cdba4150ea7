"""The messages tunewire publishes between its functions: one place for topics' payload schemas.

Every message is a small JSON object with `type` and `job_id`; the job document in Firestore is
the truth, messages only say "look at this job now". That keeps redelivery harmless.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Mapping

import orjson

from shared.uploads.notification import PoisonMessage

TUNING_REQUESTED = "tuning.requested"
JOB_STATE_CHANGED = "job.state_changed"
POLL_TICK = "poll.tick"


@dataclass(frozen=True)
class JobMessage:
    type: str
    job_id: str
    state: str | None = None
    reason: str | None = None

    def encode(self) -> bytes:
        return orjson.dumps({key: value for key, value in self.__dict__.items() if value is not None})

    def attributes(self) -> dict[str, str]:
        attributes = {"type": self.type, "job_id": self.job_id}
        if self.state:
            attributes["state"] = self.state
        return attributes


def decode_pubsub_data(message: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object carried in a Pub/Sub message's base64 `data`; PoisonMessage otherwise."""
    if not isinstance(message, Mapping):
        raise PoisonMessage("the Pub/Sub message is not an object")
    raw = message.get("data")
    if not raw:
        return {}
    try:
        document = orjson.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise PoisonMessage(f"message data is not base64 JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PoisonMessage("message data is not a JSON object")
    return document


def parse_job_message(message: Mapping[str, Any], *, expected_type: str) -> JobMessage:
    document = decode_pubsub_data(message)
    kind = document.get("type")
    if kind != expected_type:
        shown = str(kind)[:60] if kind is None or isinstance(kind, (str, int, float, bool)) else type(kind).__name__
        raise PoisonMessage(f"expected a {expected_type} message, got type {shown!r}")
    job_id = document.get("job_id")
    if not isinstance(job_id, str) or not job_id or len(job_id) > 128:
        raise PoisonMessage("the message carries no valid job_id")
    state = document.get("state")
    reason = document.get("reason")
    return JobMessage(
        type=expected_type,
        job_id=job_id,
        state=state if isinstance(state, str) else None,
        reason=reason if isinstance(reason, str) else None,
    )
