"""A job held PENDING past the limit is reported once per stay in PENDING, by the poll."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared.pipeline.poll_jobs import report_if_stuck

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
LIMIT = timedelta(hours=1)


def job(state: str, *, history: list[tuple[str, int]], **fields) -> dict:
    entries = [{"state": s, "at": NOW - timedelta(seconds=ago), "reason": s} for s, ago in history]
    return {"id": "j", "state": state, "history": entries, **fields}


def test_a_job_pending_past_the_limit_is_reported_stuck_once(mocker):
    store = mocker.Mock()
    pending = job("PENDING", history=[("LAUNCHING", 4000), ("PENDING", 3900)])
    assert report_if_stuck(pending, now=NOW, limit=LIMIT, store=store)
    job_id, fields = store.update.call_args.args
    assert job_id == "j" and fields["stuck"]["state"] == "PENDING" and fields["stuck"]["since"] == NOW - timedelta(seconds=3900)
    assert "65 min (limit 60 min)" in fields["stuck"]["reason"]
    store.update.reset_mock()
    pending["stuck"] = fields["stuck"]
    assert not report_if_stuck(pending, now=NOW, limit=LIMIT, store=store)
    store.update.assert_not_called()


def test_a_job_pending_within_the_limit_is_not_reported(mocker):
    store = mocker.Mock()
    assert not report_if_stuck(job("PENDING", history=[("PENDING", 60)]), now=NOW, limit=LIMIT, store=store)
    store.update.assert_not_called()


def test_a_job_that_left_pending_is_not_reported_for_its_old_stay(mocker):
    store = mocker.Mock()
    running = job("RUNNING", history=[("PENDING", 9000), ("RUNNING", 100)])
    assert not report_if_stuck(running, now=NOW, limit=LIMIT, store=store)
    store.update.assert_not_called()


def test_a_second_stay_in_pending_is_reported_again(mocker):
    store = mocker.Mock()
    again = job("PENDING", history=[("PENDING", 9000), ("RUNNING", 8000), ("PENDING", 4000)],
                stuck={"since": NOW - timedelta(seconds=9000)})
    assert report_if_stuck(again, now=NOW, limit=LIMIT, store=store)
