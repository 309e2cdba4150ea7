"""The user commands against the real emulators (Firestore, fake-gcs, Pub/Sub) and a tuning twin.

Each test points `tunewire.context.clients()` at the emulators through the environment
(`TUNEWIRE_USE_ENV=1`) with collections, a bucket and a secrets file of its own. No functions
run here: jobs are written straight into Firestore, and `submit` is checked at the bucket.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import urllib3
from google.cloud import firestore, pubsub_v1, storage
from typer.testing import CliRunner

from shared.config import Settings
from shared.jobs.identity import job_id_for_upload
from shared.jobs.states import JobState
from shared.jobs.store import JobStore
from shared.vertex import VertexTuning
from shared.webhooks import build_payload, encode_payload, generate_secret, sign, webhook_message_id
from shared.webhooks.endpoints import LocalSecretStore
from tests.integration.pipeline_helpers import PROJECT
from tunewire import console as console_module
from tunewire.cli import app
from tunewire.context import clients

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "sentiment"
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch):
    for output in (console_module.console, console_module.err_console):
        monkeypatch.setattr(output, "_width", 200)


@pytest.fixture
def cli(monkeypatch, firestore_emulator, fake_gcs, tmp_path):
    """The environment a user of the local stack would have, with collections of its own."""
    suffix = uuid.uuid4().hex[:8]
    bucket = storage.Client(project=PROJECT).create_bucket(f"cli-{suffix}")
    env = {
        "TUNEWIRE_USE_ENV": "1",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "TUNEWIRE_JOBS_COLLECTION": f"jobs-{suffix}",
        "TUNEWIRE_ENDPOINTS_COLLECTION": f"endpoints-{suffix}",
        "TUNEWIRE_WEBHOOK_SECRETS_FILE": str(tmp_path / "webhook-secrets.json"),
        "TUNEWIRE_LOCAL": "true",
        "TUNEWIRE_DATASETS_BUCKET": bucket.name,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    clients.cache_clear()
    yield SimpleNamespace(
        env=env,
        bucket=bucket,
        store=JobStore(firestore.Client(project=PROJECT), env["TUNEWIRE_JOBS_COLLECTION"]),
        secrets=LocalSecretStore(env["TUNEWIRE_WEBHOOK_SECRETS_FILE"]),
        suffix=suffix,
    )
    clients.cache_clear()


def make_job(store: JobStore, name: str, *states: JobState, **updates) -> str:
    job_id = job_id_for_upload("datasets", name, 1)
    store.create_if_absent(job_id, {"source": {"bucket": "datasets", "name": name, "generation": "1", "uri": f"gs://datasets/{name}", "kind": "dataset"}},
                           reason="dataset uploaded")
    for state in states:
        store.transition(job_id, state, reason=f"moved to {state.value.lower()}", updates=updates if state is states[-1] else None)
    return job_id


# ------------------------------------------------------------------ submit


def test_submit_uploads_the_dataset_and_its_validation_file_to_the_bucket(cli):
    result = runner.invoke(app, ["submit", str(EXAMPLES / "train.jsonl"), "--validation", str(EXAMPLES / "validation.jsonl"),
                                 "--epochs", "2", "--display-name", "sentiment", "--prefix", "team"])
    assert result.exit_code == 0, result.output
    blobs = {blob.name: blob for blob in cli.bucket.client.list_blobs(cli.bucket.name)}
    train_name = next(name for name in blobs if name.endswith("/train.jsonl"))
    validation_name = next(name for name in blobs if name.endswith("/validation.jsonl"))
    assert train_name.startswith("team/") and len(blobs) == 2
    train, validation = blobs[train_name], blobs[validation_name]
    assert validation.metadata == {"tunewire-role": "data"}
    assert train.metadata == {"tunewire-epochs": "2", "tunewire-display-name": "sentiment",
                              "tunewire-validation": f"gs://{cli.bucket.name}/{validation_name}"}
    assert train.generation > 0 and validation.generation > 0
    assert cli.bucket.blob(train_name).download_as_bytes() == (EXAMPLES / "train.jsonl").read_bytes()
    assert result.stdout.strip() == job_id_for_upload(cli.bucket.name, train_name, train.generation)


def test_submit_json_prints_the_submission_naming_the_uploaded_object(cli):
    result = runner.invoke(app, ["submit", str(EXAMPLES / "train.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    submission = json.loads(result.stdout)
    blob = cli.bucket.get_blob(submission["source"]["name"])
    assert submission["id"] == job_id_for_upload(cli.bucket.name, blob.name, blob.generation)
    assert submission["source"]["generation"] == str(blob.generation)


def test_submit_to_a_missing_bucket_exits_2_in_one_line(cli):
    result = runner.invoke(app, ["submit", str(EXAMPLES / "train.jsonl"), "--bucket", f"missing-{cli.suffix}"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


# ------------------------------------------------------------------ jobs and show


def test_jobs_lists_firestore_jobs_newest_first_and_filters_by_state_and_prefix(cli):
    older = make_job(cli.store, "team/a/train.jsonl", JobState.VALIDATING, JobState.INVALID)
    other = make_job(cli.store, "other/b/train.jsonl", JobState.VALIDATING)
    newer = make_job(cli.store, "team/c/train.jsonl", JobState.VALIDATING, JobState.VALIDATED, validation={"valid": True, "examples": 280})

    listed = runner.invoke(app, ["jobs"])
    assert listed.exit_code == 0, listed.output
    order = [job_id for line in listed.stdout.splitlines() for job_id in (older, other, newer) if job_id in line]
    assert order == [newer, other, older]
    assert "280" in next(line for line in listed.stdout.splitlines() if newer in line)

    invalid = json.loads(runner.invoke(app, ["jobs", "--state", "INVALID", "--json"]).stdout)
    assert [job["id"] for job in invalid] == [older]
    team = json.loads(runner.invoke(app, ["jobs", "--prefix", "team/", "--json"]).stdout)
    assert [job["id"] for job in team] == [newer, older]
    team_invalid = json.loads(runner.invoke(app, ["jobs", "--prefix", "team/", "--state", "INVALID", "--json"]).stdout)
    assert [job["id"] for job in team_invalid] == [older]
    assert json.loads(runner.invoke(app, ["jobs", "--limit", "1", "--json"]).stdout)[0]["id"] == newer


def test_show_renders_a_firestore_job_with_its_errors_and_line_numbers(cli):
    validation = {
        "valid": False, "examples": 2, "tokens": 40, "billable_tokens": 120, "estimated_usd": 0.0,
        "error_counts": {"INVALID_JSON": 1},
        "first_errors": [{"code": "INVALID_JSON", "file": "training", "line": 2, "path": None, "message": "line 2 is not JSON"}],
    }
    job_id = make_job(cli.store, "team/broken.jsonl", JobState.VALIDATING, JobState.INVALID, validation=validation)
    shown = runner.invoke(app, ["show", job_id])
    assert shown.exit_code == 0, shown.output
    assert "moved to validating" in shown.stdout and "INVALID" in shown.stdout
    error_line = next(line for line in shown.stdout.splitlines() if "INVALID_JSON" in line and "not JSON" in line)
    assert " 2 " in error_line

    document = json.loads(runner.invoke(app, ["show", job_id, "--json"]).stdout)
    assert document["validation"]["first_errors"][0]["line"] == 2
    assert document["updated_at"].endswith("Z") and [entry["state"] for entry in document["history"]] == ["RECEIVED", "VALIDATING", "INVALID"]
    assert runner.invoke(app, ["show", "no-such-job"]).exit_code == 2


def test_cancel_ends_a_job_before_launch_and_then_reports_it_already_ended(cli, pubsub_emulator, monkeypatch):
    topic = f"job-events-{cli.suffix}"
    pubsub_v1.PublisherClient().create_topic(name=f"projects/{PROJECT}/topics/{topic}")
    monkeypatch.setenv("TUNEWIRE_TOPIC_JOB_EVENTS", topic)
    job_id = make_job(cli.store, "team/cancel-me.jsonl")

    cancelled = runner.invoke(app, ["cancel", job_id])
    assert cancelled.exit_code == 0, cancelled.output
    assert cli.store.get(job_id)["state"] == "CANCELLED"
    assert runner.invoke(app, ["cancel", job_id]).exit_code == 1
    assert runner.invoke(app, ["cancel", "no-such-job"]).exit_code == 2


# ------------------------------------------------------------------ webhooks


def test_webhooks_add_list_remove_keep_secrets_out_of_firestore_and_out_of_list(cli):
    added = runner.invoke(app, ["webhooks", "add", "http://127.0.0.1:9/hooks", "--prefix", "team/"])
    assert added.exit_code == 0, added.output
    endpoint_id = cli.secrets.endpoint_ids()[0]
    secret = cli.secrets.get_secrets(endpoint_id)[0]
    assert added.stdout.count(secret) == 1 and endpoint_id in added.stdout

    record = firestore.Client(project=PROJECT).collection(cli.env["TUNEWIRE_ENDPOINTS_COLLECTION"]).document(endpoint_id).get().to_dict()
    assert record["url"] == "http://127.0.0.1:9/hooks" and secret not in json.dumps(record, default=str)
    listed = runner.invoke(app, ["webhooks", "list", "--json"])
    assert [entry["id"] for entry in json.loads(listed.stdout)] == [endpoint_id]
    assert "whsec_" not in listed.output and "whsec_" not in runner.invoke(app, ["webhooks", "list"]).output

    assert runner.invoke(app, ["webhooks", "remove", endpoint_id]).exit_code == 0
    assert cli.secrets.endpoint_ids() == []
    assert json.loads(runner.invoke(app, ["webhooks", "list", "--json"]).stdout) == []
    assert runner.invoke(app, ["webhooks", "remove", endpoint_id]).exit_code == 2


def _lines(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _next_line(lines: queue.Queue, containing: str) -> str:
    while True:
        line = lines.get(timeout=60)  # a guard against a hung child, not a timing check
        if containing in line:
            return line


def test_webhooks_listen_register_verifies_a_signed_event_prints_it_and_unregisters_on_ctrl_c(cli):
    child = subprocess.Popen(
        [sys.executable, "-m", "tunewire.cli", "webhooks", "listen", "--port", "0", "--register", "--json"],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = _lines(child.stdout), _lines(child.stderr)
        listening = _next_line(stderr, "listening on")
        url = listening.split("listening on ", 1)[1].split()[0]
        endpoint_id = listening.split("as endpoint ", 1)[1].split(";")[0]
        assert url.startswith("http://127.0.0.1:")
        registered = json.loads(runner.invoke(app, ["webhooks", "list", "--json"]).stdout)
        assert [(entry["id"], entry["url"]) for entry in registered] == [(endpoint_id, url)]

        job = {"id": "job-listen-1", "state": "SUCCEEDED", "source": {"bucket": "b", "name": "team/t.jsonl", "generation": "5"}}
        body = encode_payload(build_payload(job, "tuning.job.succeeded"))
        msg_id = webhook_message_id(job["id"], "tuning.job.succeeded")
        secret = cli.secrets.get_secrets(endpoint_id)[0]
        forged = urllib3.request("POST", url, body=body, headers=sign(generate_secret(), msg_id, time.time(), body), retries=False)
        assert forged.status == 401
        accepted = urllib3.request("POST", url, body=body, headers=sign(secret, msg_id, time.time(), body), retries=False)
        assert accepted.status == 200

        event = json.loads(_next_line(stdout, msg_id))
        assert event["type"] == "tuning.job.succeeded" and event["job_id"] == "job-listen-1"
        assert event["state"] == "SUCCEEDED" and event["webhook_id"] == msg_id

        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert json.loads(runner.invoke(app, ["webhooks", "list", "--json"]).stdout) == []
    assert cli.secrets.endpoint_ids() == []


# ------------------------------------------------------------------ against the twin


def test_show_draws_the_twin_loss_curve_ask_answers_and_watch_exits_0_for_a_tuned_job(cli, twin, training_uri, monkeypatch):
    monkeypatch.setenv("TUNEWIRE_VERTEX_ENDPOINT", twin.url)
    monkeypatch.setenv("TUNEWIRE_REGION", "us-central1")
    vertex = VertexTuning(Settings(project=PROJECT, region="us-central1", vertex_endpoint=twin.url))
    job_id = f"cli-{cli.suffix}"
    tuning = vertex.create(job_id=job_id, job_settings={"base_model": "gemini-2.5-flash", "epochs": 1}, training_uri=training_uri)
    deadline = time.monotonic() + 120
    while not tuning.ended and time.monotonic() < deadline:
        time.sleep(0.2)
        tuning = vertex.get(tuning.name)
    assert tuning.state == "JOB_STATE_SUCCEEDED"
    cli.store.create_if_absent(job_id, {"source": {"bucket": "datasets", "name": "team/twin/train.jsonl"}}, reason="dataset uploaded")
    cli.store.reference(job_id).update({
        "state": "SUCCEEDED",
        "vertex": {"job_name": tuning.name, "state": tuning.state},
        "tuned_model": {"model": tuning.tuned_model, "endpoint": tuning.endpoint, "checkpoints": [dict(c) for c in tuning.checkpoints]},
    })

    shown = runner.invoke(app, ["show", job_id])
    assert shown.exit_code == 0, shown.output
    assert "training loss" in shown.stdout and "trained locally as" in shown.stdout
    assert any(line.lstrip().startswith("step 1") for line in shown.stdout.splitlines())

    answered = runner.invoke(app, ["ask", job_id, "I love this lamp", "--max-tokens", "8"])
    assert answered.exit_code == 0, answered.output
    assert answered.stdout.strip()
    checkpoint = tuning.checkpoints[0]["checkpointId"]
    assert runner.invoke(app, ["ask", job_id, "hi", "--checkpoint", str(checkpoint), "--json"]).exit_code == 0

    watched = runner.invoke(app, ["watch", job_id, "--json"])
    assert watched.exit_code == 0 and json.loads(watched.stdout)["state"] == "SUCCEEDED"
