"""Job documents on the real Firestore emulator: created once, moved only by the table."""

from __future__ import annotations

import threading
import uuid

import pytest

from shared.jobs.states import JobState
from shared.jobs.store import JobStore

pytestmark = pytest.mark.integration
S = JobState


def new_job(store: JobStore) -> str:
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    store.create_if_absent(job_id, {"source": {"bucket": "b", "name": "t.jsonl", "generation": "1"}}, reason="uploaded")
    return job_id


def test_creating_the_same_job_twice_creates_it_once(store):
    first, created = store.create_if_absent("j1", {"source": {"name": "a"}}, reason="uploaded")
    again, created_again = store.create_if_absent("j1", {"source": {"name": "DIFFERENT"}}, reason="redelivered")
    assert created and not created_again
    assert again["source"] == {"name": "a"} and again["state"] == "RECEIVED"
    assert [h["reason"] for h in store.get("j1")["history"]] == ["uploaded"]


def test_a_transition_commits_state_history_and_updates_together(store):
    job_id = new_job(store)
    result = store.transition(job_id, S.VALIDATING, reason="validator started", updates={"validation": {"started": True}})
    assert result.changed and result.before is S.RECEIVED
    document = store.get(job_id)
    assert document["state"] == "VALIDATING" and document["validation"] == {"started": True}
    assert [h["state"] for h in document["history"]] == ["RECEIVED", "VALIDATING"]
    assert document["updated_at"] >= document["created_at"]


def test_a_redelivered_transition_changes_nothing(store):
    job_id = new_job(store)
    store.transition(job_id, S.VALIDATING, reason="first")
    again = store.transition(job_id, S.VALIDATING, reason="second")
    assert not again.changed and again.refused == "already VALIDATING"
    assert len(store.get(job_id)["history"]) == 2


def test_a_transition_the_table_forbids_is_refused_with_a_reason(store):
    job_id = new_job(store)
    result = store.transition(job_id, S.SUCCEEDED, reason="out of order")
    assert not result.changed and result.refused == "RECEIVED cannot move to SUCCEEDED"
    assert store.get(job_id)["state"] == "RECEIVED"


def test_only_from_narrows_the_allowed_starting_states(store):
    job_id = new_job(store)
    result = store.transition(job_id, S.CANCELLED, reason="user", only_from=[S.VALIDATED])
    assert not result.changed and result.refused == "job is RECEIVED"


def test_two_concurrent_movers_commit_exactly_one_transition(store):
    job_id = new_job(store)
    store.transition(job_id, S.VALIDATING, reason="v")
    results = []

    def move(wanted):
        results.append(store.transition(job_id, wanted, reason=f"to {wanted.value}"))

    threads = [threading.Thread(target=move, args=(state,)) for state in (S.VALIDATED, S.INVALID)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(result.changed for result in results) == 1
    assert len(store.get(job_id)["history"]) == 3


def test_update_refuses_to_touch_state(store):
    job_id = new_job(store)
    with pytest.raises(ValueError, match="only through transition"):
        store.update(job_id, {"state": "SUCCEEDED"})


def test_active_jobs_are_those_a_vertex_job_may_exist_for(store):
    ids = {state: new_job(store) for state in (S.RUNNING, S.SUCCEEDED, S.PENDING)}
    for state, job_id in ids.items():
        for step in {S.RUNNING: [S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.RUNNING],
                     S.PENDING: [S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.PENDING],
                     S.SUCCEEDED: [S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.RUNNING, S.SUCCEEDED]}[state]:
            assert store.transition(job_id, step, reason="walk").changed
    assert {job["id"] for job in store.active_jobs()} == {ids[S.RUNNING], ids[S.PENDING]}
    assert [job["id"] for job in store.jobs_in_state(S.SUCCEEDED)] == [ids[S.SUCCEEDED]]


def test_active_jobs_are_read_page_by_page_so_none_is_left_out(store):
    ids = set()
    for _ in range(5):
        job_id = new_job(store)
        for step in (S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.PENDING):
            store.transition(job_id, step, reason="walk")
        ids.add(job_id)
    seen = [job["id"] for job in store.active_jobs(page_size=2)]
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen)) == 5


def test_a_lease_is_held_by_one_holder_until_released_or_expired(store):
    job_id = new_job(store)
    assert store.acquire_lease(job_id, "launch", seconds=60, holder="a")
    assert not store.acquire_lease(job_id, "launch", seconds=60, holder="b")
    store.release_lease(job_id, "launch", holder="b")  # not b's to give back: still a's
    assert store.get(job_id)["leases"]["launch"]["holder"] == "a"
    store.release_lease(job_id, "launch", holder="a")
    assert store.acquire_lease(job_id, "launch", seconds=-1, holder="b")  # already expired
    assert store.acquire_lease(job_id, "launch", seconds=60, holder="c")


def test_a_named_lock_is_created_on_first_use_and_held_by_one_holder(firestore_emulator):
    import uuid as _uuid

    from google.cloud import firestore as _firestore

    from shared import leases

    client = _firestore.Client(project="tunewire-test")
    lock = client.collection(leases.LOCKS_COLLECTION).document(f"poll-{_uuid.uuid4().hex[:6]}")
    assert leases.acquire(lock, "poll", seconds=60, holder="a", create=True)
    assert not leases.acquire(lock, "poll", seconds=60, holder="b", create=True)
    leases.release(lock, "poll", holder="a")
    assert leases.acquire(lock, "poll", seconds=60, holder="b", create=True)


def _all_at_once(count: int, call) -> tuple[list, list[BaseException]]:
    """Run `call(index)` on `count` threads released together; (results, exceptions)."""
    barrier = threading.Barrier(count)
    results: list = []
    raised: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results.append(call(index))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            raised.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, raised


def test_callers_racing_for_a_free_lock_that_does_not_exist_yet_get_one_winner_and_no_error(firestore_emulator):
    # Read-then-write transactions on a missing document abort each other on the emulator: with
    # them, both of two doubled poll ticks failed, every time.
    from google.cloud import firestore as _firestore

    from shared import leases

    client = _firestore.Client(project="tunewire-test")
    lock = client.collection(leases.LOCKS_COLLECTION).document(f"race-{uuid.uuid4().hex[:6]}")
    results, raised = _all_at_once(8, lambda index: leases.acquire(lock, "poll", seconds=60, holder=f"h{index}", create=True))
    assert raised == [] and sorted(results) == [False] * 7 + [True]
    assert lock.get().to_dict()["leases"]["poll"]["holder"] in {f"h{index}" for index in range(8)}


def test_callers_racing_for_a_released_lock_get_one_winner_and_no_error(firestore_emulator):
    from google.cloud import firestore as _firestore

    from shared import leases

    client = _firestore.Client(project="tunewire-test")
    lock = client.collection(leases.LOCKS_COLLECTION).document(f"race-{uuid.uuid4().hex[:6]}")
    assert leases.acquire(lock, "poll", seconds=60, holder="first", create=True)
    leases.release(lock, "poll", holder="first")
    results, raised = _all_at_once(4, lambda index: leases.acquire(lock, "poll", seconds=60, holder=f"h{index}", create=True))
    assert raised == [] and sorted(results) == [False, False, False, True]


def test_the_same_job_created_by_concurrent_deliveries_is_created_once(store):
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    results, raised = _all_at_once(
        4, lambda index: store.create_if_absent(job_id, {"source": {"copy": index}}, reason=f"delivery {index}")
    )
    assert raised == [] and sorted(created for _, created in results) == [False, False, False, True]
    winner = next(document for document, created in results if created)
    assert store.get(job_id)["source"] == winner["source"]
    assert all(document["source"] == winner["source"] for document, _ in results)
    assert len(store.get(job_id)["history"]) == 1


def test_concurrent_duplicates_of_one_transition_commit_it_once_without_error(store):
    job_id = new_job(store)
    results, raised = _all_at_once(4, lambda index: store.transition(job_id, S.VALIDATING, reason=f"copy {index}"))
    assert raised == [] and sorted(result.changed for result in results) == [False, False, False, True]
    assert [entry["state"] for entry in store.get(job_id)["history"]] == ["RECEIVED", "VALIDATING"]
