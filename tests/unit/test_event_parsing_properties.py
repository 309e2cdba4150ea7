"""Event parsing never takes a function down (property-based, seeded with tests/events/).

Whatever a push body holds, the parsers return a well-typed value or raise PoisonMessage, which
the functions acknowledge and log. Any other exception is a 500: five redeliveries and a dead
letter for a message that can never succeed, with the job it names stuck where it was. The
number of generated cases comes from the suite's hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import base64
import copy
import json
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from cloudevents.http import CloudEvent
from hypothesis import assume, event, example, given
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from functions import runtime
from shared.config import Settings
from shared.jobs.identity import job_id_for_upload
from shared.messages import JOB_STATE_CHANGED, POLL_TICK, TUNING_REQUESTED, JobMessage, parse_job_message
from shared.uploads.notification import MAX_OBJECT_NAME_BYTES, ObjectKind, ObjectUpload, PoisonMessage, parse_storage_notification

EVENTS = Path(__file__).resolve().parents[1] / "events"
CAPTURED_FILES = ("gcs_finalize_push", "tuning_request_push", "job_event_push", "poll_tick_push")


def captured(name: str) -> dict[str, Any]:
    """The Pub/Sub message inside a push body recorded from the emulators."""
    return json.loads((EVENTS / f"{name}.json").read_text())["message"]


CAPTURED = {name: captured(name) for name in CAPTURED_FILES}
FINALIZE = CAPTURED["gcs_finalize_push"]
FINALIZE_PAYLOAD: dict[str, Any] = json.loads(base64.b64decode(FINALIZE["data"]))
JOB_TYPES = (TUNING_REQUESTED, JOB_STATE_CHANGED, POLL_TICK)
DEEP = 1020  # inside orjson's nesting limit (1024), past Python's recursion limit for str()


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data).decode("ascii")


def as_json(value: Any) -> str:
    """Python's encoder, not orjson: it writes what a forger could send (NaN, 2**70, "\\ud800")."""
    return json.dumps(value, allow_nan=True)


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def with_deep_value(document: dict[str, Any], key: str) -> bytes:
    """`document` as JSON with `key` set to a DEEP-level list, written as text: encoding it
    from Python would itself recurse too deep."""
    marker = "@@deep@@"
    text = as_json({**document, key: marker})
    return text.replace(json.dumps(marker), "[" * DEEP + '"x"' + "]" * DEEP).encode()


def note(outcome: str) -> None:
    if currently_in_test_context():  # the parametrized cases share the helpers
        event(outcome)


# --- strategies: push-body JSON as Python's json module hands it to the function -------------
# Field values are drawn from `junk` (one level of nesting); deep nesting has its own tests
# below, which is far cheaper than asking the generator for it.

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=24)
junk = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=4), scalars, max_size=2)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6
)
with_surrogates = st.sampled_from(["na\ud800me.jsonl", "\udfff", "ok\udc80.tunewire.json"])
BUCKET_HEAD = string.ascii_lowercase + string.digits
bucket_names = st.builds(str.__add__, st.sampled_from(BUCKET_HEAD), st.text(alphabet=BUCKET_HEAD + "._-", min_size=2, max_size=40))
bucket_values = st.one_of(
    bucket_names,
    st.text(max_size=20),
    st.sampled_from(["a/b", "UPPER", "x?alt=media", "..", "b#1", "bücket", "-x"]),
    with_surrogates,
    junk,
)
object_names = st.text(min_size=1, max_size=60)  # at most 240 UTF-8 bytes: always a legal length
name_values = st.one_of(
    object_names,
    st.sampled_from(["a/../b.jsonl", "x\n.jsonl", "x\r\n.tunewire.json", "\x7f.jsonl", "é" * 512, "e" * 1024, "e" * 1025, ""]),
    with_surrogates,
    junk,
)
generation_values = st.one_of(
    st.integers(),
    st.integers(min_value=0, max_value=2**63 - 1).map(str),
    st.sampled_from(["", "0", "017", "1_000", " 17", "17 ", "-1", "+5", "1e3", "١٧", "²", "9" * 19, "9" * 20, "nan", "inf"]),
    st.floats(),
    st.text(max_size=12),
    junk,
)
iso_times = st.datetimes(timezones=st.none() | st.just(timezone.utc)).map(lambda moment: moment.isoformat())
time_values = st.one_of(iso_times, iso_times.map(lambda text: text + "Z"), st.text(max_size=30), junk)
metadata_values = st.one_of(
    st.dictionaries(st.text(max_size=16), st.text(max_size=32), max_size=4),
    st.dictionaries(st.text(max_size=8), junk, min_size=1, max_size=2),
    junk,
)

payloads = st.fixed_dictionaries(
    {},
    optional={
        "bucket": bucket_values,
        "name": name_values,
        "generation": generation_values,
        "size": st.one_of(st.integers(), st.text(max_size=8), junk),
        "contentType": junk,
        "metadata": metadata_values,
        "timeCreated": time_values,
    },
)
data_values = st.one_of(
    payloads.map(lambda payload: b64(as_json(payload))),
    json_values.map(lambda value: b64(as_json(value))),
    st.binary(max_size=80).map(b64),
    st.text(max_size=40),
    json_values,
)
attribute_dicts = st.fixed_dictionaries(
    {},
    optional={
        "bucketId": bucket_values,
        "objectId": name_values,
        "objectGeneration": generation_values,
        "eventType": st.one_of(st.sampled_from(["OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_METADATA_UPDATE"]), junk),
        "eventTime": time_values,
        "payloadFormat": junk,
        "type": st.one_of(st.sampled_from(JOB_TYPES), junk),
        "job_id": junk,
    },
)
fresh_messages = st.fixed_dictionaries(
    {}, optional={"data": data_values, "attributes": st.one_of(attribute_dicts, junk), "messageId": scalars}
)


@st.composite
def captured_mutants(draw: st.DrawFn) -> dict[str, Any]:
    """A captured message with some attributes and payload fields replaced or removed."""
    message = copy.deepcopy(CAPTURED[draw(st.sampled_from(CAPTURED_FILES))])
    attributes = message.setdefault("attributes", {})
    for key in draw(st.sets(st.sampled_from(sorted(attributes) or ["bucketId"]))):
        attributes.pop(key, None)
    attributes.update(draw(attribute_dicts))
    payload = json.loads(base64.b64decode(message["data"]))
    for key in draw(st.sets(st.sampled_from(sorted(payload)))):
        payload.pop(key)
    payload.update(draw(payloads))
    message["data"] = b64(as_json(payload))
    return message


messages = st.one_of(captured_mutants(), fresh_messages, json_values)


def assert_well_typed(upload: ObjectUpload) -> None:
    assert isinstance(upload.bucket, str) and upload.bucket
    assert isinstance(upload.name, str) and upload.name
    assert len(upload.name.encode("utf-8")) <= MAX_OBJECT_NAME_BYTES  # strict UTF-8: no lone surrogates
    assert type(upload.generation) is int and 0 <= upload.generation < 2**63
    assert isinstance(upload.event_type, str)
    assert type(upload.size) is int and upload.size >= 0
    assert upload.content_type is None or isinstance(upload.content_type, str)
    assert all(type(key) is str and type(value) is str for key, value in upload.metadata.items())
    assert upload.event_time is None or (isinstance(upload.event_time, datetime) and upload.event_time.tzinfo is not None)
    assert isinstance(upload.kind, ObjectKind)
    assert upload.uri == f"gs://{upload.bucket}/{upload.name}"


def parse_or_poison(message: Any) -> ObjectUpload | None:
    try:
        upload = parse_storage_notification(message)
    except PoisonMessage:
        note("poison")
        return None
    note("parsed")
    assert_well_typed(upload)
    return upload


# --- the storage notification ---------------------------------------------------------------


@example(message=CAPTURED["gcs_finalize_push"])
@example(message=CAPTURED["job_event_push"])
@example(message={"attributes": {"objectGeneration": float("inf"), "bucketId": "b-1", "objectId": "a.jsonl"}})
@given(message=messages)
def test_any_push_message_parses_into_a_well_typed_upload_or_is_poison(message):
    parse_or_poison(message)


@given(data=st.binary(max_size=400), attributes=st.sampled_from([FINALIZE["attributes"], {}]))
def test_any_bytes_as_message_data_parse_or_are_poison_and_only_a_json_object_or_nothing_can_parse(data, attributes):
    upload = parse_or_poison({"data": b64(data), "attributes": dict(attributes)})
    try:
        is_object = isinstance(json.loads(data), dict)
    except ValueError:
        is_object = False
    assert upload is None or is_object or data == b""  # no data: the attributes alone name the object


@pytest.mark.parametrize("key", ["metadata", "size", "generation", "contentType", "timeCreated", "bucket"])
def test_a_deeply_nested_payload_field_is_poison_or_ignored_never_a_crash(key):
    # without attributes the payload's own bucket, name and generation are read
    parse_or_poison({"data": b64(with_deep_value(FINALIZE_PAYLOAD, key)), "attributes": {}})


def test_a_deeply_nested_metadata_value_is_poison_never_a_crash():
    metadata = with_deep_value({}, "tunewire-display-name").decode()
    text = as_json({**FINALIZE_PAYLOAD, "metadata": "@@m@@"}).replace('"@@m@@"', metadata)
    with pytest.raises(PoisonMessage, match="metadata values must be strings"):
        parse_storage_notification({"data": b64(text), "attributes": FINALIZE["attributes"]})


@pytest.mark.parametrize("key", ["bucketId", "objectId", "objectGeneration", "eventType", "eventTime"])
def test_a_deeply_nested_attribute_is_poison_or_ignored_never_a_crash(key):
    parse_or_poison({**FINALIZE, "attributes": {**FINALIZE["attributes"], key: nested(DEEP)}})


identity_noise = st.fixed_dictionaries(
    {},
    optional={
        "size": st.integers(min_value=0, max_value=2**40).map(str),
        "contentType": st.text(max_size=20),
        "metadata": st.dictionaries(st.text(max_size=16), st.text(max_size=32), max_size=4),
        "timeCreated": iso_times,
        "md5Hash": st.text(max_size=24),
    },
)


def notification(bucket: str, name: str, generation: int, noise: dict[str, Any], *, via: str, as_text: bool) -> dict[str, Any]:
    """A finalize notification naming (bucket, name, generation) in the attributes, the payload
    or both, with `noise` in the payload."""
    shown: int | str = str(generation) if as_text else generation
    payload: dict[str, Any] = dict(noise)
    attributes: dict[str, Any] = {"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1"}
    if via in ("payload", "both"):
        payload.update(bucket=bucket, name=name, generation=shown)
    if via in ("attributes", "both"):
        attributes.update(bucketId=bucket, objectId=name, objectGeneration=str(generation))
    return {"data": b64(as_json(payload)), "attributes": attributes}


@given(
    bucket=bucket_names,
    name=object_names,
    generation=st.integers(min_value=0, max_value=2**63 - 1),
    first=identity_noise,
    second=identity_noise,
    first_via=st.sampled_from(["attributes", "payload", "both"]),
    second_via=st.sampled_from(["attributes", "payload", "both"]),
    as_text=st.booleans(),
)
def test_a_parsed_uploads_job_id_depends_only_on_bucket_name_and_generation(
    bucket, name, generation, first, second, first_via, second_via, as_text
):
    one = parse_storage_notification(notification(bucket, name, generation, first, via=first_via, as_text=as_text))
    other = parse_storage_notification(notification(bucket, name, generation, second, via=second_via, as_text=not as_text))
    assert_well_typed(one)
    ids = {job_id_for_upload(upload.bucket, upload.name, upload.generation) for upload in (one, other)}
    assert ids == {job_id_for_upload(bucket, name, generation)}


generations = st.integers(min_value=0, max_value=2**63 - 1)
identities = st.tuples(bucket_names, object_names, generations)


@given(
    first=identities,
    change=st.one_of(
        st.tuples(st.just(0), bucket_names), st.tuples(st.just(1), object_names), st.tuples(st.just(2), generations)
    ),
)
def test_a_different_bucket_name_or_generation_is_a_different_job(first, change):
    position, value = change
    second = tuple(value if index == position else part for index, part in enumerate(first))
    assume(second != first)
    one = parse_storage_notification(notification(*first, {}, via="attributes", as_text=True))
    two = parse_storage_notification(notification(*second, {}, via="attributes", as_text=True))
    assert job_id_for_upload(one.bucket, one.name, one.generation) != job_id_for_upload(two.bucket, two.name, two.generation)


@given(bucket=bucket_names, name=object_names, generation=st.integers(min_value=0, max_value=2**63 - 1), payload=payloads)
def test_the_attributes_name_the_object_whatever_the_payload_claims(bucket, name, generation, payload):
    message = {"data": b64(as_json(payload)), "attributes": {"bucketId": bucket, "objectId": name, "objectGeneration": str(generation)}}
    upload = parse_or_poison(message)
    if upload is not None:
        assert (upload.bucket, upload.name, upload.generation) == (bucket, name, generation)


# --- job messages ---------------------------------------------------------------------------

job_messages = st.builds(
    JobMessage,
    type=st.sampled_from(JOB_TYPES),
    job_id=st.text(min_size=1, max_size=128),
    state=st.none() | st.text(max_size=20),
    reason=st.none() | st.text(max_size=200),
)


def published(message: JobMessage) -> dict[str, Any]:
    """What the push subscription hands the function for a message the bus published."""
    return {"data": b64(message.encode()), "attributes": message.attributes(), "messageId": "1"}


@example(message=JobMessage(TUNING_REQUESTED, "train-3f2a9c0d1e4b5a69"))
@given(message=job_messages)
def test_a_job_message_survives_encode_then_parse(message):
    assert parse_job_message(published(message), expected_type=message.type) == message
    assert message.attributes()["type"] == message.type and message.attributes()["job_id"] == message.job_id


@pytest.mark.parametrize("name", ["tuning_request_push", "job_event_push", "poll_tick_push"])
def test_the_captured_job_messages_parse_and_re_encode_to_the_same_document(name):
    raw = CAPTURED[name]
    document = json.loads(base64.b64decode(raw["data"]))
    parsed = parse_job_message(raw, expected_type=document["type"])
    assert json.loads(parsed.encode()) == document


@given(message=job_messages, shift=st.sampled_from([1, 2]))
def test_a_job_message_of_another_type_is_poison(message, shift):
    expected = JOB_TYPES[(JOB_TYPES.index(message.type) + shift) % len(JOB_TYPES)]
    with pytest.raises(PoisonMessage):
        parse_job_message(published(message), expected_type=expected)


job_documents = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(JOB_TYPES), junk),
        "job_id": st.one_of(st.text(max_size=140), junk),
        "state": junk,
        "reason": junk,
    },
)


@example(message=CAPTURED["gcs_finalize_push"], expected=TUNING_REQUESTED)
@example(message=CAPTURED["poll_tick_push"], expected=POLL_TICK)
@given(
    message=st.one_of(messages, job_documents.map(lambda document: {"data": b64(as_json(document))})),
    expected=st.sampled_from(JOB_TYPES),
)
def test_any_message_parses_into_a_job_message_of_the_expected_type_or_is_poison(message, expected):
    try:
        parsed = parse_job_message(message, expected_type=expected)
    except PoisonMessage:
        note("poison")
        return
    note("parsed")
    assert parsed.type == expected
    assert isinstance(parsed.job_id, str) and 1 <= len(parsed.job_id) <= 128
    assert parsed.state is None or isinstance(parsed.state, str)
    assert parsed.reason is None or isinstance(parsed.reason, str)


def test_a_deeply_nested_type_field_is_poison_not_a_crash():
    with pytest.raises(PoisonMessage):
        parse_job_message({"data": b64(with_deep_value({"job_id": "j"}, "type"))}, expected_type=TUNING_REQUESTED)


# --- the CloudEvent wrapper (functions/runtime.py) -------------------------------------------

NOW = datetime(2026, 11, 25, 18, 0, 0, 123456, tzinfo=timezone.utc)


class FrozenClock(datetime):
    """runtime's `datetime`, with `now()` pinned so ages are exact, not timing-dependent."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return NOW.astimezone(tz) if tz is not None else NOW.replace(tzinfo=None)


def cloud_event(*, data: Any = None, time: Any = None) -> CloudEvent:
    return CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub", "time": time}, data)


@example(data={"message": FINALIZE})
@given(data=st.one_of(json_values, st.binary(max_size=20), st.fixed_dictionaries({"message": junk})))
def test_the_pubsub_message_is_always_a_dict_whatever_the_event_data(data):
    message = runtime.pubsub_message(cloud_event(data=data))
    assert isinstance(message, dict)
    inner = data.get("message") if isinstance(data, dict) else None
    assert message is inner if isinstance(inner, dict) else message == {}


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=st.none() | st.just(timezone.utc) | offsets,
    zulu=st.booleans(),
)
def test_the_event_age_is_measured_from_any_rfc3339_time(moment, zone, zulu):
    stamped = moment.replace(tzinfo=zone)
    text = stamped.isoformat()
    if zulu and zone is timezone.utc:
        text = text.replace("+00:00", "Z")
    expected = (NOW - (stamped if zone is not None else moment.replace(tzinfo=timezone.utc))).total_seconds()
    with patch.object(runtime, "datetime", FrozenClock):
        assert runtime.event_age_s(cloud_event(time=text)) == expected


@example(time="2026-11-25T17:34:46.980123456Z")
@example(time="2026-02-30T00:00:00Z")
@given(time=st.one_of(st.text(alphabet="0123456789-:.TtZz+ W", max_size=32), st.text(max_size=32), junk))
def test_any_time_attribute_gives_an_age_or_none_never_an_error(time):
    with patch.object(runtime, "datetime", FrozenClock):
        age = runtime.event_age_s(cloud_event(time=time))
    assert age is None or isinstance(age, float)


@given(
    age_us=st.integers(min_value=-10**12, max_value=10**14),
    max_age_s=st.integers(min_value=0, max_value=10**7),
    unreadable=st.sampled_from([None, "", "yesterday", "2026-13-01T00:00:00Z"]),
)
def test_an_event_is_too_old_exactly_when_its_age_exceeds_the_maximum(age_us, max_age_s, unreadable):
    published_at = NOW - timedelta(microseconds=age_us)
    stand_in = SimpleNamespace(settings=Settings(max_event_age_s=max_age_s))
    with patch.object(runtime, "datetime", FrozenClock), patch.object(runtime, "clients", return_value=stand_in):
        assert runtime.too_old(cloud_event(time=published_at.isoformat()), "test") is (age_us / 10**6 > max_age_s)
        assert runtime.too_old(cloud_event(time=unreadable), "test") is False
