"""Vertex's concurrent-jobs quota (the twin answering 429): jobs wait, then run; never fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.topology import DeliveryPolicy
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import StackDriver, small_dataset

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory) -> Iterator[StackDriver]:
    yield from run_stack(tmp_path_factory, quota_mode="error", max_concurrent_jobs=1,
                         delivery=DeliveryPolicy(min_backoff_s=1, max_backoff_s=3))


def test_a_quota_refusal_makes_the_job_wait_and_it_runs_when_the_slot_frees(one_slot):
    first = one_slot.upload(small_dataset(24), prefix="quota/a", metadata={"tunewire-epochs": "3"})
    one_slot.wait_for(first, {"PENDING", "RUNNING"})
    second = one_slot.upload(small_dataset(), prefix="quota/b", metadata={"tunewire-epochs": "1"})
    one_slot.wait_until(lambda: (one_slot.clients.jobs.get(second) or {}).get("launch", {}).get("quota_refusals", 0) >= 1,
                        what="a quota refusal")
    assert one_slot.clients.jobs.get(second)["state"] == "LAUNCHING"
    assert one_slot.wait_for(first)["state"] == "SUCCEEDED"
    job = one_slot.wait_for(second)
    assert job["state"] == "SUCCEEDED", job.get("history")
    assert job["launch"]["quota_refusals"] >= 1


def test_cancel_while_waiting_for_quota_ends_the_job_without_a_vertex_job(one_slot):
    from shared.pipeline.cancel_job import cancel_job

    blocker = one_slot.upload(small_dataset(24), prefix="quota/c", metadata={"tunewire-epochs": "3"})
    one_slot.wait_for(blocker, {"PENDING", "RUNNING"})
    waiting = one_slot.upload(small_dataset(), prefix="quota/d")
    one_slot.wait_until(lambda: (one_slot.clients.jobs.get(waiting) or {}).get("launch", {}).get("quota_refusals", 0) >= 1,
                        what="a quota refusal")
    cancel_job(waiting, store=one_slot.clients.jobs, bus=one_slot.clients.bus, vertex=one_slot.clients.vertex)
    assert one_slot.wait_for(waiting)["state"] == "CANCELLED"
    assert one_slot.vertex_jobs_labelled(waiting) == []
    one_slot.wait_for(blocker)
