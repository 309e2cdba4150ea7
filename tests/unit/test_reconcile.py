"""The reconciler re-drives what a lost message left undone; it never touches a job in time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.config import Settings
from shared.jobs.states import JobState
from shared.pipeline.reconcile import REDRIVEN_ATTRIBUTE, reconcile

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
SETTINGS = Settings(project="p", reconcile_after_s=120, validation_stale_s=1200, pending_alert_s=3600)


def job(job_id: str, state: str, *, history: list[tuple[str, int]], **fields) -> dict:
    """A job document whose history entries happened `seconds` before NOW."""
    entries = [{"state": s, "at": NOW - timedelta(seconds=ago), "reason": f"{s} reason"} for s, ago in history]
    return {"id": job_id, "state": state, "history": entries, **fields}


@pytest.fixture
def store(mocker):
    store = mocker.Mock()
    store.jobs_with_unsent_events.return_value = []
    store.jobs_untouched_since.return_value = []
    return store


@pytest.fixture
def bus(mocker):
    return mocker.Mock()


def test_an_event_notify_never_received_is_published_again_after_the_grace_period(store, bus):
    store.jobs_with_unsent_events.return_value = [job("j1", "SUCCEEDED", history=[("RUNNING", 600), ("SUCCEEDED", 300)],
                                                     outbox=["SUCCEEDED", "RUNNING"])]
    summary = reconcile(store=store, bus=bus, settings=SETTINGS, now=NOW)
    assert [c.args for c in bus.job_state_changed.call_args_list] == [
        ("j1", "RUNNING", "RUNNING reason"), ("j1", "SUCCEEDED", "SUCCEEDED reason")]
    assert summary.events_republished == [("j1", "RUNNING"), ("j1", "SUCCEEDED")]
    store.update.assert_called_once_with("j1", {"redriven.events": NOW})


def test_events_published_again_recently_are_not_published_again_before_the_grace_ends(store, bus):
    store.jobs_with_unsent_events.return_value = [job("j1", "RUNNING", history=[("RUNNING", 600)], outbox=["RUNNING"],
                                                     redriven={"events": NOW - timedelta(seconds=30)})]
    assert reconcile(store=store, bus=bus, settings=SETTINGS, now=NOW).events_republished == []
    bus.job_state_changed.assert_not_called()


def test_an_event_still_within_the_grace_period_is_left_to_notify(store, bus):
    store.jobs_with_unsent_events.return_value = [job("j1", "RUNNING", history=[("RUNNING", 30)], outbox=["RUNNING"])]
    summary = reconcile(store=store, bus=bus, settings=SETTINGS, now=NOW)
    bus.job_state_changed.assert_not_called()
    assert not summary.acted


def test_a_validated_job_left_untouched_gets_its_launch_requested_again(store, bus):
    stale = job("j2", "VALIDATED", history=[("VALIDATED", 500)])
    store.jobs_untouched_since.side_effect = lambda states, before: [stale] if JobState.VALIDATED in states else []
    summary = reconcile(store=store, bus=bus, settings=SETTINGS, now=NOW)
    bus.request_tuning.assert_called_once_with("j2")
    store.update.assert_called_once_with("j2", {"redriven.launch": NOW})
    assert summary.launches_requested == ["j2"]
    cutoffs = {tuple(c.args[0]): c.args[1] for c in store.jobs_untouched_since.call_args_list}
    assert cutoffs[(JobState.VALIDATED,)] == NOW - timedelta(seconds=120)
    assert cutoffs[(JobState.RECEIVED, JobState.VALIDATING)] == NOW - timedelta(seconds=1200)


def test_a_stale_validating_job_gets_its_storage_notification_again_with_the_object_metadata(store, bus, mocker):
    stale = job("j3", "VALIDATING", history=[("VALIDATING", 2000)],
                source={"bucket": "data", "name": "team/train.jsonl", "generation": "17"})
    store.jobs_untouched_since.side_effect = lambda states, before: [stale] if JobState.VALIDATING in states else []
    storage = mocker.Mock()
    storage.bucket.return_value.get_blob.return_value._properties = {"metadata": {"tunewire-epochs": "2"}, "size": "9"}
    summary = reconcile(store=store, bus=bus, settings=SETTINGS, storage_client=storage, now=NOW)
    storage.bucket.return_value.get_blob.assert_called_once_with("team/train.jsonl", generation=17)
    topic, data, attributes = bus.publish_raw.call_args.args
    assert topic == "dataset-uploads"
    assert b'"tunewire-epochs":"2"' in data and b'"name":"team/train.jsonl"' in data
    assert attributes["objectGeneration"] == "17" and attributes["eventType"] == "OBJECT_FINALIZE"
    assert attributes[REDRIVEN_ATTRIBUTE] == "reconcile"
    assert summary.uploads_redriven == ["j3"]


def test_one_job_failing_to_reconcile_does_not_stop_the_others(store, bus):
    store.jobs_with_unsent_events.return_value = [
        job("bad", "RUNNING", history=[("RUNNING", 600)], outbox=["RUNNING"]),
        job("good", "RUNNING", history=[("RUNNING", 600)], outbox=["RUNNING"]),
    ]
    bus.job_state_changed.side_effect = [TimeoutError("publish timed out"), "1"]
    summary = reconcile(store=store, bus=bus, settings=SETTINGS, now=NOW)
    assert summary.errors == [("bad", "TimeoutError: publish timed out")]
    assert summary.events_republished == [("good", "RUNNING")]
