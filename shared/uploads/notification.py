"""Parsing the Cloud Storage notification (JSON_API_V1) delivered through Pub/Sub.

The same bytes arrive in the cloud (GCS → Pub/Sub → push subscription) and on the local stack
(fake-gcs-server → Pub/Sub emulator → push); tests/events/ holds a captured one.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

import orjson

MANIFEST_SUFFIX = ".tunewire.json"
DATASET_SUFFIX = ".jsonl"
MAX_OBJECT_NAME_BYTES = 1024


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
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_storage_notification(message: Mapping[str, Any]) -> ObjectUpload:
    """A Pub/Sub message (`{"data": base64, "attributes": {...}}`) → ObjectUpload.

    Attributes are authoritative for identity (bucket, object, generation); the JSON payload adds
    size, content type and custom metadata. Raises PoisonMessage on anything malformed.
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
    if len(name.encode("utf-8", "surrogatepass")) > MAX_OBJECT_NAME_BYTES:
        raise PoisonMessage("the object name is longer than Cloud Storage allows")
    try:
        generation_number = int(generation)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise PoisonMessage(f"the notification carries no valid generation ({generation!r})") from exc

    metadata = payload.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise PoisonMessage("object metadata is not an object")
    try:
        size = int(payload.get("size") or 0)
    except (TypeError, ValueError):
        size = 0
    content_type = payload.get("contentType")
    return ObjectUpload(
        bucket=bucket,
        name=name,
        generation=generation_number,
        event_type=str(attributes.get("eventType") or "OBJECT_FINALIZE"),
        size=size,
        content_type=content_type if isinstance(content_type, str) else None,
        metadata={str(k): str(v) for k, v in metadata.items()},
        event_time=_parse_time(attributes.get("eventTime") or payload.get("timeCreated")),
    )
