"""Standard Webhooks signing, verification, rotation; stable message ids and the job payload."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from standardwebhooks.webhooks import Webhook

from shared.jobs.states import JobState
from shared.webhooks import (
    EVENT_FOR_STATE,
    JOB_FAILED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_VALIDATED,
    SignatureVerificationError,
    build_payload,
    encode_payload,
    event_type_for_state,
    generate_secret,
    sign,
    sign_with_all,
    verify,
    webhook_message_id,
)

NOW = 1_750_000_000
BODY = b'{"type":"tuning.job.succeeded","data":{"job_id":"sentiment-0123"}}'
MSG_ID = "msg_0123456789abcdef"


def refusal(secrets, headers, body=BODY, **kwargs) -> SignatureVerificationError:
    with pytest.raises(SignatureVerificationError) as caught:
        verify(secrets, headers, body, **kwargs)
    return caught.value


# --- secrets -------------------------------------------------------------------------------


def test_a_generated_secret_is_whsec_and_32_random_bytes():
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert generate_secret() != secret


@pytest.mark.parametrize("bad", ["", "no-prefix", "whsec_", "whsec_!!!not base64!!!", "whsec_" + base64.b64encode(b"short").decode()])
def test_a_malformed_secret_is_refused_without_echoing_it(bad):
    with pytest.raises(ValueError, match="webhook secret") as caught:
        sign(bad, MSG_ID, NOW, BODY)
    assert len(bad) <= len("whsec_") or bad not in str(caught.value)


# --- round trip ----------------------------------------------------------------------------


def test_a_signed_message_verifies_with_the_same_secret():
    secret = generate_secret()
    headers = sign(secret, MSG_ID, NOW, BODY)
    assert headers["webhook-id"] == MSG_ID
    assert headers["webhook-timestamp"] == str(NOW)
    assert headers["webhook-signature"].startswith("v1,")
    assert verify([secret], headers, BODY, now=NOW) is None


def test_the_signature_is_the_standard_one_the_reference_package_verifies():
    secret = generate_secret()
    headers = sign(secret, MSG_ID, dt.datetime.now(dt.timezone.utc), BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_the_reference_package_signature_verifies_here():
    secret = generate_secret()
    moment = dt.datetime.fromtimestamp(NOW, dt.timezone.utc)
    signature = Webhook(secret).sign(MSG_ID, moment, BODY.decode())
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(NOW), "webhook-signature": signature}
    verify([secret], headers, BODY, now=NOW)


def test_header_names_are_matched_case_insensitively_and_str_bodies_work():
    secret = generate_secret()
    headers = {name.title(): value for name, value in sign(secret, MSG_ID, NOW, BODY).items()}
    verify([secret], headers, BODY.decode(), now=NOW)


# --- rotation ------------------------------------------------------------------------------


def test_during_a_rotation_either_secret_verifies():
    old, new = generate_secret(), generate_secret()
    headers = sign_with_all([new, old], MSG_ID, NOW, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    verify([old], headers, BODY, now=NOW)
    verify([new], headers, BODY, now=NOW)


def test_a_receiver_holding_two_secrets_accepts_a_message_signed_with_either():
    old, new = generate_secret(), generate_secret()
    verify([new, old], sign(old, MSG_ID, NOW, BODY), BODY, now=NOW)
    verify([new, old], sign(new, MSG_ID, NOW, BODY), BODY, now=NOW)


def test_a_secret_outside_the_rotation_does_not_verify():
    headers = sign_with_all([generate_secret(), generate_secret()], MSG_ID, NOW, BODY)
    assert refusal([generate_secret()], headers, now=NOW).reason == "no_matching_signature"


# --- tampering -----------------------------------------------------------------------------


def test_a_tampered_body_is_refused():
    secret = generate_secret()
    headers = sign(secret, MSG_ID, NOW, BODY)
    assert refusal([secret], headers, BODY.replace(b"succeeded", b"failed"), now=NOW).reason == "no_matching_signature"


def test_a_tampered_timestamp_is_refused():
    secret = generate_secret()
    headers = {**sign(secret, MSG_ID, NOW, BODY), "webhook-timestamp": str(NOW + 1)}
    assert refusal([secret], headers, now=NOW).reason == "no_matching_signature"


def test_a_tampered_id_is_refused():
    secret = generate_secret()
    headers = {**sign(secret, MSG_ID, NOW, BODY), "webhook-id": MSG_ID + "x"}
    assert refusal([secret], headers, now=NOW).reason == "no_matching_signature"


@pytest.mark.parametrize("signature", ["", "v1", "v1,", "v2,AAAA", "v1,not base64!", "garbage"])
def test_malformed_signature_headers_are_refused_not_crashed_on(signature):
    secret = generate_secret()
    headers = {**sign(secret, MSG_ID, NOW, BODY), "webhook-signature": signature}
    assert refusal([secret], headers, now=NOW).reason in {"missing_headers", "no_matching_signature"}


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named_in_the_refusal(missing):
    secret = generate_secret()
    headers = sign(secret, MSG_ID, NOW, BODY)
    del headers[missing]
    error = refusal([secret], headers, now=NOW)
    assert error.reason == "missing_headers"
    assert missing in str(error)


def test_a_non_numeric_timestamp_is_refused():
    secret = generate_secret()
    headers = {**sign(secret, MSG_ID, NOW, BODY), "webhook-timestamp": "1.7e9"}
    assert refusal([secret], headers, now=NOW).reason == "invalid_timestamp"


# --- freshness -----------------------------------------------------------------------------


def test_a_timestamp_older_than_five_minutes_is_refused():
    secret = generate_secret()
    headers = sign(secret, MSG_ID, NOW - 301, BODY)
    assert refusal([secret], headers, now=NOW).reason == "timestamp_too_old"


def test_a_timestamp_just_inside_five_minutes_verifies():
    secret = generate_secret()
    verify([secret], sign(secret, MSG_ID, NOW - 300, BODY), BODY, now=NOW)


def test_a_timestamp_more_than_five_minutes_ahead_is_refused():
    secret = generate_secret()
    headers = sign(secret, MSG_ID, NOW + 301, BODY)
    assert refusal([secret], headers, now=NOW).reason == "timestamp_too_new"


def test_a_stale_message_is_refused_against_the_real_clock():
    secret = generate_secret()
    stale = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=6)
    assert refusal([secret], sign(secret, MSG_ID, stale, BODY)).reason == "timestamp_too_old"


# --- message ids ---------------------------------------------------------------------------


def test_the_message_id_is_stable_for_one_job_and_event():
    assert webhook_message_id("job-a", JOB_SUCCEEDED) == webhook_message_id("job-a", JOB_SUCCEEDED)
    assert webhook_message_id("job-a", JOB_SUCCEEDED).startswith("msg_")


def test_the_message_id_differs_across_events_and_jobs():
    ids = {webhook_message_id(job, event) for job in ("job-a", "job-b") for event in (JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED)}
    assert len(ids) == 6


def test_the_message_id_can_be_signed_as_a_header():
    secret = generate_secret()
    msg_id = webhook_message_id("job-a", JOB_SUCCEEDED)
    verify([secret], sign(secret, msg_id, NOW, BODY), BODY, now=NOW)


# --- events and payloads -------------------------------------------------------------------


def test_only_the_six_webhook_states_emit_an_event():
    assert event_type_for_state(JobState.SUCCEEDED) == "tuning.job.succeeded"
    assert event_type_for_state("VALIDATED") == JOB_VALIDATED
    emitting = {state for state in JobState if event_type_for_state(state)}
    assert emitting == {JobState.VALIDATED, JobState.INVALID, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
    assert set(EVENT_FOR_STATE) == emitting
    assert event_type_for_state("NOT_A_STATE") is None


def full_job() -> dict:
    changed = dt.datetime(2025, 6, 1, 12, 30, 5, 250000, tzinfo=dt.timezone.utc)
    return {
        "id": "sentiment-0123456789abcdef",
        "state": JobState.SUCCEEDED,
        "source": {"bucket": "uploads", "name": "team/sentiment.jsonl", "generation": 1748780000123456},
        "settings": {"model": "gemini-2.5-flash", "epochs": 3},
        "validation": {
            "valid": True,
            "model": "gemini-2.5-flash",
            "examples": 120,
            "tokens": 4567,
            "billable_tokens": 13701,
            "estimated_usd": 0.07,
            "error_counts": {},
            "warning_counts": {"LONG_EXAMPLE": 1},
            "first_errors": [],
        },
        "vertex": {"job_name": "projects/p/locations/us-central1/tuningJobs/42", "state": "JOB_STATE_SUCCEEDED"},
        "tuned_model": {"model": "projects/p/locations/us-central1/models/7", "endpoint": "projects/p/locations/us-central1/endpoints/9"},
        "error": None,
        "history": [
            {"state": "RUNNING", "at": changed - dt.timedelta(hours=1)},
            {"state": "SUCCEEDED", "at": changed},
        ],
        "created_at": changed - dt.timedelta(hours=2),
        "updated_at": changed,
    }


def test_the_payload_carries_the_job_summary():
    payload = build_payload(full_job(), JOB_SUCCEEDED)
    assert payload["type"] == "tuning.job.succeeded"
    assert payload["timestamp"] == "2025-06-01T12:30:05.250000Z"
    data = payload["data"]
    assert data["job_id"] == "sentiment-0123456789abcdef"
    assert data["state"] == "SUCCEEDED"
    assert data["source"] == {"bucket": "uploads", "name": "team/sentiment.jsonl", "generation": "1748780000123456"}
    assert data["validation"]["valid"] is True and data["validation"]["tokens"] == 4567
    assert data["tuned_model"] == {"model": "projects/p/locations/us-central1/models/7", "endpoint": "projects/p/locations/us-central1/endpoints/9"}
    assert data["vertex"] == {"job_name": "projects/p/locations/us-central1/tuningJobs/42", "state": "JOB_STATE_SUCCEEDED"}
    assert data["error"] is None


def test_the_payload_timestamp_is_the_event_time_so_retries_send_the_same_bytes():
    job = full_job()
    assert encode_payload(build_payload(job, JOB_SUCCEEDED)) == encode_payload(build_payload(job, JOB_SUCCEEDED))
    assert build_payload(job, JOB_RUNNING)["timestamp"] == "2025-06-01T11:30:05.250000Z"


def test_a_sparse_job_document_still_gives_a_payload():
    payload = build_payload({"id": "j-1", "state": "FAILED", "error": {"code": "VERTEX_FAILED", "message": "quota"}}, JOB_FAILED)
    data = payload["data"]
    assert data["source"] == {"bucket": None, "name": None, "generation": None}
    assert data["validation"] is None and data["tuned_model"] is None and data["vertex"] is None
    assert data["error"] == {"code": "VERTEX_FAILED", "message": "quota"}
    assert payload["timestamp"].endswith("Z")
    json.loads(encode_payload(payload))


def test_a_full_validation_report_is_cut_down_to_its_summary():
    job = {"id": "j-2", "state": "INVALID", "validation": {"valid": False, "tokens": {"total": 10, "billable": 30}, "errors": ["x"] * 500}}
    summary = build_payload(job, "tuning.job.invalid")["data"]["validation"]
    assert summary == {"valid": False, "tokens": 10, "billable_tokens": 30}


def test_an_unknown_event_type_is_refused():
    with pytest.raises(ValueError):
        build_payload(full_job(), "tuning.job.exploded")


def test_the_encoded_payload_signs_and_verifies():
    secret = generate_secret()
    body = encode_payload(build_payload(full_job(), JOB_SUCCEEDED))
    msg_id = webhook_message_id("sentiment-0123456789abcdef", JOB_SUCCEEDED)
    verify([secret], sign(secret, msg_id, NOW, body), body, now=NOW)
