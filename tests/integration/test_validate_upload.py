"""The validate step on real emulators: storage in, Firestore job and Pub/Sub messages out."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from google.cloud import firestore, pubsub_v1, storage

from shared.bus import EventBus
from shared.config import Settings
from shared.jobs.store import JobStore
from shared.pipeline.validate_upload import handle_upload
from shared.uploads.notification import ObjectUpload

pytestmark = pytest.mark.integration
PROJECT = "tunewire-test"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Harness:
    def __init__(self, gcs: storage.Client, suffix: str) -> None:
        self.gcs = gcs
        self.datasets = gcs.create_bucket(f"datasets-{suffix}")
        self.reports = gcs.create_bucket(f"reports-{suffix}")
        self.settings = Settings(
            project=PROJECT,
            reports_bucket=self.reports.name,
            jobs_collection=f"jobs-{suffix}",
            topic_tuning_requests=f"tuning-requests-{suffix}",
            topic_job_events=f"job-events-{suffix}",
        )
        self.store = JobStore(firestore.Client(project=PROJECT), self.settings.jobs_collection)
        publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscriptions = {}
        for topic in (self.settings.topic_tuning_requests, self.settings.topic_job_events):
            topic_path = publisher.create_topic(name=publisher.topic_path(PROJECT, topic)).name
            sub = self.subscriber.subscription_path(PROJECT, f"{topic}-pull")
            self.subscriber.create_subscription(name=sub, topic=topic_path)
            self.subscriptions[topic] = sub
        self.bus = EventBus(self.settings, publisher)

    def upload(self, name: str, body: bytes, metadata: dict | None = None) -> ObjectUpload:
        blob = self.datasets.blob(name)
        blob.metadata = metadata
        blob.upload_from_string(body)
        blob.reload()
        return ObjectUpload(bucket=self.datasets.name, name=name, generation=blob.generation, event_type="OBJECT_FINALIZE",
                            size=blob.size, metadata=dict(blob.metadata or {}))

    def handle(self, upload: ObjectUpload, tokenizer):
        return handle_upload(upload, settings=self.settings, store=self.store, bus=self.bus, storage_client=self.gcs, tokenizer=tokenizer)

    def messages(self, topic: str) -> list[dict]:
        response = self.subscriber.pull(subscription=self.subscriptions[topic], max_messages=50, timeout=10)
        if response.received_messages:
            self.subscriber.acknowledge(subscription=self.subscriptions[topic], ack_ids=[m.ack_id for m in response.received_messages])
        return [json.loads(m.message.data) for m in response.received_messages]


@pytest.fixture
def harness(fake_gcs, firestore_emulator, pubsub_emulator) -> Harness:
    return Harness(storage.Client(project=PROJECT), uuid.uuid4().hex[:10])


def test_a_valid_upload_becomes_a_validated_job_with_a_report_and_a_tuning_request(harness, gemma_tokenizer):
    upload = harness.upload("team/train.jsonl", (EXAMPLES / "sentiment/train.jsonl").read_bytes(), {"tunewire-epochs": "2"})
    outcome = harness.handle(upload, gemma_tokenizer)
    assert outcome.action == "validated"
    job = harness.store.get(outcome.job_id)
    assert job["state"] == "VALIDATED"
    assert [h["state"] for h in job["history"]] == ["RECEIVED", "VALIDATING", "VALIDATED"]
    assert job["settings"]["epochs"] == 2 and job["validation"]["valid"] is True
    assert job["validation"]["examples"] == 280
    report = json.loads(harness.reports.blob(f"reports/{outcome.job_id}.json").download_as_bytes())
    assert report["valid"] is True and report["tokens"]["total"] == job["validation"]["tokens"]
    assert harness.messages(harness.settings.topic_tuning_requests) == [{"type": "tuning.requested", "job_id": outcome.job_id}]
    assert [m["state"] for m in harness.messages(harness.settings.topic_job_events)] == ["VALIDATED"]


def test_an_invalid_upload_becomes_an_invalid_job_with_line_numbers_and_no_tuning_request(harness, gemma_tokenizer):
    upload = harness.upload("team/broken.jsonl", (EXAMPLES / "broken/train.jsonl").read_bytes())
    outcome = harness.handle(upload, gemma_tokenizer)
    assert outcome.action == "invalid"
    job = harness.store.get(outcome.job_id)
    assert job["state"] == "INVALID"
    first = job["validation"]["first_errors"][0]
    assert first["code"] == "INVALID_JSON" and first["line"] == 2
    assert "line 2" in job["history"][-1]["reason"]
    assert harness.messages(harness.settings.topic_tuning_requests) == []
    assert [m["state"] for m in harness.messages(harness.settings.topic_job_events)] == ["INVALID"]


def test_a_redelivered_upload_creates_no_second_job_and_republishes_safely(harness, gemma_tokenizer):
    upload = harness.upload("again/train.jsonl", (EXAMPLES / "sentiment/train.jsonl").read_bytes())
    first = harness.handle(upload, gemma_tokenizer)
    second = harness.handle(upload, gemma_tokenizer)
    assert second.job_id == first.job_id and second.action == "republished"
    assert len(harness.store.get(first.job_id)["history"]) == 3


def test_bad_settings_in_metadata_make_the_job_invalid_with_the_key_named(harness, gemma_tokenizer):
    upload = harness.upload("meta/train.jsonl", (EXAMPLES / "sentiment/train.jsonl").read_bytes(),
                            {"tunewire-epoch": "3", "tunewire-adapter-size": "32"})
    outcome = harness.handle(upload, gemma_tokenizer)
    job = harness.store.get(outcome.job_id)
    assert job["state"] == "INVALID"
    assert set(job["validation"]["error_counts"]) == {"UNKNOWN_SETTING", "ADAPTER_SIZE_NOT_ALLOWED"}


def test_a_manifest_names_training_and_validation_files_in_its_folder(harness, gemma_tokenizer):
    harness.upload("exp/train.jsonl", (EXAMPLES / "sentiment/train.jsonl").read_bytes(), {"tunewire-role": "data"})
    harness.upload("exp/val.jsonl", (EXAMPLES / "sentiment/validation.jsonl").read_bytes(), {"tunewire-role": "data"})
    manifest = harness.upload("exp/run.tunewire.json", json.dumps({"training": "train.jsonl", "validation": "val.jsonl", "epochs": 1}).encode())
    outcome = harness.handle(manifest, gemma_tokenizer)
    job = harness.store.get(outcome.job_id)
    assert job["state"] == "VALIDATED"
    assert job["training_uri"] == f"gs://{harness.datasets.name}/exp/train.jsonl"
    assert job["settings"]["validation_uri"] == f"gs://{harness.datasets.name}/exp/val.jsonl"


def test_data_only_files_and_other_objects_start_no_job(harness, gemma_tokenizer):
    data = harness.upload("exp2/train.jsonl", b"{}", {"tunewire-role": "data"})
    notes = harness.upload("exp2/README.txt", b"hello")
    assert harness.handle(data, gemma_tokenizer).action == "ignored"
    assert harness.handle(notes, gemma_tokenizer).action == "ignored"
    deleted = replace(data, event_type="OBJECT_DELETE", metadata={})
    assert harness.handle(deleted, gemma_tokenizer).action == "ignored"


def test_a_manifest_pointing_at_a_missing_file_is_invalid_not_lost(harness, gemma_tokenizer):
    manifest = harness.upload("exp3/run.tunewire.json", json.dumps({"training": "nope.jsonl"}).encode())
    outcome = harness.handle(manifest, gemma_tokenizer)
    job = harness.store.get(outcome.job_id)
    assert job["state"] == "INVALID"
    assert job["validation"]["error_counts"] == {"DATASET_UNREADABLE": 1}


def test_an_upload_whose_validation_keeps_dying_ends_invalid_with_a_coded_reason(harness, gemma_tokenizer, mocker):
    upload = harness.upload("dies/train.jsonl", (EXAMPLES / "sentiment/train.jsonl").read_bytes())
    crash = mocker.patch("shared.pipeline.validate_upload.validate_dataset", side_effect=MemoryError("killed"))
    for _ in range(harness.settings.max_validation_attempts):
        with pytest.raises(MemoryError):
            harness.handle(upload, gemma_tokenizer)
    outcome = harness.handle(upload, gemma_tokenizer)  # the next redelivery gives up
    assert crash.call_count == harness.settings.max_validation_attempts
    job = harness.store.get(outcome.job_id)
    assert job["state"] == "INVALID" and job["error"]["code"] == "VALIDATION_DID_NOT_FINISH"
    assert job["validation_attempts"] == harness.settings.max_validation_attempts
    assert job["outbox"] == ["INVALID"]
    assert [m["state"] for m in harness.messages(harness.settings.topic_job_events)] == ["INVALID"]


def test_a_verdict_puts_its_event_in_the_outbox_until_notify_receives_it(harness, gemma_tokenizer):
    from shared.jobs.states import JobState

    outcome = harness.handle(harness.upload("box/train.jsonl", (EXAMPLES / "sentiment/train.jsonl").read_bytes()), gemma_tokenizer)
    assert harness.store.get(outcome.job_id)["outbox"] == ["VALIDATED"]
    assert outcome.job_id in [job["id"] for job in harness.store.jobs_with_unsent_events()]
    harness.store.event_received(outcome.job_id, JobState.VALIDATED)
    assert harness.store.get(outcome.job_id)["outbox"] == []
    assert outcome.job_id not in [job["id"] for job in harness.store.jobs_with_unsent_events()]


def test_an_upload_to_another_bucket_starts_no_job(harness, gemma_tokenizer):
    upload = harness.upload("elsewhere/train.jsonl", (EXAMPLES / "sentiment/train.jsonl").read_bytes())
    settings = replace(harness.settings, datasets_bucket="the-real-datasets-bucket")
    outcome = handle_upload(upload, settings=settings, store=harness.store, bus=harness.bus, storage_client=harness.gcs,
                            tokenizer=gemma_tokenizer)
    assert outcome.action == "ignored" and "is not the datasets bucket" in outcome.reason
    assert list(harness.store._collection.stream()) == []


def test_an_upload_whose_notification_was_lost_is_redriven_by_the_reconciler_and_validated(harness, gemma_tokenizer):
    """The stale VALIDATING job's notification is published again with the object's metadata, and
    the validate step takes it like the original."""
    import base64
    import time

    from shared.jobs.identity import job_id_for_upload
    from shared.jobs.states import JobState
    from shared.pipeline.reconcile import REDRIVEN_ATTRIBUTE, reconcile
    from shared.uploads.notification import parse_storage_notification

    upload = harness.upload("lost/train.jsonl", (EXAMPLES / "sentiment/train.jsonl").read_bytes(), {"tunewire-epochs": "2"})
    job_id = job_id_for_upload(upload.bucket, upload.name, upload.generation)
    source = {"bucket": upload.bucket, "name": upload.name, "generation": str(upload.generation)}
    harness.store.create_if_absent(job_id, {"source": source}, reason="dataset uploaded")
    harness.store.transition(job_id, JobState.VALIDATING, reason="validation started")  # ...then the message was lost

    settings = replace(harness.settings, topic_dataset_uploads=f"uploads-{uuid.uuid4().hex[:8]}", validation_stale_s=0)
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.create_topic(name=publisher.topic_path(PROJECT, settings.topic_dataset_uploads)).name
    subscription = harness.subscriber.subscription_path(PROJECT, f"{settings.topic_dataset_uploads}-pull")
    harness.subscriber.create_subscription(name=subscription, topic=topic)
    time.sleep(0.01)  # strictly after the job's last change
    summary = reconcile(store=harness.store, bus=EventBus(settings, publisher), settings=settings, storage_client=harness.gcs)
    assert summary.uploads_redriven == [job_id] and harness.store.get(job_id)["redriven"]["upload"]

    [received] = harness.subscriber.pull(subscription=subscription, max_messages=5, timeout=10).received_messages
    assert received.message.attributes[REDRIVEN_ATTRIBUTE] == "reconcile"
    redriven = parse_storage_notification({"data": base64.b64encode(received.message.data).decode(),
                                           "attributes": dict(received.message.attributes)})
    assert (redriven.bucket, redriven.name, redriven.generation) == (upload.bucket, upload.name, upload.generation)
    outcome = harness.handle(redriven, gemma_tokenizer)
    job = harness.store.get(job_id)
    assert outcome.action == "validated" and job["state"] == "VALIDATED" and job["settings"]["epochs"] == 2
