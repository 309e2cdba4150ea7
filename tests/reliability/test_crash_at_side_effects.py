"""A function killed between two side effects — the moment at-least-once handling exists for.

Each test arms one crash point (shared/faults.py), uploads, waits for the function to die there
(exit code 86, nothing acknowledged), starts it again as the platform would, and checks the
contract afterwards: one job, one Vertex job, each transition committed once, every event
delivered under one webhook-id, the job terminal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.topology import DeliveryPolicy
from shared import faults
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import Receiver, StackDriver, small_dataset
from tests.reliability.stack_faults import (
    registered_receiver,
    crash_points_file,
    delivery_records,
    function_env,
    log_entries,
    posts_per_event,
    transitions,
    wait_for_crash,
    webhook_ids_by_event,
)

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

REQUIRED_EVENTS = {"tuning.job.validated", "tuning.job.succeeded"}
"""Always sent; `running` too unless the job finished before a tick saw it running."""


@pytest.fixture(scope="module")
def crashing(tmp_path_factory) -> Iterator[StackDriver]:
    yield from run_stack(
        tmp_path_factory,
        twin_engine="fake",
        fake_step_seconds=0.3,
        delivery=DeliveryPolicy(min_backoff_s=1, max_backoff_s=3, max_delivery_attempts=20),
        function_env=function_env(tmp_path_factory.mktemp("crash-points")),
    )


@pytest.fixture
def receiver(crashing) -> Iterator[Receiver]:
    yield from registered_receiver(crashing, "crash/")


def run_crash(driver: StackDriver, receiver: Receiver, point: str, component: str) -> dict:
    faults.arm(crash_points_file(driver), point)
    job_id = driver.upload(small_dataset(), prefix=f"crash/{point}", metadata={"tunewire-epochs": "1"})
    wait_for_crash(driver, component, point)
    job = driver.wait_for(job_id, timeout_s=240)
    driver.wait_until(lambda: announced(job) <= set(posts_per_event(receiver, job_id)), timeout_s=120, what="every webhook")
    assert faults.remaining(crash_points_file(driver), point) == 0
    return job


def announced(job: dict) -> set[str]:
    """The events a job's transitions call for."""
    return REQUIRED_EVENTS | ({"tuning.job.running"} if "RUNNING" in transitions(job) else set())


def check_contract(driver: StackDriver, receiver: Receiver, job: dict) -> dict:
    job_id = job["id"]
    vertex_jobs = driver.vertex_jobs_labelled(job_id)
    assert job["state"] == "SUCCEEDED", job["history"]
    assert len(vertex_jobs) == 1
    assert len(transitions(job)) == len(set(transitions(job))), transitions(job)
    ids = webhook_ids_by_event(receiver, job_id)
    expected = announced(job)
    assert set(ids) == expected and all(len(one) == 1 for one in ids.values()), ids
    driver.wait_until(lambda: {r.get("status") for r in delivery_records(driver, job_id)} == {"delivered"}
                      and len(delivery_records(driver, job_id)) == len(expected), timeout_s=90, what="every delivery logged")
    records = delivery_records(driver, job_id)
    assert sorted(r["event"] for r in records) == sorted(expected) and {r["status"] for r in records} == {"delivered"}
    same_upload = FieldFilter("source.name", "==", job["source"]["name"])
    jobs = [s.id for s in driver.clients.firestore.collection("jobs").where(filter=same_upload).stream()]
    assert jobs == [job_id]
    return {"jobs": len(jobs), "vertex_jobs": len(vertex_jobs), "events": len(ids),
            "posts": sum(posts_per_event(receiver, job_id).values())}


def test_launch_killed_after_the_vertex_create_and_before_the_commit_leaves_one_vertex_job(crashing, receiver, outcome):
    job = run_crash(crashing, receiver, "launch.after_vertex_create", "fn-launch_tuning")
    counts = check_contract(crashing, receiver, job)
    launched = next(h["reason"] for h in job["history"] if h["state"] in ("PENDING", "RUNNING"))
    assert launched.startswith("found existing Vertex AI tuning job"), launched
    outcome.record(
        area="crash", fault="launch_tuning killed after the Vertex create, before the Firestore commit",
        injected="crash point launch.after_vertex_create (os._exit, nothing acknowledged); gunicorn starts a new worker, as the platform starts an instance",
        expected="one Vertex job; once the dead launcher's lease expires the poll tick requests the launch again, "
                 "which finds the job by label; SUCCEEDED; one webhook per event",
        observed=f"{counts['vertex_jobs']} Vertex job, relaunch said '{launched[:40]}...', SUCCEEDED, "
                 f"{counts['events']} events under one webhook-id each",
        **counts,
    )


def test_notify_killed_after_the_post_and_before_logging_it_redelivers_under_the_same_webhook_id(crashing, receiver, outcome):
    job = run_crash(crashing, receiver, "notify.after_post", "fn-notify")
    counts = check_contract(crashing, receiver, job)
    posts = Counter(r.event for r in receiver.received if r.job_id == job["id"] and r.status == 200)
    assert posts["tuning.job.validated"] == 2, posts  # the POST before the crash, and the redelivery
    assert len({r.webhook_id for r in receiver.received if r.event == "tuning.job.validated" and r.job_id == job["id"]}) == 1
    assert posts["tuning.job.succeeded"] == 1 and posts["tuning.job.running"] <= 1
    outcome.record(
        area="crash", fault="notify killed after the webhook POST, before the delivery was logged",
        injected="crash point notify.after_post on the first event; a new worker takes over",
        expected="the event is delivered again under the same webhook-id (receivers dedupe on it); "
                 "one delivery record per (job, event, endpoint), all delivered",
        observed=f"validated POSTed {posts['tuning.job.validated']}x under 1 webhook-id; other events 1x; "
                 f"{counts['events']} delivery records, all delivered",
        duplicate_posts_same_id=posts["tuning.job.validated"] - 1, **counts,
    )


def test_validate_killed_after_its_verdict_commit_and_before_publishing_still_launches(crashing, receiver, outcome):
    job = run_crash(crashing, receiver, "validate.after_verdict_commit", "fn-validate_dataset")
    counts = check_contract(crashing, receiver, job)
    republished = [e for e in log_entries(crashing, "fn-validate_dataset") if e.get("job_id") == job["id"] and e["message"] == "upload republished"]
    assert republished, "the redelivered upload found the verdict and published again"
    outcome.record(
        area="crash", fault="validate_dataset killed after committing VALIDATED, before publishing",
        injected="crash point validate.after_verdict_commit; a new worker takes over",
        expected="the redelivered notification finds VALIDATED and publishes again; one job; SUCCEEDED",
        observed=f"republished {len(republished)}x, {counts['jobs']} job, {counts['vertex_jobs']} Vertex job, SUCCEEDED",
        republished=len(republished), **counts,
    )


def test_poll_killed_after_a_transition_commit_loses_no_event(crashing, receiver, outcome):
    job = run_crash(crashing, receiver, "poll.after_transition_commit", "fn-poll_jobs")
    counts = check_contract(crashing, receiver, job)
    repaired = [e for e in log_entries(crashing, "fn-poll_jobs") if e["message"] == "reconciled"
                and any(item[0] == job["id"] for item in e.get("events_republished", []))]
    assert repaired, "the reconciler published the event the crash left in the outbox"
    assert crashing.clients.jobs.get(job["id"]).get("outbox") == []
    outcome.record(
        area="crash", fault="poll_jobs killed after committing a state change, before publishing its event",
        injected="crash point poll.after_transition_commit; a new worker takes over",
        expected="the event stays in the job's outbox; a later tick publishes it; webhook delivered once",
        observed=f"reconciler republished it ({len(repaired)} tick); outbox empty; {counts['events']} events, one webhook-id each",
        reconcile_ticks=len(repaired), **counts,
    )


def test_validate_killed_mid_stream_validates_again_and_finishes(crashing, receiver, outcome):
    big = small_dataset(280) * 300  # ~32 MB: several seconds of validation to kill it in
    job_id = crashing.upload(big, prefix="crash/mid-stream", metadata={"tunewire-epochs": "1"})
    crashing.wait_until(lambda: (crashing.clients.jobs.get(job_id) or {}).get("state") == "VALIDATING",
                        timeout_s=60, what="validation to start")
    assert crashing.clients.jobs.get(job_id)["state"] == "VALIDATING"
    crashing.stack.kill("fn-validate_dataset")
    crashing.stack.restart("fn-validate_dataset")
    job = crashing.wait_for(job_id, {"VALIDATED", "LAUNCHING", "PENDING", "RUNNING", "SUCCEEDED", "INVALID", "FAILED"}, timeout_s=180)
    assert job["state"] != "INVALID", job["history"]
    assert job["validation_attempts"] == 2, "the killed attempt and the one that finished"
    assert transitions(job)[:3] == ["RECEIVED", "VALIDATING", "VALIDATED"]
    assert len(crashing.vertex_jobs_labelled(job_id)) <= 1
    outcome.record(
        area="crash", fault=f"validate_dataset killed (SIGKILL of its process group) while streaming a {len(big) / 1e6:.0f} MB upload",
        injected="LocalStack.kill during VALIDATING; a new worker takes over",
        expected="Pub/Sub redelivers; validation runs again from the start; one job; VALIDATED",
        observed=f"validation_attempts={job['validation_attempts']}, one job, reached {job['state']}",
        validation_attempts=job["validation_attempts"], jobs=1,
    )
