"""At-least-once delivery made harmless: every message delivered two and three times, and
messages arriving out of order — before the state they announce, or long after the job ended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from infra.topology import DeliveryPolicy
from shared.messages import JOB_STATE_CHANGED, TUNING_REQUESTED, JobMessage
from shared.uploads.notification import storage_notification
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import Receiver, StackDriver, small_dataset
from tests.reliability.stack_faults import registered_receiver, TEST_FUNCTION_ENV, delivery_records, log_entries, transitions

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]


def stack_with_copies(tmp_path_factory, copies: int) -> Iterator[StackDriver]:
    # 3 s ticks: the Firestore emulator locks pessimistically, so tripled ticks every second
    # would mostly measure its lock waits (see tests/e2e/test_duplicate_delivery.py).
    yield from run_stack(tmp_path_factory, twin_engine="fake", fake_step_seconds=0.2, tick_interval_s=3.0,
                         delivery=DeliveryPolicy(min_backoff_s=1, max_backoff_s=3, copies=copies),
                         function_env=dict(TEST_FUNCTION_ENV))


@pytest.fixture(scope="module")
def tripled(tmp_path_factory) -> Iterator[StackDriver]:
    yield from stack_with_copies(tmp_path_factory, copies=3)


@pytest.fixture
def receiver(tripled) -> Iterator[Receiver]:
    yield from registered_receiver(tripled, "again/")


EARLY_EVENT_LOGS = ("job event for a state the job never entered acknowledged", "job event for an unknown job acknowledged")


def publish(driver: StackDriver, topic: str, message: JobMessage) -> None:
    driver.clients.bus.publish(topic, message)


def posts(receiver: Receiver, job_id: str) -> Counter:
    return Counter(r.event for r in receiver.received if r.job_id == job_id and r.status == 200)


def settle(driver: StackDriver, receiver: Receiver, job_id: str) -> dict:
    job = driver.wait_for(job_id, timeout_s=240)
    expected = {"tuning.job.validated", "tuning.job.succeeded"} | ({"tuning.job.running"} if "RUNNING" in transitions(job) else set())
    driver.wait_until(lambda: set(receiver.events_for(job_id)) >= expected, timeout_s=120, what="every webhook")
    return job


def test_every_message_delivered_three_times_yields_one_job_one_vertex_job_one_webhook_per_event(tripled, receiver, outcome):
    job_id = tripled.upload(small_dataset(), prefix="again/thrice", metadata={"tunewire-epochs": "1"})
    job = settle(tripled, receiver, job_id)
    assert job["state"] == "SUCCEEDED", job["history"]
    vertex_jobs = tripled.vertex_jobs_labelled(job_id)
    assert len(vertex_jobs) == 1
    assert len(transitions(job)) == len(set(transitions(job))), transitions(job)
    sent = posts(receiver, job_id)
    assert all(count == 1 for count in sent.values()), sent
    records = delivery_records(tripled, job_id)
    assert len(records) == len(sent) and all(len(r["attempts"]) == 1 for r in records)
    handled = [e for e in log_entries(tripled, "fn-validate_dataset") if e.get("job_id") == job_id]
    assert len(handled) == 3, "each copy of the upload notification was handled"
    outcome.record(
        area="redelivery", fault="every message on every topic delivered three times",
        injected="three push subscriptions per topic (DeliveryPolicy.copies=3)",
        expected="one job, one Vertex job, each transition once, one webhook POST per event",
        observed=f"validate ran {len(handled)}x ({', '.join(sorted({e['message'] for e in handled}))}); "
                 f"{len(vertex_jobs)} Vertex job; {len(transitions(job))} transitions, none repeated; "
                 f"{sum(sent.values())} POSTs for {len(sent)} events",
        copies=3, jobs=1, vertex_jobs=len(vertex_jobs), webhook_posts=sum(sent.values()), events=len(sent),
    )


def test_messages_arriving_before_the_state_they_announce_change_nothing_early(tripled, receiver, outcome):
    settings = tripled.clients.settings
    job_id = tripled.upload(small_dataset(), prefix="again/early", metadata={"tunewire-epochs": "1"})
    for state in ("RUNNING", "SUCCEEDED"):  # announced before the job has even been validated
        publish(tripled, settings.topic_job_events, JobMessage(JOB_STATE_CHANGED, job_id, state=state, reason="early"))
    publish(tripled, settings.topic_tuning_requests, JobMessage(TUNING_REQUESTED, job_id))
    job = settle(tripled, receiver, job_id)
    assert job["state"] == "SUCCEEDED"
    order = [r.event for r in receiver.received if r.job_id == job_id and r.status == 200]
    assert order.index("tuning.job.validated") < order.index("tuning.job.succeeded"), order
    sent = posts(receiver, job_id)
    assert all(count == 1 for count in sent.values()), sent
    assert len(tripled.vertex_jobs_labelled(job_id)) == 1
    refused = [e for e in log_entries(tripled, "fn-notify")
               if e.get("job_id") == job_id and e["message"] in EARLY_EVENT_LOGS]
    assert refused, "the early events were acknowledged with a reason, not sent"
    outcome.record(
        area="redelivery", fault="job events for RUNNING and SUCCEEDED, and a tuning request, arriving before validation",
        injected="published straight to job-events and tuning-requests right after the upload (3 copies each)",
        expected="nothing is sent or launched early; afterwards one webhook per event (Pub/Sub does not order "
                 "them; each payload carries the job's history), one Vertex job",
        observed=f"{len(refused)} early events acknowledged unsent; webhooks arrived as {order}; 1 Vertex job",
        early_events_refused=len(refused), webhook_posts=sum(sent.values()), vertex_jobs=1,
    )


def test_stale_messages_replayed_after_the_job_ended_change_nothing(tripled, receiver, outcome):
    settings = tripled.clients.settings
    job_id = tripled.upload(small_dataset(), prefix="again/late", metadata={"tunewire-epochs": "1"})
    job = settle(tripled, receiver, job_id)
    before_posts = sum(posts(receiver, job_id).values())
    bucket = tripled.clients.storage.bucket(tripled.stack.config.datasets_bucket)
    blob = bucket.get_blob(job["source"]["name"], generation=int(job["source"]["generation"]))
    tripled.clients.bus.publish_raw(settings.topic_dataset_uploads, *storage_notification(blob._properties))
    publish(tripled, settings.topic_tuning_requests, JobMessage(TUNING_REQUESTED, job_id))
    for state in ("VALIDATED", "RUNNING", "SUCCEEDED"):
        publish(tripled, settings.topic_job_events, JobMessage(JOB_STATE_CHANGED, job_id, state=state, reason="replayed"))
    tripled.wait_until(lambda: sum(1 for e in log_entries(tripled, "fn-notify") if e.get("job_id") == job_id) >= 9 + before_posts,
                       timeout_s=90, what="the replayed events handled")
    tripled.wait_until(lambda: sum(1 for e in log_entries(tripled, "fn-launch_tuning") if e.get("job_id") == job_id
                                   and e["message"] == "launch already_done") >= 3, timeout_s=60, what="the replayed request handled")
    after = tripled.clients.jobs.get(job_id)
    assert transitions(after) == transitions(job) and after["state"] == "SUCCEEDED"
    assert sum(posts(receiver, job_id).values()) == before_posts
    assert len(tripled.vertex_jobs_labelled(job_id)) == 1
    outcome.record(
        area="redelivery", fault="the upload notification, a tuning request and three job events replayed after SUCCEEDED",
        injected="published again (3 copies each) once the job had ended",
        expected="no new transition, no new Vertex job, no new webhook POST",
        observed=f"history unchanged ({len(transitions(after))} states), POSTs {before_posts} before and after, 1 Vertex job",
        replayed_messages=5 * 3, new_posts=0, vertex_jobs=1,
    )
