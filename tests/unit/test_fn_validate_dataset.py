"""validate_dataset through functions-framework's real app, fed the push body captured from the emulators."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from functions_framework import create_app

from shared.config import Settings
from shared.pipeline.validate_upload import UploadOutcome

EVENTS = Path(__file__).resolve().parents[1] / "events"
MAIN = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")
PUSH_PATH = "/projects/tunewire-test/topics/dataset-uploads"


@pytest.fixture
def client():
    return create_app("validate_dataset", MAIN, "cloudevent").test_client()


@pytest.fixture
def captured() -> dict:
    body = json.loads((EVENTS / "gcs_finalize_push.json").read_text())
    body["message"]["publishTime"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return body


@pytest.fixture
def handled(mocker):
    """The pipeline step replaced by a mock; runtime clients replaced by stand-ins."""
    from functions import runtime

    clients = mocker.MagicMock(name="clients")
    clients.settings = Settings(max_event_age_s=3600)
    mocker.patch.object(runtime, "clients", return_value=clients)
    return mocker.patch("functions.validate_dataset.handle_upload", return_value=UploadOutcome("validated", "train-1", "valid"))


def test_the_captured_emulator_push_reaches_handle_upload_with_the_parsed_upload(client, captured, handled):
    response = client.post(PUSH_PATH, json=captured)
    assert response.status_code == 200
    upload = handled.call_args.args[0]
    assert (upload.bucket, upload.name, upload.generation) == ("tunewire-test-datasets", "uploads/sentiment/train.jsonl", 1795628086959126)
    assert upload.metadata["tunewire-epochs"] == "3"


def test_a_poison_message_is_acknowledged_and_never_reaches_the_pipeline(client, captured, handled):
    captured["message"]["data"] = base64.b64encode(b"not json").decode()
    captured["message"]["attributes"] = {}
    response = client.post(PUSH_PATH, json=captured)
    assert response.status_code == 200
    handled.assert_not_called()


def test_a_transient_failure_returns_500_so_pubsub_redelivers(client, captured, handled):
    handled.side_effect = TimeoutError("firestore unavailable")
    response = client.post(PUSH_PATH, json=captured)
    assert response.status_code == 500


def test_an_event_older_than_the_maximum_age_is_acknowledged_without_work(client, captured, handled):
    captured["message"]["publishTime"] = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    response = client.post(PUSH_PATH, json=captured)
    assert response.status_code == 200
    handled.assert_not_called()
