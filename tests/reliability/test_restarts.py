"""The stack's own parts restarting mid-run: the Pub/Sub emulator (which forgets everything), the
Firestore emulator (documents kept through export and import) and the tuning twin mid-training.
Each job still ends SUCCEEDED with one Vertex job and every webhook delivered once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.topology import DeliveryPolicy
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import Receiver, StackDriver, small_dataset
from tests.reliability.stack_faults import registered_receiver, TEST_FUNCTION_ENV, log_entries, transitions, webhook_ids_by_event

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

DOWN_S = 5.0


@pytest.fixture(scope="module")
def restarting(tmp_path_factory) -> Iterator[StackDriver]:
    yield from run_stack(
        tmp_path_factory,
        twin_engine="fake",
        fake_step_seconds=0.5,
        delivery=DeliveryPolicy(min_backoff_s=1, max_backoff_s=5, max_delivery_attempts=30),
        function_env=dict(TEST_FUNCTION_ENV),
    )


@pytest.fixture
def receiver(restarting) -> Iterator[Receiver]:
    yield from registered_receiver(restarting, "restart/")


def running_job(driver: StackDriver, name: str) -> str:
    job_id = driver.upload(small_dataset(24), prefix=f"restart/{name}", metadata={"tunewire-epochs": "3"})
    driver.wait_for(job_id, {"RUNNING"}, timeout_s=120)
    return job_id


def finish(driver: StackDriver, receiver: Receiver, job_id: str) -> dict:
    job = driver.wait_for(job_id, timeout_s=240)
    assert job["state"] == "SUCCEEDED", job["history"]
    wanted = {"tuning.job.validated", "tuning.job.running", "tuning.job.succeeded"}
    driver.wait_until(lambda: set(webhook_ids_by_event(receiver, job_id)) == wanted, timeout_s=120, what="every webhook")
    ids = webhook_ids_by_event(receiver, job_id)
    assert all(len(one) == 1 for one in ids.values()), ids
    assert len(transitions(job)) == len(set(transitions(job)))
    assert len(driver.vertex_jobs_labelled(job_id)) == 1
    return job


def test_a_pubsub_emulator_restart_mid_training_loses_no_job_and_no_event(restarting, receiver, outcome):
    job_id = running_job(restarting, "pubsub")
    restarting.stack.restart("pubsub-emulator", down_s=DOWN_S)
    job = finish(restarting, receiver, job_id)
    after = restarting.upload(small_dataset(), prefix="restart/after-pubsub", metadata={"tunewire-epochs": "1"})
    later = finish(restarting, receiver, after)
    missed_ticks = sum("tick not published" in line for line in
                       restarting.log("scheduler-ticker").splitlines())
    outcome.record(
        area="restart", fault=f"Pub/Sub emulator stopped for {DOWN_S:.0f} s mid-training and started empty",
        injected="LocalStack.restart('pubsub-emulator'): topics and subscriptions created again; held messages gone",
        expected="the running job and an upload made afterwards both end SUCCEEDED; every webhook once",
        observed=f"{job['state']} and {later['state']}; {missed_ticks} ticks missed while down; one webhook-id per event",
        jobs=2, missed_ticks=missed_ticks, vertex_jobs=2,
    )


def test_a_firestore_emulator_restart_mid_training_keeps_every_document(restarting, receiver, outcome):
    job_id = running_job(restarting, "firestore")
    before = restarting.clients.jobs.get(job_id)
    restarting.stack.restart("firestore-emulator", down_s=DOWN_S)
    job = finish(restarting, receiver, job_id)
    assert transitions(job)[: len(transitions(before))] == transitions(before)
    outcome.record(
        area="restart", fault=f"Firestore emulator stopped for {DOWN_S:.0f} s mid-training",
        injected="LocalStack.restart('firestore-emulator'): export, stop, start with the export imported",
        expected="functions fail while it is down and Pub/Sub retries them; afterwards the job ends SUCCEEDED with its history intact",
        observed=f"{job['state']}; history {len(transitions(job))} states, the first {len(transitions(before))} unchanged",
        jobs=1, history_states=len(transitions(job)), vertex_jobs=1,
    )


def test_a_twin_restart_mid_training_resumes_the_same_vertex_job(restarting, receiver, outcome):
    job_id = running_job(restarting, "twin")
    name = restarting.clients.jobs.get(job_id)["vertex"]["job_name"]
    restarting.stack.restart("tuning-twin", down_s=DOWN_S)
    job = finish(restarting, receiver, job_id)
    assert job["vertex"]["job_name"] == name
    poll_errors = sum(len(entry.get("errors") or []) for entry in log_entries(restarting, "fn-poll_jobs") if entry["message"] == "poll tick")
    outcome.record(
        area="restart", fault=f"tuning twin (Vertex AI) stopped for {DOWN_S:.0f} s mid-training",
        injected="LocalStack.restart('tuning-twin'); the job resumes from its last checkpoint",
        expected="polls fail while it is down (logged, retried next tick); the same Vertex job ends SUCCEEDED",
        observed=f"{job['state']} on the same Vertex job; {poll_errors} failed reads logged while down",
        jobs=1, vertex_jobs=1, poll_errors=poll_errors,
    )
