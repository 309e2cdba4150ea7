"""Hostile and broken webhook receivers, on the real local stack: down for minutes, down for
good, slower than the delivery timeout, redirecting, and gone (410).

Each case checks three records against each other: the requests that reached the receiver
(``Receiver.received``), the delivery record of each (job, event, endpoint) in
``webhook_deliveries`` (one entry per attempt), and the job's own ``deliveries`` log.
The fast stack sets the delivery timeout (TUNEWIRE_WEBHOOK_TIMEOUT_S) to 3 s, so the slow
receiver holds each request 5 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra.topology import DeliveryPolicy
from shared.webhooks.events import event_type_for_state
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import EXAMPLES, Receiver, StackDriver, small_dataset

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

FAST_RETRIES = DeliveryPolicy(min_backoff_s=1, max_backoff_s=2, max_delivery_attempts=5)
OUTAGE_RETRIES = DeliveryPolicy(min_backoff_s=1, max_backoff_s=30, max_delivery_attempts=25)
OUTAGE_S = 125.0  # the receiver stays down this long (real time) before it listens again
DELIVERY_TIMEOUT_S = 3.0  # TUNEWIRE_WEBHOOK_TIMEOUT_S on the fast stack
SLOW_S = 5.0
BROKEN = EXAMPLES / "broken" / "train.jsonl"  # an upload that ends INVALID: exactly one event


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackDriver]:
    """Retries a second or two apart, dead letters after 5 attempts."""
    yield from run_stack(tmp_path_factory, twin_engine="fake", delivery=FAST_RETRIES,
                         function_env={"TUNEWIRE_WEBHOOK_TIMEOUT_S": str(DELIVERY_TIMEOUT_S)})


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackDriver]:
    """Retries backing off to 30 s, 25 attempts: on the emulator they span about 7 minutes."""
    yield from run_stack(tmp_path_factory, twin_engine="fake", delivery=OUTAGE_RETRIES)


# --- reading the three records ----------------------------------------------------------------


def expected_events(job: dict[str, Any]) -> list[str]:
    """The webhook events the job's history says it emitted, in order."""
    events = (event_type_for_state(entry["state"]) for entry in job["history"])
    return list(dict.fromkeys(event for event in events if event))


def delivery_records(driver: StackDriver, job_id: str, endpoint_id: str) -> dict[str, dict[str, Any]]:
    """The ``webhook_deliveries`` records of one job and endpoint, by event type."""
    records = (snapshot.to_dict() for snapshot in driver.clients.deliveries.stream())
    return {record["event"]: record for record in records if record.get("job_id") == job_id and record.get("endpoint_id") == endpoint_id}


def delivery_log(driver: StackDriver, job_id: str, endpoint_id: str, event: str) -> list[dict[str, Any]]:
    """The job's ``deliveries`` log entries for one endpoint and event, in attempt order."""
    entries = driver.clients.jobs.get(job_id).get("deliveries") or []
    return sorted((entry for entry in entries if entry["endpoint_id"] == endpoint_id and entry["event"] == event), key=lambda entry: entry["attempt"])


def attempts_of(driver: StackDriver, job_id: str, endpoint_id: str, event: str) -> list[dict[str, Any]]:
    record = delivery_records(driver, job_id, endpoint_id).get(event)
    return list(record["attempts"]) if record else []


def wait_for_dead_letter(driver: StackDriver, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    dead: list[dict[str, Any]] = []
    driver.wait_until(lambda: bool(dead.extend(driver.dead_letters("job-events")) or any(m.get("job_id") == job_id for m in dead)),
                      timeout_s=timeout_s, what=f"the dead letter of {job_id}")
    return next(message for message in dead if message.get("job_id") == job_id)


def assert_log_matches_record(driver: StackDriver, job_id: str, endpoint_id: str, event: str, record: dict[str, Any]) -> None:
    """The job's log holds the record's attempts, numbered 1..n, with the same outcomes."""
    log = delivery_log(driver, job_id, endpoint_id, event)
    assert [entry["attempt"] for entry in log] == list(range(1, len(record["attempts"]) + 1))
    assert [(e["status"], e["outcome"], e["error"]) for e in log] == [(a["status"], a["outcome"], a["error"]) for a in record["attempts"]]


# --- the cases --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_receiver_down_for_minutes_gets_every_event_exactly_once_after_it_comes_back(outage_stack, outcome):
    receiver = Receiver(mode="down")
    endpoint, _ = outage_stack.clients.endpoints.add(receiver.url, prefix="outage/", secret=receiver.secret)
    went_down = time.monotonic()
    try:
        job_id = outage_stack.upload(small_dataset(), prefix="outage/run", metadata={"tunewire-epochs": "1"})
        job = outage_stack.wait_for(job_id)
        assert job["state"] == "SUCCEEDED", job.get("history")
        events = expected_events(job)
        outage_stack.wait_until(lambda: all(len(attempts_of(outage_stack, job_id, endpoint.id, e)) >= 2 for e in events),
                                timeout_s=OUTAGE_S, what="every event to fail twice")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - went_down)))
        failed_during_outage = {e: len(attempts_of(outage_stack, job_id, endpoint.id, e)) for e in events}
        receiver.mode = "ok"  # listens again on the same port
        outage_s = time.monotonic() - went_down
        outage_stack.wait_until(lambda: sorted(receiver.events_for(job_id)) == sorted(events), timeout_s=120, what="every event after the outage")
        outage_stack.wait_until(lambda: all(r["status"] == "delivered" for r in delivery_records(outage_stack, job_id, endpoint.id).values()),
                                timeout_s=30, what="every delivery record to say delivered")
    finally:
        receiver.close()

    records = delivery_records(outage_stack, job_id, endpoint.id)
    assert sorted(records) == sorted(events)
    assert [r.mode for r in receiver.received] == ["ok"] * len(events), "nothing reached it while it was down"
    assert sorted(r.event for r in receiver.received) == sorted(events)
    assert len({r.webhook_id for r in receiver.received}) == len(events), "exactly one request per webhook-id"
    assert all(r.status == 200 for r in receiver.received)
    for event, record in records.items():
        *failures, success = record["attempts"]
        assert len(failures) >= failed_during_outage[event] >= 2
        assert all(a["status"] is None and a["outcome"] == "failed" and a["error"].startswith("connection failed") for a in failures)
        assert (success["status"], success["outcome"]) == (200, "delivered")
        assert record["webhook_id"] == next(r.webhook_id for r in receiver.received if r.event == event)
        assert_log_matches_record(outage_stack, job_id, endpoint.id, event, record)
    first_at = min(r["attempts"][0]["at"] for r in records.values())
    last_failed_at = max(r["attempts"][-2]["at"] for r in records.values())
    delivered_at = max(r["attempts"][-1]["at"] for r in records.values())
    attempts = {event: len(record["attempts"]) for event, record in records.items()}
    outcome.record(
        area="webhook receivers",
        fault="receiver down (connection refused) for minutes, then back on the same port",
        injected=f"receiver not listening for {outage_s:.0f} s while a job ran to SUCCEEDED; retries back off to {OUTAGE_RETRIES.max_backoff_s} s, {OUTAGE_RETRIES.max_delivery_attempts} attempts",
        expected="every event retried through the outage, then delivered exactly once per webhook-id; every attempt logged",
        observed=(
            f"{len(events)} events; attempts per event {attempts} (the last one delivered, all before it 'connection failed'); "
            f"failed attempts spanned {(last_failed_at - first_at).total_seconds():.0f} s, the last delivery came "
            f"{(delivered_at - first_at).total_seconds():.0f} s after the first attempt; the receiver got {len(receiver.received)} "
            f"requests for {len({r.webhook_id for r in receiver.received})} webhook-ids"
        ),
        outage_s=round(outage_s),
        first_attempt_to_last_delivery_s=round((delivered_at - first_at).total_seconds()),
        events=len(events),
        attempts_total=sum(attempts.values()),
        attempts_min=min(attempts.values()),
        requests_received=len(receiver.received),
        distinct_webhook_ids=len({r.webhook_id for r in receiver.received}),
    )


def test_a_receiver_down_longer_than_the_retry_policy_dead_letters_the_event_after_every_attempt_failed(fast_stack, outcome):
    receiver = Receiver(mode="down")
    endpoint, _ = fast_stack.clients.endpoints.add(receiver.url, prefix="down-for-good/", secret=receiver.secret)
    try:
        job_id = fast_stack.upload(BROKEN, prefix="down-for-good/run")
        assert fast_stack.wait_for(job_id)["state"] == "INVALID"
        dead = wait_for_dead_letter(fast_stack, job_id)
    finally:
        receiver.close()

    (record,) = delivery_records(fast_stack, job_id, endpoint.id).values()
    attempts = record["attempts"]
    assert dead["state"] == "INVALID" and record["event"] == "tuning.job.invalid"
    assert record["status"] == "failed"
    assert len(attempts) == FAST_RETRIES.max_delivery_attempts
    assert all(a["status"] is None and a["outcome"] == "failed" and a["error"].startswith("connection failed") for a in attempts)
    assert receiver.received == []
    assert_log_matches_record(fast_stack, job_id, endpoint.id, "tuning.job.invalid", record)
    outcome.record(
        area="webhook receivers",
        fault="receiver down for longer than the retry policy",
        injected=f"receiver never listening; retry policy {FAST_RETRIES.max_delivery_attempts} attempts, backoff {FAST_RETRIES.min_backoff_s}-{FAST_RETRIES.max_backoff_s} s",
        expected="the event dead-letters; its delivery record says failed after max_delivery_attempts attempts",
        observed=(
            f"dead letter for the job's {dead['state']} event; record status {record['status']} after {len(attempts)} attempts "
            f"(policy {FAST_RETRIES.max_delivery_attempts}), every one 'connection failed'; {len(receiver.received)} requests reached the receiver"
        ),
        attempts=len(attempts),
        max_delivery_attempts=FAST_RETRIES.max_delivery_attempts,
        dead_letters=1,
        requests_received=len(receiver.received),
    )


def test_a_receiver_slower_than_the_timeout_is_never_marked_delivered_and_gets_the_event_once_when_fast(fast_stack, outcome):
    receiver = Receiver(mode="slow", slow_s=SLOW_S)
    endpoint, _ = fast_stack.clients.endpoints.add(receiver.url, prefix="slow/", secret=receiver.secret)
    event = "tuning.job.invalid"
    try:
        job_id = fast_stack.upload(BROKEN, prefix="slow/run")
        assert fast_stack.wait_for(job_id)["state"] == "INVALID"
        fast_stack.wait_until(lambda: len(attempts_of(fast_stack, job_id, endpoint.id, event)) >= 2, timeout_s=90, what="two timed-out attempts")
        while_slow = delivery_records(fast_stack, job_id, endpoint.id)[event]
        receiver.mode = "ok"
        fast_stack.wait_until(lambda: delivery_records(fast_stack, job_id, endpoint.id)[event]["status"] == "delivered",
                              timeout_s=90, what="the delivery once the receiver is fast")
    finally:
        receiver.close()

    record = delivery_records(fast_stack, job_id, endpoint.id)[event]
    *timeouts, delivered = record["attempts"]
    slow_requests = [r for r in receiver.received if r.mode == "slow"]
    fast_requests = [r for r in receiver.received if r.mode == "ok"]
    assert while_slow["status"] == "failed"
    assert all(a["outcome"] == "failed" for a in while_slow["attempts"])
    assert len(timeouts) >= 2 and len(timeouts) == len(slow_requests)
    assert all(a["status"] is None and a["outcome"] == "failed" and a["error"].startswith("timeout") for a in timeouts)
    assert (delivered["status"], delivered["outcome"]) == (200, "delivered")
    assert [(r.status, r.event) for r in fast_requests] == [(200, event)]
    assert receiver.events_for(job_id) == [event]
    assert len({r.webhook_id for r in receiver.received}) == 1
    assert_log_matches_record(fast_stack, job_id, endpoint.id, event, record)
    outcome.record(
        area="webhook receivers",
        fault="receiver slower than the delivery timeout, then fast",
        injected=f"receiver holds each request {SLOW_S:g} s (timeout {DELIVERY_TIMEOUT_S:g} s) and answers 200 too late, until switched to answer at once",
        expected="each slow attempt logged as a timeout and retried, never marked delivered; delivered once when fast",
        observed=(
            f"{len(timeouts)} attempts logged 'timeout' for {len(slow_requests)} slow requests, record status "
            f"'{while_slow['status']}' while slow; then 1 attempt delivered (200); the receiver processed the event {len(receiver.events_for(job_id))} time"
        ),
        timed_out_attempts=len(timeouts),
        slow_requests=len(slow_requests),
        delivered_attempts=1,
        events_processed=len(receiver.events_for(job_id)),
    )


REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def test_a_redirecting_receiver_is_logged_as_failed_and_nothing_reaches_its_location(fast_stack, outcome):
    location = Receiver()  # any request reaching this one followed a redirect
    redirector = Receiver(mode="redirect", redirect_to=location.url + "stolen", redirect_statuses=REDIRECT_STATUSES)
    endpoint, _ = fast_stack.clients.endpoints.add(redirector.url, prefix="redirect/", secret=redirector.secret)
    event = "tuning.job.invalid"
    try:
        job_id = fast_stack.upload(BROKEN, prefix="redirect/run")
        assert fast_stack.wait_for(job_id)["state"] == "INVALID"
        wait_for_dead_letter(fast_stack, job_id)
    finally:
        redirector.close()
        location.close()

    record = delivery_records(fast_stack, job_id, endpoint.id)[event]
    attempts = record["attempts"]
    statuses = list(REDIRECT_STATUSES[: FAST_RETRIES.max_delivery_attempts])
    assert record["status"] == "failed"
    assert [a["status"] for a in attempts] == statuses
    assert [a["error"] for a in attempts] == [f"HTTP {s} redirect to {location.url}stolen not followed" for s in statuses]
    assert all(a["outcome"] == "failed" for a in attempts)
    assert [(r.mode, r.status) for r in redirector.received] == [("redirect", s) for s in statuses]
    assert location.received == [] and location.requests == 0
    assert_log_matches_record(fast_stack, job_id, endpoint.id, event, record)
    outcome.record(
        area="webhook receivers",
        fault="receiver answers 3xx with a Location elsewhere",
        injected=f"receiver answers {'/'.join(map(str, REDIRECT_STATUSES))} in turn with Location: a second local receiver",
        expected="no redirect followed; each attempt logged failed with its status; the event dead-letters",
        observed=(
            f"{len(attempts)} attempts logged failed with statuses {[a['status'] for a in attempts]}; "
            f"{len(redirector.received)} requests reached the redirecting receiver, {location.requests} reached the Location"
        ),
        attempts=len(attempts),
        requests_to_redirector=len(redirector.received),
        requests_to_location=location.requests,
        dead_letters=1,
    )


def test_a_410_disables_the_endpoint_and_later_events_reach_only_the_other_endpoints(fast_stack, outcome):
    gone, other = Receiver(mode="gone"), Receiver()
    registry = fast_stack.clients.endpoints
    gone_endpoint, _ = registry.add(gone.url, prefix="gone/", secret=gone.secret)
    other_endpoint, _ = registry.add(other.url, prefix="gone/", secret=other.secret)
    try:
        first = fast_stack.upload(BROKEN, prefix="gone/first")
        assert fast_stack.wait_for(first)["state"] == "INVALID"
        fast_stack.wait_until(lambda: not registry.get(gone_endpoint.id).enabled, timeout_s=60, what="the endpoint to be disabled")
        second = fast_stack.upload(small_dataset(), prefix="gone/second", metadata={"tunewire-epochs": "1"})
        job = fast_stack.wait_for(second)
        assert job["state"] == "SUCCEEDED", job.get("history")
        later = expected_events(job)
        fast_stack.wait_until(lambda: sorted(other.events_for(second)) == sorted(later), timeout_s=60, what="the other endpoint's events")
    finally:
        gone.close()
        other.close()

    disabled = registry.get(gone_endpoint.id)
    assert (disabled.enabled, disabled.disabled_reason) == (False, "gone: the receiver answered 410")
    assert [(r.job_id, r.event, r.status) for r in gone.received] == [(first, "tuning.job.invalid", 410)]
    (gone_record,) = delivery_records(fast_stack, first, gone_endpoint.id).values()
    assert gone_record["status"] == "gone"
    assert [(a["status"], a["outcome"]) for a in gone_record["attempts"]] == [(410, "gone")]
    assert_log_matches_record(fast_stack, first, gone_endpoint.id, "tuning.job.invalid", gone_record)
    assert delivery_records(fast_stack, second, gone_endpoint.id) == {}
    assert [e for e in fast_stack.clients.jobs.get(second).get("deliveries") or [] if e["endpoint_id"] == gone_endpoint.id] == []
    assert other.events_for(first) == ["tuning.job.invalid"]
    assert sorted(other.events_for(second)) == sorted(later) and len(later) >= 2
    for job_id, events in ((first, ["tuning.job.invalid"]), (second, later)):
        records = delivery_records(fast_stack, job_id, other_endpoint.id)
        assert sorted(records) == sorted(events)
        assert all([(a["status"], a["outcome"]) for a in r["attempts"]] == [(200, "delivered")] for r in records.values())
    outcome.record(
        area="webhook receivers",
        fault="receiver answers 410 Gone",
        injected="one of two registered endpoints answers 410 to a job's event; a second job follows",
        expected="the endpoint is disabled after one attempt; later events are not sent to it; the other endpoint gets every event",
        observed=(
            f"endpoint disabled ({disabled.disabled_reason!r}) after {len(gone_record['attempts'])} attempt; it received "
            f"{len(gone.received)} request in all, none of the second job's {len(later)} events; the other endpoint received "
            f"{len(other.events_for(first)) + len(other.events_for(second))} events, each delivered on the first attempt"
        ),
        requests_to_gone_endpoint=len(gone.received),
        attempts_to_gone_endpoint=len(gone_record["attempts"]),
        later_events=len(later),
        later_events_sent_to_gone_endpoint=len(gone.received_for(second)),
        events_to_other_endpoint=len(other.events_for(first)) + len(other.events_for(second)),
    )
