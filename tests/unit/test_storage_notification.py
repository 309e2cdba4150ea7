"""Parsing storage notifications, starting from the one captured from the real emulators."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shared.uploads.notification import ObjectKind, PoisonMessage, classify_object, parse_storage_notification, storage_notification

EVENTS = Path(__file__).resolve().parents[1] / "events"


def captured_message() -> dict:
    return json.loads((EVENTS / "gcs_finalize_push.json").read_text())["message"]


def test_the_captured_emulator_notification_parses_into_an_upload():
    upload = parse_storage_notification(captured_message())
    assert upload.bucket == "tunewire-test-datasets"
    assert upload.name == "uploads/sentiment/train.jsonl"
    assert upload.generation == 1795628086959126
    assert upload.event_type == "OBJECT_FINALIZE"
    assert upload.metadata == {"tunewire-base-model": "gemini-2.5-flash", "tunewire-epochs": "3"}
    assert upload.size == 120 and upload.kind is ObjectKind.DATASET
    assert upload.uri == "gs://tunewire-test-datasets/uploads/sentiment/train.jsonl"
    assert upload.event_time is not None and upload.event_time.tzinfo is not None


def test_attributes_alone_are_enough_to_identify_the_object():
    message = captured_message()
    del message["data"]
    upload = parse_storage_notification(message)
    assert upload.generation == 1795628086959126 and upload.metadata == {}


@pytest.mark.parametrize(
    ("name", "kind"),
    [("a/train.jsonl", ObjectKind.DATASET), ("a/TRAIN.JSONL", ObjectKind.DATASET), ("a/run.tunewire.json", ObjectKind.MANIFEST),
     ("a/notes.txt", ObjectKind.IGNORED), ("a/report.json", ObjectKind.IGNORED), ("a/", ObjectKind.IGNORED)],
)
def test_objects_are_classified_by_suffix(name, kind):
    assert classify_object(name) is kind


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: m.update(data="%%%not base64"), "not base64 JSON"),
        (lambda m: m.update(data=base64.b64encode(b"[1,2]").decode()), "not a JSON object"),
        (lambda m: m.update(attributes={}, data=base64.b64encode(b"{}").decode()), "no bucket"),
        (lambda m: m["attributes"].update(objectGeneration="abc"), "no valid generation"),
        (lambda m: m["attributes"].update(objectId="x" * 1025), "longer than"),
        (lambda m: m.update(attributes=["x"]), "attributes are not an object"),
    ],
)
def test_malformed_notifications_are_poison_with_a_reason(mutate, reason):
    message = captured_message()
    mutate(message)
    with pytest.raises(PoisonMessage, match=reason):
        parse_storage_notification(message)


def test_a_built_notification_parses_back_to_the_same_object_and_metadata():
    data, attributes = storage_notification({"bucket": "b", "name": "team/train.jsonl", "generation": "42", "size": "7",
                                             "metadata": {"tunewire-epochs": "2"}})
    upload = parse_storage_notification({"data": base64.b64encode(data).decode(), "attributes": attributes})
    assert (upload.bucket, upload.name, upload.generation, upload.size) == ("b", "team/train.jsonl", 42, 7)
    assert upload.metadata == {"tunewire-epochs": "2"} and upload.event_type == "OBJECT_FINALIZE"
