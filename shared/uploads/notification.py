"""Parsing the Cloud Storage notification (JSON_API_V1) delivered through Pub/Sub.

The same bytes arrive in the cloud (GCS → Pub/Sub → push subscription) and on the local stack
(fake-gcs-server → Pub/Sub emulator → push); tests/events/ holds a captured one.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import orjson

MANIFEST_SUFFIX = ".tunewire.json"
DATASET_SUFFIX = ".jsonl"
MAX_OBJECT_NAME_BYTES = 1024
MAX_GENERATION = 2**63 - 1  # an int64 in the JSON API
_DECIMAL = re.compile(r"[0-9]{1,19}")
# Cloud Storage's bucket alphabet. Anything else (a "/", a "?", uppercase) is a forged
# notification: it would make `bucket/object#generation` ambiguous for job ids and end up in
# storage API paths.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,221}")


class PoisonMessage(ValueError):
    """A message that can never be processed (undecodable, wrong schema): acknowledge and log it."""


class ObjectKind(str, enum.Enum):
    DATASET = "dataset"
    MANIFEST = "manifest"
    IGNORED = "ignored"


@dataclass(frozen=True)
class ObjectUpload:
    bucket: str
    name: str
    generation: int
    event_type: str
    size: int = 0
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    event_time: datetime | None = None

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    @property
    def kind(self) -> ObjectKind:
        return classify_object(self.name)


def classify_object(name: str) -> ObjectKind:
    """Datasets are `*.jsonl`, manifests `*.tunewire.json`; everything else is not ours to process."""
    lowered = name.lower()
    if lowered.endswith(MANIFEST_SUFFIX):
        return ObjectKind.MANIFEST
    if lowered.endswith(DATASET_SUFFIX):
        return ObjectKind.DATASET
    return ObjectKind.IGNORED


def _parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as an aware datetime (Cloud Storage times are UTC); None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _utf8_text(value: str, what: str) -> str:
    """Cloud Storage names and metadata are valid UTF-8; a lone surrogate can only be a forgery,
    and would fail later, at the Firestore write, on every redelivery."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PoisonMessage(f"{what} is not valid UTF-8") from exc
    return value


def _generation(value: Any) -> int:
    """The JSON API sends generations as decimal strings; an int is accepted, nothing else (a bool,
    a float or "1_000" would otherwise turn into a generation nobody uploaded)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value):
        number = int(value)
    else:
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise PoisonMessage(f"the notification carries no valid generation ({shown!r})")
    if not 0 <= number <= MAX_GENERATION:
        raise PoisonMessage(f"the notification's generation {number} is outside 0..2^63-1")
    return number


def _size(value: Any) -> int:
    """Informational only: a missing or odd size reads as 0 rather than poisoning the upload."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return 0


def _metadata(value: Any) -> dict[str, str]:
    """Custom metadata is a map of strings in Cloud Storage; anything else is a forged payload
    (and a deeply nested value must never reach str(), which recurses)."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise PoisonMessage("object metadata is not an object")
    metadata: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise PoisonMessage("object metadata values must be strings")
        metadata[_utf8_text(key, "a metadata key")] = _utf8_text(item, f"metadata {key[:40]!r}")
    return metadata


def storage_notification(resource: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub data and attributes Cloud Storage publishes on OBJECT_FINALIZE of `resource`
    (a JSON_API_V1 object with at least bucket, name and generation): what
    `parse_storage_notification` reads, for re-driving an upload whose notification was lost."""
    attributes = {
        "bucketId": str(resource["bucket"]),
        "objectId": str(resource["name"]),
        "objectGeneration": str(resource["generation"]),
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
    }
    return orjson.dumps(dict(resource)), attributes


def parse_storage_notification(message: Mapping[str, Any]) -> ObjectUpload:
    """A Pub/Sub message (`{"data": base64, "attributes": {...}}`) → ObjectUpload.

    Attributes are authoritative for identity (bucket, object, generation); the JSON payload adds
    size, content type and custom metadata. Raises PoisonMessage on anything malformed, and
    nothing else, whatever the message holds.
    """
    if not isinstance(message, Mapping):
        raise PoisonMessage("the Pub/Sub message is not an object")
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise PoisonMessage("message attributes are not an object")
    payload: dict[str, Any] = {}
    raw = message.get("data")
    if raw:
        try:
            decoded = orjson.loads(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError, TypeError) as exc:
            raise PoisonMessage(f"message data is not base64 JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise PoisonMessage("message data is not a JSON object")
        payload = decoded

    bucket = attributes.get("bucketId") or payload.get("bucket")
    name = attributes.get("objectId") or payload.get("name")
    generation = attributes.get("objectGeneration") or payload.get("generation")
    if not isinstance(bucket, str) or not bucket:
        raise PoisonMessage("the notification names no bucket")
    if not isinstance(name, str) or not name:
        raise PoisonMessage("the notification names no object")
    if not _BUCKET_NAME.fullmatch(bucket):
        raise PoisonMessage(f"{bucket[:80]!r} is not a Cloud Storage bucket name")
    _utf8_text(name, "the object name")
    if len(name.encode("utf-8")) > MAX_OBJECT_NAME_BYTES:
        raise PoisonMessage("the object name is longer than Cloud Storage allows")
    generation_number = _generation(generation)
    event_type = attributes.get("eventType") or "OBJECT_FINALIZE"
    if not isinstance(event_type, str):
        raise PoisonMessage("the notification's eventType is not text")
    _utf8_text(event_type, "the eventType")

    content_type = payload.get("contentType")
    return ObjectUpload(
        bucket=bucket,
        name=name,
        generation=generation_number,
        event_type=event_type,
        size=_size(payload.get("size")),
        content_type=content_type if isinstance(content_type, str) else None,
        metadata=_metadata(payload.get("metadata")),
        event_time=_parse_time(attributes.get("eventTime") or payload.get("timeCreated")),
    )
