"""Every message delivered twice (two push subscriptions per topic): still one job, one Vertex
job, one webhook delivery per (job, event)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from infra.topology import DeliveryPolicy
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import Receiver, StackDriver, small_dataset

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def doubled(tmp_path_factory) -> Iterator[StackDriver]:
    # A 1 s tick, each delivered twice: two ticks race for the poll lock every second.
    yield from run_stack(tmp_path_factory, tick_interval_s=1.0, delivery=DeliveryPolicy(min_backoff_s=1, max_backoff_s=3, copies=2))


def test_every_message_delivered_twice_yields_one_job_one_vertex_create_one_delivery_each(doubled):
    receiver = Receiver()
    try:
        doubled.clients.endpoints.add(receiver.url, prefix="twice/", secret=receiver.secret)
        job_id = doubled.upload(small_dataset(), prefix="twice/run", metadata={"tunewire-epochs": "1"})
        job = doubled.wait_for(job_id)
        assert job["state"] == "SUCCEEDED", job.get("history")
        doubled.wait_until(lambda: "tuning.job.succeeded" in receiver.events_for(job_id), what="the succeeded webhook")
        assert len(doubled.vertex_jobs_labelled(job_id)) == 1
        states = [h["state"] for h in job["history"]]
        assert len(states) == len(set(states)), f"each transition committed once: {states}"
        ids = Counter(headers.get("Webhook-Id") or headers.get("webhook-id") for headers in receiver.headers)
        assert all(count == 1 for count in ids.values()), ids
        assert Counter(receiver.events_for(job_id)) == Counter(set(receiver.events_for(job_id)))
        jobs = list(doubled.clients.firestore.collection("jobs").stream())
        assert [snapshot.id for snapshot in jobs] == [job_id]
        poll_log = doubled.log("fn-poll_jobs")
        assert '"poll tick skipped' in poll_log, "the doubled ticks raced for the poll lock"
        assert "Traceback" not in poll_log, "a tick that lost the race for the poll lock must skip, not fail"
    finally:
        receiver.close()
