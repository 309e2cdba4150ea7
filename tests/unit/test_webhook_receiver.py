"""The Flask webhook receiver: verifies, dedupes on webhook-id, hands payloads on."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.webhooks import build_payload, create_receiver_app, encode_payload, generate_secret, sign, webhook_message_id

JOB = {"id": "sentiment-0123456789abcdef", "state": "SUCCEEDED", "source": {"bucket": "b", "name": "n.jsonl", "generation": 1}}
EVENT = "tuning.job.succeeded"
BODY = encode_payload(build_payload(JOB, EVENT))
MSG_ID = webhook_message_id(JOB["id"], EVENT)


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[tuple[dict, dict]] = []
        self.fail_times = fail_times

    def __call__(self, payload: dict, headers: dict) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("handler broke")
        self.calls.append((payload, headers))


@pytest.fixture
def secret() -> str:
    return generate_secret()


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def post(client, headers: dict[str, str], body: bytes = BODY):
    return client.post("/", data=body, headers={**headers, "content-type": "application/json"})


def test_a_valid_signature_is_accepted_and_the_handler_called_once(secret):
    recorder = Recorder()
    client = create_receiver_app([secret], recorder).test_client()
    response = post(client, sign(secret, MSG_ID, now(), BODY))
    assert response.status_code == 200
    assert response.get_json() == {"duplicate": False, "received": MSG_ID}
    ((payload, headers),) = recorder.calls
    assert payload["type"] == EVENT and payload["data"]["job_id"] == JOB["id"]
    assert headers["webhook-id"] == MSG_ID


def test_a_duplicate_id_is_acknowledged_but_handled_only_once(secret):
    recorder = Recorder()
    client = create_receiver_app([secret], recorder).test_client()
    first = post(client, sign(secret, MSG_ID, now(), BODY))
    retry = post(client, sign(secret, MSG_ID, now(), BODY))  # a retry: same id, new timestamp
    assert first.status_code == retry.status_code == 200
    assert retry.get_json()["duplicate"] is True
    assert len(recorder.calls) == 1


def test_different_events_of_one_job_are_each_handled(secret):
    recorder = Recorder()
    client = create_receiver_app([secret], recorder).test_client()
    for event in ("tuning.job.running", "tuning.job.succeeded"):
        body = encode_payload(build_payload(JOB, event))
        assert post(client, sign(secret, webhook_message_id(JOB["id"], event), now(), body), body).status_code == 200
    assert [payload["type"] for payload, _ in recorder.calls] == ["tuning.job.running", "tuning.job.succeeded"]


def test_a_bad_signature_is_refused_with_401_and_a_reason(secret):
    recorder = Recorder()
    client = create_receiver_app([secret], recorder).test_client()
    response = post(client, sign(generate_secret(), MSG_ID, now(), BODY))
    assert response.status_code == 401
    assert response.get_json()["reason"] == "no_matching_signature"
    assert recorder.calls == []


def test_a_tampered_body_is_refused_with_401(secret):
    recorder = Recorder()
    client = create_receiver_app([secret], recorder).test_client()
    response = post(client, sign(secret, MSG_ID, now(), BODY), BODY.replace(b"SUCCEEDED", b"FAILED"))
    assert response.status_code == 401
    assert recorder.calls == []


def test_a_stale_timestamp_is_refused_with_401(secret):
    recorder = Recorder()
    client = create_receiver_app([secret], recorder).test_client()
    response = post(client, sign(secret, MSG_ID, now() - dt.timedelta(minutes=6), BODY))
    assert response.status_code == 401
    assert response.get_json()["reason"] == "timestamp_too_old"
    assert recorder.calls == []


def test_missing_headers_are_refused_with_401(secret):
    client = create_receiver_app([secret], Recorder()).test_client()
    response = post(client, {})
    assert response.status_code == 401
    assert response.get_json()["reason"] == "missing_headers"


def test_a_refused_message_does_not_use_up_its_id(secret):
    recorder = Recorder()
    client = create_receiver_app([secret], recorder).test_client()
    assert post(client, sign(generate_secret(), MSG_ID, now(), BODY)).status_code == 401
    assert post(client, sign(secret, MSG_ID, now(), BODY)).status_code == 200
    assert len(recorder.calls) == 1


def test_either_secret_of_a_rotation_is_accepted(secret):
    new = generate_secret()
    recorder = Recorder()
    client = create_receiver_app([new, secret], recorder).test_client()
    assert post(client, sign(secret, MSG_ID, now(), BODY)).status_code == 200
    assert len(recorder.calls) == 1


def test_a_handler_failure_answers_500_and_the_retry_is_handled(secret):
    recorder = Recorder(fail_times=1)
    client = create_receiver_app([secret], recorder).test_client()
    assert post(client, sign(secret, MSG_ID, now(), BODY)).status_code == 500
    assert post(client, sign(secret, MSG_ID, now(), BODY)).status_code == 200
    assert len(recorder.calls) == 1


def test_a_signed_body_that_is_not_a_json_object_is_a_400(secret):
    client = create_receiver_app([secret], Recorder()).test_client()
    body = b"[1, 2]"
    assert post(client, sign(secret, MSG_ID, now(), body), body).status_code == 400


def test_a_receiver_without_a_valid_secret_does_not_start():
    with pytest.raises(ValueError):
        create_receiver_app([], Recorder())
    with pytest.raises(ValueError):
        create_receiver_app(["not-a-secret"], Recorder())
