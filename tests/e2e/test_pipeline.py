"""The product, end to end on the local stack: upload → validate → tune (tiny Gemma, real torch)
→ poll → Firestore → signed webhooks."""

from __future__ import annotations

import json

import pytest
import requests

from tests.e2e.stack_helpers import EXAMPLES, Receiver, small_dataset

pytestmark = pytest.mark.e2e


def test_a_valid_upload_ends_succeeded_with_an_endpoint_and_verified_webhooks(stack, receiver):
    job_id = stack.upload(small_dataset(), prefix="e2e/valid", metadata={"tunewire-epochs": "1"})
    job = stack.wait_for(job_id)
    assert job["state"] == "SUCCEEDED", job.get("history")
    assert [h["state"] for h in job["history"]][:3] == ["RECEIVED", "VALIDATING", "VALIDATED"]
    assert job["tuned_model"]["endpoint"] and job["vertex"]["state"] == "JOB_STATE_SUCCEEDED"
    stack.wait_until(lambda: "tuning.job.succeeded" in receiver.events_for(job_id), what="the succeeded webhook")
    events = receiver.events_for(job_id)
    assert events[0] == "tuning.job.validated" and "tuning.job.running" in events
    assert len(events) == len(set(events)), "one delivery per (job, event)"
    succeeded = next(e for e in receiver.events if e["data"]["job_id"] == job_id and e["type"] == "tuning.job.succeeded")
    assert succeeded["data"]["tuned_model"]["endpoint"] == job["tuned_model"]["endpoint"]
    url = f"{stack.stack.twin_url}/v1/{job['tuned_model']['endpoint']}:generateContent"
    answer = requests.post(url, json={"contents": [{"role": "user", "parts": [{"text": "Great blender!"}]}],
                                      "generationConfig": {"maxOutputTokens": 8}}, timeout=60).json()
    assert answer["candidates"][0]["content"]["role"] == "model"
    assert answer["usageMetadata"]["promptTokenCount"] > 0


def test_an_invalid_upload_ends_invalid_with_line_numbers_and_a_webhook(stack, receiver):
    job_id = stack.upload(EXAMPLES / "broken" / "train.jsonl", prefix="e2e/invalid")
    job = stack.wait_for(job_id)
    assert job["state"] == "INVALID"
    lines = [error["line"] for error in job["validation"]["first_errors"]]
    assert lines[0] == 2 and all(isinstance(line, int) for line in lines)
    report = json.loads(stack.clients.storage.bucket(stack.stack.config.reports_bucket).blob(f"reports/{job_id}.json").download_as_bytes())
    assert report["error_counts"] == job["validation"]["error_counts"]
    stack.wait_until(lambda: receiver.events_for(job_id) == ["tuning.job.invalid"], what="the invalid webhook")
    payload = next(e for e in receiver.events if e["data"]["job_id"] == job_id)
    assert payload["data"]["validation"]["valid"] is False


def test_a_manifest_with_a_validation_file_is_tuned_with_both(stack, receiver):
    prefix = "e2e/manifest"
    data = {"tunewire-role": "data"}
    folder = f"{prefix}/run1"
    bucket = stack.clients.storage.bucket(stack.stack.config.datasets_bucket)
    for name, body in (("train.jsonl", small_dataset(12)), ("val.jsonl", small_dataset(4))):
        blob = bucket.blob(f"{folder}/{name}")
        blob.metadata = data
        blob.upload_from_string(body)
    manifest = json.dumps({"training": "train.jsonl", "validation": "val.jsonl", "epochs": 1, "display_name": "manifest run"})
    blob = bucket.blob(f"{folder}/run.tunewire.json")
    blob.upload_from_string(manifest)
    from shared.jobs.identity import job_id_for_upload

    job_id = job_id_for_upload(bucket.name, blob.name, blob.generation)
    job = stack.wait_for(job_id)
    assert job["state"] == "SUCCEEDED", job.get("history")
    assert job["settings"]["validation_uri"].endswith(f"{folder}/val.jsonl")
    assert job["training_uri"].endswith(f"{folder}/train.jsonl")
    from google.cloud.firestore_v1.base_query import FieldFilter

    jobs = stack.clients.firestore.collection("jobs")
    names = {f"{folder}/train.jsonl", f"{folder}/val.jsonl"}
    assert not list(jobs.where(filter=FieldFilter("source.name", "in", sorted(names))).stream()), "data-only files start no job"


def test_cancel_after_launch_cancels_on_vertex_and_ends_cancelled_with_a_webhook(stack, receiver):
    from shared.pipeline.cancel_job import cancel_job

    job_id = stack.upload(small_dataset(40), prefix="e2e/cancel", metadata={"tunewire-epochs": "30"})
    stack.wait_for(job_id, {"RUNNING"})
    outcome = cancel_job(job_id, store=stack.clients.jobs, bus=stack.clients.bus, vertex=stack.clients.vertex)
    assert outcome.action == "cancelling"
    job = stack.wait_for(job_id)
    assert job["state"] == "CANCELLED" and job["vertex"]["state"] == "JOB_STATE_CANCELLED"
    stack.wait_until(lambda: "tuning.job.cancelled" in receiver.events_for(job_id), what="the cancelled webhook")


def test_a_receiver_failing_twice_then_succeeding_gets_the_event_with_three_attempts_logged(stack):
    flaky = Receiver()
    try:
        flaky.fail_next = 2
        stack.clients.endpoints.add(flaky.url, prefix="flaky/", secret=flaky.secret)
        job_id = stack.upload(EXAMPLES / "broken" / "train.jsonl", prefix="flaky/run")
        stack.wait_for(job_id)
        stack.wait_until(lambda: flaky.events_for(job_id) == ["tuning.job.invalid"], timeout_s=60, what="the third attempt")
        stack.wait_until(lambda: len([d for d in stack.clients.jobs.get(job_id).get("deliveries", []) if d["outcome"] == "delivered"]) == 1,
                         what="the delivery log")
        attempts = [(d["attempt"], d["status"]) for d in stack.clients.jobs.get(job_id)["deliveries"] if d["endpoint_id"] != "upload"]
        assert attempts == [(1, 503), (2, 503), (3, 200)]
    finally:
        flaky.close()


def test_a_receiver_that_always_fails_sends_the_event_to_the_dead_letter_topic(stack):
    down = Receiver()
    try:
        down.always_fail = True
        stack.clients.endpoints.add(down.url, prefix="down/", secret=down.secret)
        job_id = stack.upload(EXAMPLES / "broken" / "train.jsonl", prefix="down/run")
        stack.wait_for(job_id)
        dead: list[dict] = []
        stack.wait_until(lambda: dead.extend(stack.dead_letters("job-events")) or any(m["job_id"] == job_id for m in dead),
                         timeout_s=90, what="the dead letter")
        assert down.requests >= 5
    finally:
        down.close()
