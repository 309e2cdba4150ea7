"""launch_tuning, poll_jobs and notify through functions-framework's real app, fed push bodies
captured from the Pub/Sub emulator (tests/events/)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from functions_framework import create_app

from shared.config import Settings
from shared.pipeline.launch_tuning import LaunchOutcome
from shared.pipeline.notify_job_event import DeliveryFailed, NotifyOutcome
from shared.pipeline.poll_jobs import PollSummary

EVENTS = Path(__file__).resolve().parents[1] / "events"
MAIN = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")


def push(name: str) -> dict:
    body = json.loads((EVENTS / name).read_text())
    body["message"]["publishTime"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return body


def path_of(body: dict) -> str:
    return "/projects/tunewire-test/topics/" + body["subscription"].rsplit("/", 1)[-1].removesuffix("-push")


@pytest.fixture(autouse=True)
def runtime_clients(mocker):
    from functions import runtime

    clients = mocker.MagicMock(name="clients")
    clients.settings = Settings(max_event_age_s=3600)
    mocker.patch.object(runtime, "clients", return_value=clients)


def client_for(target: str):
    return create_app(target, MAIN, "cloudevent").test_client()


def test_launch_tuning_hands_the_job_id_from_the_captured_request_to_the_launch_step(mocker):
    step = mocker.patch("functions.launch_tuning.handle_tuning_request", return_value=LaunchOutcome("launched", "x", "ok"))
    body = push("tuning_request_push.json")
    assert client_for("launch_tuning").post(path_of(body), json=body).status_code == 200
    assert step.call_args.args == ("train-3f2a9c0d1e4b5a69",)


def test_launch_tuning_acknowledges_a_message_of_the_wrong_type(mocker):
    step = mocker.patch("functions.launch_tuning.handle_tuning_request")
    body = push("job_event_push.json")
    assert client_for("launch_tuning").post(path_of(body), json=body).status_code == 200
    step.assert_not_called()


def test_launch_tuning_returns_500_on_a_transient_fault_so_pubsub_retries(mocker):
    mocker.patch("functions.launch_tuning.handle_tuning_request", side_effect=ConnectionError("vertex unreachable"))
    body = push("tuning_request_push.json")
    assert client_for("launch_tuning").post(path_of(body), json=body).status_code == 500


def test_poll_jobs_runs_one_tick_per_captured_scheduler_message_holding_the_poll_lease(mocker):
    acquire = mocker.patch("functions.poll_jobs.leases.acquire", return_value=True)
    release = mocker.patch("functions.poll_jobs.leases.release")
    step = mocker.patch("functions.poll_jobs.poll_active_jobs", return_value=PollSummary(polled=2))
    repair = mocker.patch("functions.poll_jobs.reconcile")
    body = push("poll_tick_push.json")
    assert client_for("poll_jobs").post(path_of(body), json=body).status_code == 200
    step.assert_called_once()
    repair.assert_called_once()
    assert acquire.call_args.kwargs["holder"] == release.call_args.kwargs["holder"]


def test_a_poll_tick_arriving_while_another_runs_is_skipped(mocker):
    mocker.patch("functions.poll_jobs.leases.acquire", return_value=False)
    step = mocker.patch("functions.poll_jobs.poll_active_jobs")
    body = push("poll_tick_push.json")
    assert client_for("poll_jobs").post(path_of(body), json=body).status_code == 200
    step.assert_not_called()


def test_notify_sends_the_state_carried_by_the_captured_job_event(mocker):
    step = mocker.patch("functions.notify.notify_job_event", return_value=NotifyOutcome("x", "tuning.job.running"))
    body = push("job_event_push.json")
    assert client_for("notify").post(path_of(body), json=body).status_code == 200
    assert step.call_args.kwargs["job_id"] == "train-3f2a9c0d1e4b5a69" and step.call_args.kwargs["state"] == "RUNNING"


def test_notify_returns_500_when_a_delivery_failed_so_pubsub_retries_then_dead_letters(mocker):
    mocker.patch("functions.notify.notify_job_event", side_effect=DeliveryFailed("1 failed"))
    body = push("job_event_push.json")
    assert client_for("notify").post(path_of(body), json=body).status_code == 500


def test_notify_acknowledges_undecodable_data(mocker):
    step = mocker.patch("functions.notify.notify_job_event")
    body = push("job_event_push.json")
    body["message"]["data"] = base64.b64encode(b"\xff\xfe").decode()
    assert client_for("notify").post(path_of(body), json=body).status_code == 200
    step.assert_not_called()
