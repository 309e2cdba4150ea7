"""`tunewire dlq list | replay` with shared/dead_letters.py mocked: what the user sees and the
exit codes (the real queue is exercised in tests/integration/ and tests/reliability/)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from shared import dead_letters
from shared.dead_letters import DeadLetter, Replayed, ReplayFailure, ReplayReport
from tunewire import console as console_module
from tunewire import context
from tunewire.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv("TUNEWIRE_USE_ENV", "1")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    for output in (console_module.console, console_module.err_console):
        monkeypatch.setattr(output, "_width", 200)
    context.clients.cache_clear()
    yield
    context.clients.cache_clear()


def letter(job_id: str | None = "job-1", message_id: str = "42", body: object = None, body_format: str = "json") -> DeadLetter:
    return DeadLetter(topic="job-events", message_id=message_id, publish_time=dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc),
                      delivery_attempts=5, attributes={"type": "job.state_changed"}, body_format=body_format,
                      body=body if body is not None else {"type": "job.state_changed", "job_id": job_id, "state": "INVALID"},
                      size=60, job_id=job_id)


def test_list_shows_one_row_per_dead_letter_with_topic_id_time_attempts_job_and_body(mocker):
    listing = mocker.patch.object(dead_letters, "list_dead_letters", return_value=[letter(), letter(None, "43", "ff00", "hex")])
    result = runner.invoke(app, ["dlq", "list", "--topic", "job-events", "--job", "job-1", "--limit", "7"])
    assert result.exit_code == 0, result.output
    assert listing.call_args.kwargs == {"topic": "job-events", "job_id": "job-1", "limit": 7}
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert rows[0][:6] == ["job-events", "42", "2026-03-04", "05:06:07Z", "5", "job-1"]
    assert rows[1][:7] == ["job-events", "43", "2026-03-04", "05:06:07Z", "5", "-", "hex:"]


def test_list_json_prints_every_field_but_the_raw_bytes(mocker):
    mocker.patch.object(dead_letters, "list_dead_letters", return_value=[letter()])
    result = runner.invoke(app, ["dlq", "list", "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["job_id"] == "job-1" and entry["delivery_attempts"] == 5 and entry["publish_time"] == "2026-03-04T05:06:07Z"
    assert entry["dead_letter_topic"] == "job-events-dlq" and "data" not in entry


def test_an_empty_queue_says_so(mocker):
    mocker.patch.object(dead_letters, "list_dead_letters", return_value=[])
    assert runner.invoke(app, ["dlq", "list"]).stdout.strip() == "no dead letters"


def test_an_unknown_topic_exits_2_naming_the_topics():
    result = runner.invoke(app, ["dlq", "replay", "--topic", "jobs"])
    assert result.exit_code == 2
    assert "no topic 'jobs'; the topics are dataset-uploads, tuning-requests, poll-ticks, job-events" in result.stderr


def test_replay_passes_its_options_and_says_what_it_replayed(mocker):
    replay = mocker.patch.object(dead_letters, "replay_dead_letters", return_value=ReplayReport(False, [Replayed(letter(), "900")]))
    result = runner.invoke(app, ["dlq", "replay", "--topic", "job-events-dlq", "--job", "job-1", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert replay.call_args.kwargs == {"topic": "job-events-dlq", "job_id": "job-1", "limit": 1, "dry_run": False}
    assert result.stdout.strip() == "replayed job-events dead letter 42 (job job-1) as message 900"


def test_a_dry_run_says_would_replay(mocker):
    replay = mocker.patch.object(dead_letters, "replay_dead_letters", return_value=ReplayReport(True, [Replayed(letter(), None)]))
    result = runner.invoke(app, ["dlq", "replay", "--dry-run"])
    assert result.exit_code == 0 and replay.call_args.kwargs["dry_run"] is True
    assert result.stdout.strip() == "would replay job-events dead letter 42 (job job-1)"


def test_a_dead_letter_that_could_not_be_replayed_exits_2_and_says_it_stays_queued(mocker):
    report = ReplayReport(False, [Replayed(letter(), "900")], [ReplayFailure(letter(message_id="43"), "publish failed: boom")])
    mocker.patch.object(dead_letters, "replay_dead_letters", return_value=report)
    result = runner.invoke(app, ["dlq", "replay", "--json"])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert [entry["new_message_id"] for entry in document["replayed"]] == ["900"]
    assert [(entry["message_id"], entry["error"]) for entry in document["failed"]] == [("43", "publish failed: boom")]
    assert "1 dead letters not replayed (they stay in the dead-letter queue)" in result.stderr
