"""Vertex AI misbehaving, played by the twin's injected faults (infra/twin/faults.py) on the
running stack: transient answers (429, 500, 503, timeouts) are retried with backoff and the job
survives with one Vertex job; a 400 fails the job with Vertex's message; a job held PENDING past
the limit is reported."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from infra.topology import DeliveryPolicy
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import Receiver, StackDriver, small_dataset
from tests.reliability.stack_faults import registered_receiver, TEST_FUNCTION_ENV, log_entries, transitions

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

VERTEX_TIMEOUT_S = float(TEST_FUNCTION_ENV["TUNEWIRE_VERTEX_TIMEOUT_S"])


@pytest.fixture(scope="module")
def flaky(tmp_path_factory) -> Iterator[StackDriver]:
    yield from run_stack(
        tmp_path_factory,
        twin_engine="fake",
        fake_step_seconds=0.2,
        max_concurrent_jobs=1,
        quota_mode="queue",
        delivery=DeliveryPolicy(min_backoff_s=1, max_backoff_s=3, max_delivery_attempts=20),
        function_env={**TEST_FUNCTION_ENV, "TUNEWIRE_PENDING_ALERT_S": "3"},
    )


@pytest.fixture
def receiver(flaky) -> Iterator[Receiver]:
    yield from registered_receiver(flaky, "vertex/")


def twin_faults(driver: StackDriver, method: str = "GET", rule: dict | None = None) -> dict:
    body = json.dumps(rule).encode() if rule is not None else None
    request = urllib.request.Request(f"{driver.stack.twin_url}/twin/faults", data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def injected_since(driver: StackDriver, before: int) -> list[dict]:
    return twin_faults(driver)["injected"][before:]


def launch_lines(driver: StackDriver, job_id: str) -> list[str]:
    return [entry["message"] for entry in log_entries(driver, "fn-launch_tuning") if entry.get("job_id") == job_id]


def launch_raises(driver: StackDriver) -> int:
    return driver.log("fn-launch_tuning").count("Traceback (most recent call last)")


CREATE_FAULTS = [
    pytest.param({"operation": "create", "answer": 429, "times": 2}, id="create-429-twice"),
    pytest.param({"operation": "create", "answer": 503, "times": 3}, id="create-503-three-times"),
    pytest.param({"operation": "create", "answer": 500, "when": "after"}, id="create-500-after-creating"),
    pytest.param({"operation": "create", "answer": "timeout", "when": "after", "delay_s": VERTEX_TIMEOUT_S + 2}, id="create-timeout-after-creating"),
    pytest.param({"operation": "get", "answer": 503, "times": 6}, id="get-503-six-times"),
    pytest.param({"operation": "get", "answer": 500, "times": 4}, id="get-500-four-times"),
    pytest.param({"operation": "get", "answer": "timeout", "times": 2, "delay_s": VERTEX_TIMEOUT_S + 1}, id="get-timeout-twice"),
    pytest.param({"operation": "list", "answer": 503, "times": 2}, id="list-503-twice"),
]


@pytest.mark.parametrize("rule", CREATE_FAULTS)
def test_a_transient_vertex_fault_is_retried_and_the_job_succeeds_with_one_vertex_job(flaky, receiver, outcome, rule):
    twin_faults(flaky, "DELETE")
    before = len(twin_faults(flaky)["injected"])
    raises_before = launch_raises(flaky)
    twin_faults(flaky, "POST", rule)
    job_id = flaky.upload(small_dataset(), prefix="vertex/transient", metadata={"tunewire-epochs": "1"})
    job = flaky.wait_for(job_id, timeout_s=180)
    hit = injected_since(flaky, before)
    assert job["state"] == "SUCCEEDED", job["history"]
    assert len(hit) == rule.get("times", 1), hit
    assert len(flaky.vertex_jobs_labelled(job_id)) == 1
    assert len(transitions(job)) == len(set(transitions(job)))
    flaky.wait_until(lambda: "tuning.job.succeeded" in receiver.events_for(job_id), what="the succeeded webhook")
    raised = launch_raises(flaky) - raises_before
    answer = rule["answer"]
    outcome.record(
        area="vertex faults",
        fault=f"Vertex {rule['operation']} answers {answer}" + (" after creating the job" if rule.get("when") == "after" else "")
              + f" ({rule.get('times', 1)}x)",
        injected=f"twin /twin/faults rule {json.dumps(rule)}",
        expected="retried with backoff (reads in the client; creates by Pub/Sub redelivery, which looks for the labelled job "
                 "first); the job SUCCEEDED with one Vertex job",
        observed=f"{len(hit)} faults injected, launch raised {raised}x, SUCCEEDED, "
                 f"{len(flaky.vertex_jobs_labelled(job_id))} Vertex job, launches logged: {', '.join(launch_lines(flaky, job_id))}",
        faults_injected=len(hit), launch_raises=raised, vertex_jobs=1,
    )


def test_a_create_refused_with_400_fails_the_job_with_vertex_message_and_a_webhook(flaky, receiver, outcome):
    twin_faults(flaky, "DELETE")
    twin_faults(flaky, "POST", {"operation": "create", "answer": 400})
    job_id = flaky.upload(small_dataset(), prefix="vertex/refused", metadata={"tunewire-epochs": "1"})
    job = flaky.wait_for(job_id, timeout_s=120)
    assert job["state"] == "FAILED"
    assert "400" in job["error"]["message"] and "invalid argument" in job["error"]["message"].lower()
    flaky.wait_until(lambda: "tuning.job.failed" in receiver.events_for(job_id), what="the failed webhook")
    failed = next(e for e in receiver.events if e["type"] == "tuning.job.failed" and e["data"]["job_id"] == job_id)
    assert "invalid argument" in json.dumps(failed["data"]).lower()
    assert flaky.vertex_jobs_labelled(job_id) == []
    outcome.record(
        area="vertex faults", fault="Vertex create answers 400 INVALID_ARGUMENT",
        injected='twin /twin/faults rule {"operation": "create", "answer": 400}',
        expected="permanent: no retry; the job FAILED with Vertex's message; tuning.job.failed webhook",
        observed=f"FAILED on the first launch: {job['error']['message'][:80]!r}; failed webhook delivered; 0 Vertex jobs",
        vertex_jobs=0, launch_attempts=len(launch_lines(flaky, job_id)),
    )


def test_a_job_held_pending_past_the_limit_is_reported_stuck_and_still_finishes(flaky, receiver, outcome):
    twin_faults(flaky, "DELETE")
    holder = flaky.upload(small_dataset(24), prefix="vertex/holder", metadata={"tunewire-epochs": "8"})
    flaky.wait_for(holder, {"RUNNING"}, timeout_s=120)
    waiting = flaky.upload(small_dataset(), prefix="vertex/waiting", metadata={"tunewire-epochs": "1"})
    flaky.wait_until(lambda: (flaky.clients.jobs.get(waiting) or {}).get("stuck"), timeout_s=90, what="the stuck report")
    stuck = flaky.clients.jobs.get(waiting)
    assert stuck["state"] == "PENDING" and stuck["stuck"]["state"] == "PENDING"
    assert "PENDING on Vertex AI for" in stuck["stuck"]["reason"]
    reports = [e for e in log_entries(flaky, "fn-poll_jobs") if e["message"] == "poll tick" and waiting in e.get("stuck_reported", [])]
    assert len(reports) == 1, "reported once, not on every tick"
    job = flaky.wait_for(waiting, timeout_s=180)
    assert job["state"] == "SUCCEEDED"
    outcome.record(
        area="vertex faults", fault="a job held PENDING (the twin's only training slot busy) past the 3 s limit",
        injected="max_concurrent_jobs=1, a long job first, TUNEWIRE_PENDING_ALERT_S=3",
        expected="reported once (job.stuck + a WARNING 'poll tick' log line), kept polling, SUCCEEDED when the slot frees",
        observed=f"stuck reported {len(reports)}x: {stuck['stuck']['reason'][:60]!r}...; then {job['state']}",
        stuck_reports=len(reports),
    )
