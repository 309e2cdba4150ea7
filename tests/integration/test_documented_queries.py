"""Every query docs/data-model.md shows runs against the Firestore emulator and returns what it says."""

from __future__ import annotations

import uuid

import pytest
from google.cloud import firestore

from examples.firestore import queries
from shared.jobs.states import JobState
from shared.jobs.store import JobStore

pytestmark = pytest.mark.integration
S = JobState


@pytest.fixture
def db(firestore_emulator):
    """A fresh project database (the documented queries use the real `jobs` collection name)."""
    firestore_emulator.reset()
    return firestore.Client(project="tunewire-test")


def make_job(db, name: str, path: list[JobState]) -> str:
    store = JobStore(db, "jobs")
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    store.create_if_absent(job_id, {"source": {"bucket": "b", "name": name, "generation": "1"}}, reason="uploaded")
    for state in path:
        store.transition(job_id, state, reason="walk")
    return job_id


def test_the_documented_queries_return_the_jobs_they_describe(db):
    running = make_job(db, "team-a/run1/train.jsonl", [S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.RUNNING])
    failed = make_job(db, "team-a/run2/train.jsonl", [S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.FAILED])
    invalid = make_job(db, "team-b/run1/train.jsonl", [S.VALIDATING, S.INVALID])
    assert queries.job(db, running)["state"] == "RUNNING"
    assert [j["id"] for j in queries.active_jobs(db)] == [running]
    assert [j["id"] for j in queries.jobs_in_state(db, "FAILED")] == [failed]
    assert {j["id"] for j in queries.jobs_under_prefix(db, "team-a/")} == {running, failed}
    assert {j["id"] for j in queries.recent_failures(db)} == {failed, invalid}
    assert queries.deliveries_for_job(db, running) == []


def test_the_stuck_jobs_query_returns_pending_jobs_that_were_reported(db):
    reported = make_job(db, "team-a/run3/train.jsonl", [S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.PENDING])
    make_job(db, "team-a/run4/train.jsonl", [S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.PENDING])
    JobStore(db, "jobs").update(reported, {"stuck": {"state": "PENDING", "reason": "PENDING for 61 min"}})
    assert [j["id"] for j in queries.stuck_jobs(db)] == [reported]
