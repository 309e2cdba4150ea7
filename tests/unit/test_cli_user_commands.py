"""The user commands (submit, jobs, show, watch, cancel, ask, webhooks) against fake clients."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from shared.config import Settings
from shared.jobs.identity import job_id_for_upload
from shared.jobs.states import JobState
from shared.pipeline.cancel_job import CancelOutcome
from shared.webhooks.endpoints import Endpoint
from shared.webhooks.signing import generate_secret
from tunewire import chart, job_live
from tunewire import console as console_module
from tunewire.cli import app

runner = CliRunner()
T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
ENDPOINT = "projects/p/locations/us-central1/endpoints/1234567890123456789"
CHECKPOINT_ENDPOINT = "projects/p/locations/us-central1/endpoints/9876543210987654321"
METRICS = {
    "steps": [{"step": step, "epoch": 1 + (step > 4), "loss": 3.0 - 0.3 * step, "learningRate": 1e-4, "tokens": 64} for step in range(1, 9)],
    "validation": [{"epoch": 1, "validationLoss": 1.9}, {"epoch": 2, "validationLoss": 1.2}],
    "localBaseModel": "tiny",
}


def history(*states: str) -> list[dict]:
    return [{"state": state, "at": T0 + timedelta(seconds=i), "reason": f"reason for {state.lower()}"} for i, state in enumerate(states)]


SUCCEEDED_JOB = {
    "id": "train-0123456789abcdef",
    "state": "SUCCEEDED",
    "source": {"bucket": "datasets", "name": "team/run/train.jsonl", "generation": "17", "uri": "gs://datasets/team/run/train.jsonl", "kind": "dataset"},
    "settings": {"base_model": "gemini-2.5-flash", "epochs": 2},
    "validation": {"valid": True, "examples": 280, "tokens": 9000, "billable_tokens": 18000, "estimated_usd": 0.09, "error_counts": {}, "first_errors": []},
    "vertex": {"job_name": "projects/p/locations/us-central1/tuningJobs/42", "state": "JOB_STATE_SUCCEEDED"},
    "tuned_model": {
        "model": "projects/p/locations/us-central1/models/77@1",
        "endpoint": ENDPOINT,
        "checkpoints": [{"checkpointId": "1", "epoch": "1", "step": "4", "endpoint": CHECKPOINT_ENDPOINT},
                        {"checkpointId": "2", "epoch": "2", "step": "8", "endpoint": ENDPOINT}],
    },
    "deliveries": [
        {"event": "tuning.job.succeeded", "endpoint_id": "ep-aaaaaaaaaaaa", "attempt": 1, "status": 503, "latency_ms": 12.5, "outcome": "failed", "error": "HTTP 503", "at": T0},
        {"event": "tuning.job.succeeded", "endpoint_id": "ep-aaaaaaaaaaaa", "attempt": 2, "status": 200, "latency_ms": 8.0, "outcome": "delivered", "error": None, "at": T0},
    ],
    "history": history("RECEIVED", "VALIDATING", "VALIDATED", "LAUNCHING", "RUNNING", "SUCCEEDED"),
    "created_at": T0,
    "updated_at": T0 + timedelta(minutes=5),
}

INVALID_JOB = {
    "id": "broken-fedcba9876543210",
    "state": "INVALID",
    "source": {"bucket": "datasets", "name": "other/broken.jsonl", "generation": "3", "uri": "gs://datasets/other/broken.jsonl", "kind": "dataset"},
    "validation": {
        "valid": False, "examples": 5, "tokens": 100, "billable_tokens": 300, "estimated_usd": 0.0,
        "error_counts": {"INVALID_JSON": 1, "EMPTY_TEXT": 1},
        "first_errors": [
            {"code": "INVALID_JSON", "file": "training", "line": 2, "path": None, "message": "not valid JSON"},
            {"code": "EMPTY_TEXT", "file": "training", "line": 7, "path": "contents[0].parts[0].text", "message": "empty text"},
        ],
    },
    "history": history("RECEIVED", "VALIDATING", "INVALID"),
    "created_at": T0,
    "updated_at": T0 + timedelta(minutes=1),
}


class FakeStore:
    def __init__(self, *jobs: dict) -> None:
        self.jobs = {job["id"]: copy.deepcopy(job) for job in jobs}
        self.scripted: dict[str, list] = {}
        self.queries: list[tuple] = []

    def get(self, job_id: str):
        script = self.scripted.get(job_id)
        if script:
            return copy.deepcopy(script.pop(0) if len(script) > 1 else script[0])
        return copy.deepcopy(self.jobs.get(job_id))

    def _newest_first(self) -> list[dict]:
        return sorted(self.jobs.values(), key=lambda job: job["updated_at"], reverse=True)

    def recent_jobs(self, limit: int = 50):
        self.queries.append(("recent", limit))
        return self._newest_first()[:limit]

    def jobs_in_state(self, state: JobState, limit: int = 100):
        self.queries.append(("state", state, limit))
        return [job for job in self._newest_first() if job["state"] == state.value][:limit]

    def jobs_with_source_prefix(self, prefix: str, limit: int = 50, *, state=None):
        self.queries.append(("prefix", prefix, limit, state))
        return [job for job in self._newest_first() if job["source"]["name"].startswith(prefix)][:limit]


class FakeBlob:
    def __init__(self, storage: "FakeStorage", bucket: str, name: str) -> None:
        self.storage, self.bucket, self.name = storage, bucket, name
        self.metadata = None
        self.generation = None

    def upload_from_filename(self, filename: str, **kwargs) -> None:
        self.storage.generation += 1
        self.generation = self.storage.generation
        with open(filename, "rb") as handle:
            content = handle.read()
        self.storage.uploads.append({"bucket": self.bucket, "name": self.name, "metadata": dict(self.metadata or {}),
                                     "content": content, "generation": self.generation, **kwargs})


class FakeStorage:
    def __init__(self) -> None:
        self.uploads: list[dict] = []
        self.generation = 1700000000000000

    def bucket(self, name: str):
        return SimpleNamespace(blob=lambda blob_name: FakeBlob(self, name, blob_name))


class FakeEndpoints:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.secrets: dict[str, str] = {}

    def add(self, url: str, *, prefix: str = "", secret: str | None = None):
        endpoint = Endpoint(id=f"ep-{len(self.endpoints) + 1:012d}", url=url, prefix=prefix, created_at=T0)
        self.endpoints[endpoint.id] = endpoint
        self.secrets[endpoint.id] = secret or generate_secret()
        return endpoint, self.secrets[endpoint.id]

    def list(self):
        return list(self.endpoints.values())

    def remove(self, endpoint_id: str) -> bool:
        return self.endpoints.pop(endpoint_id, None) is not None


@pytest.fixture
def fake(mocker):
    clients = SimpleNamespace(
        settings=Settings(project="p", datasets_bucket="datasets", local=True, vertex_endpoint="http://127.0.0.1:9"),
        jobs=FakeStore(SUCCEEDED_JOB, INVALID_JOB),
        storage=FakeStorage(),
        endpoints=FakeEndpoints(),
        bus=object(),
        vertex=object(),
    )
    mocker.patch("tunewire.context.clients", return_value=clients)
    mocker.patch("tunewire.job_common.fetch_metrics", return_value=None)
    mocker.patch.object(job_live, "POLL_INTERVAL_S", 0)
    return clients


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch):
    """Rich wraps at the terminal's width; a fixed wide one keeps lines whole."""
    for output in (console_module.console, console_module.err_console):
        monkeypatch.setattr(output, "_width", 200)


@pytest.fixture
def dataset(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text('{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}\n')
    validation = tmp_path / "val.jsonl"
    validation.write_text('{"contents": [{"role": "user", "parts": [{"text": "yo"}]}]}\n')
    return train, validation


# ------------------------------------------------------------------ submit


def test_submit_uploads_the_validation_file_first_as_data_then_the_dataset_with_its_settings(fake, dataset):
    train, validation = dataset
    result = runner.invoke(app, [
        "submit", str(train), "--validation", str(validation), "--base-model", "gemini-2.5-flash", "--epochs", "3",
        "--adapter-size", "4", "--learning-rate-multiplier", "0.5", "--display-name", "my model", "--tuning-mode", "adapter",
        "--webhook", "https://hooks.example.com/x", "--prefix", "team/",
    ])
    assert result.exit_code == 0, result.output
    first, second = fake.storage.uploads
    folder = second["name"].rsplit("/", 1)[0]
    assert folder.startswith("team/") and folder.count("/") == 1
    assert first["name"] == f"{folder}/val.jsonl" and second["name"] == f"{folder}/train.jsonl"
    assert first["bucket"] == second["bucket"] == "datasets"
    assert first["metadata"] == {"tunewire-role": "data"}
    assert second["metadata"] == {
        "tunewire-base-model": "gemini-2.5-flash",
        "tunewire-epochs": "3",
        "tunewire-adapter-size": "4",
        "tunewire-learning-rate-multiplier": "0.5",
        "tunewire-display-name": "my model",
        "tunewire-tuning-mode": "adapter",
        "tunewire-webhook": "https://hooks.example.com/x",
        "tunewire-validation": f"gs://datasets/{folder}/val.jsonl",
    }
    assert second["content"] == train.read_bytes()
    assert second["if_generation_match"] == 0
    assert result.stdout.strip() == job_id_for_upload("datasets", second["name"], second["generation"])


def test_submit_without_options_sends_no_settings_and_each_run_gets_its_own_folder(fake, dataset):
    train, _ = dataset
    assert runner.invoke(app, ["submit", str(train)]).exit_code == 0
    assert runner.invoke(app, ["submit", str(train), "--bucket", "elsewhere"]).exit_code == 0
    first, second = fake.storage.uploads
    assert first["metadata"] == {} and second["bucket"] == "elsewhere"
    assert first["name"].endswith("/train.jsonl") and first["name"] != second["name"]


def test_submit_json_prints_only_the_submission_as_json(fake, dataset):
    train, _ = dataset
    result = runner.invoke(app, ["submit", str(train), "--json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    upload = fake.storage.uploads[0]
    assert document["id"] == job_id_for_upload("datasets", upload["name"], upload["generation"])
    assert document["source"]["uri"] == f"gs://datasets/{upload['name']}"


def test_submit_wait_follows_the_job_and_json_prints_the_final_document_with_rfc3339_times(fake, dataset, mocker):
    train, _ = dataset
    mocker.patch("tunewire.submit_command.run_id", return_value="run1")
    job_id = job_id_for_upload("datasets", "run1/train.jsonl", fake.storage.generation + 1)
    done = {**copy.deepcopy(SUCCEEDED_JOB), "id": job_id}
    fake.jobs.scripted[job_id] = [None, {**done, "state": "VALIDATING", "history": done["history"][:2]}, done]
    result = runner.invoke(app, ["submit", str(train), "--wait", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["id"] == job_id and document["state"] == "SUCCEEDED"
    assert document["updated_at"] == "2025-03-04T05:11:07Z"
    assert "VALIDATING" in result.stderr


@pytest.mark.parametrize("state", ["INVALID", "FAILED", "CANCELLED"])
def test_submit_wait_exits_1_when_the_job_ends_without_success(fake, dataset, mocker, state):
    train, _ = dataset
    mocker.patch("tunewire.submit_command.run_id", return_value="run1")
    job_id = job_id_for_upload("datasets", "run1/train.jsonl", fake.storage.generation + 1)
    fake.jobs.scripted[job_id] = [{**copy.deepcopy(INVALID_JOB), "id": job_id, "state": state}]
    result = runner.invoke(app, ["submit", str(train), "--wait"])
    assert result.exit_code == 1
    assert state in result.stdout


def test_submit_wait_gives_up_after_the_timeout_with_exit_2(fake, dataset):
    train, _ = dataset
    result = runner.invoke(app, ["submit", str(train), "--wait", "--timeout", "0"])
    assert result.exit_code == 2
    assert "timed out" in result.stderr


def test_submit_of_a_missing_file_a_non_dataset_or_without_a_bucket_exits_2_in_one_line(fake, tmp_path, dataset):
    missing = runner.invoke(app, ["submit", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr and "Traceback" not in missing.output
    not_a_dataset = tmp_path / "notes.txt"
    not_a_dataset.write_text("hello")
    wrong_kind = runner.invoke(app, ["submit", str(not_a_dataset)])
    assert wrong_kind.exit_code == 2 and "*.jsonl" in wrong_kind.stderr
    fake.settings = Settings(project="p")
    no_bucket = runner.invoke(app, ["submit", str(dataset[0])])
    assert no_bucket.exit_code == 2 and "no datasets bucket" in no_bucket.stderr
    assert fake.storage.uploads == []


def test_an_upload_error_exits_2_with_one_line(fake, dataset, mocker):
    mocker.patch.object(FakeBlob, "upload_from_filename", side_effect=ConnectionError("refused\nsecond line"))
    result = runner.invoke(app, ["submit", str(dataset[0])])
    assert result.exit_code == 2
    assert "ConnectionError: refused" in result.stderr and "second line" not in result.stderr


# ------------------------------------------------------------------ jobs


def test_jobs_lists_newest_first_with_state_source_examples_and_update_time(fake):
    result = runner.invoke(app, ["jobs"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    succeeded = next(i for i, line in enumerate(lines) if SUCCEEDED_JOB["id"] in line)
    invalid = next(i for i, line in enumerate(lines) if INVALID_JOB["id"] in line)
    assert succeeded < invalid
    assert "team/run/train.jsonl" in lines[succeeded] and "280" in lines[succeeded] and "2025-03-04 05:11Z" in lines[succeeded]
    assert fake.jobs.queries == [("recent", 20)]


def test_jobs_state_and_prefix_use_the_store_queries(fake):
    by_state = runner.invoke(app, ["jobs", "--state", "invalid", "--limit", "5"])
    assert by_state.exit_code == 0 and INVALID_JOB["id"] in by_state.stdout and SUCCEEDED_JOB["id"] not in by_state.stdout
    by_prefix = runner.invoke(app, ["jobs", "--prefix", "team/", "--json"])
    assert [job["id"] for job in json.loads(by_prefix.stdout)] == [SUCCEEDED_JOB["id"]]
    assert fake.jobs.queries[0] == ("state", JobState.INVALID, 5)
    assert fake.jobs.queries[1] == ("prefix", "team/", 20, None)


def test_jobs_with_an_unknown_state_is_a_usage_error(fake):
    assert runner.invoke(app, ["jobs", "--state", "DANCING"]).exit_code == 2


# ------------------------------------------------------------------ show


def test_show_renders_history_tuned_model_checkpoints_and_deliveries(fake):
    result = runner.invoke(app, ["show", SUCCEEDED_JOB["id"]])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for state in ("RECEIVED", "VALIDATING", "LAUNCHING", "SUCCEEDED"):
        assert state in out
    assert "2025-03-04 05:06:07Z" in out and "reason for launching" in out
    assert ENDPOINT in out and CHECKPOINT_ENDPOINT in out
    delivery_lines = [line for line in out.splitlines() if "ep-aaaaaaaaaaaa" in line]
    assert len(delivery_lines) == 2
    assert "succeeded" in delivery_lines[0] and "503" in delivery_lines[0] and "12 ms" in delivery_lines[0]
    assert "delivered" in delivery_lines[1]


def test_show_lists_the_first_validation_errors_with_their_line_numbers(fake):
    result = runner.invoke(app, ["show", INVALID_JOB["id"]])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    json_error = next(line for line in lines if "INVALID_JSON" in line and "not valid JSON" in line)
    empty_text = next(line for line in lines if "EMPTY_TEXT" in line and "empty text" in line)
    assert " 2 " in json_error and " 7 " in empty_text and "contents[0].parts[0].text" in empty_text


def test_show_draws_the_loss_curve_from_the_twin_metrics(fake, mocker):
    mocker.patch("tunewire.job_common.fetch_metrics", return_value=METRICS)
    result = runner.invoke(app, ["show", SUCCEEDED_JOB["id"]])
    assert result.exit_code == 0
    losses = [entry["loss"] for entry in METRICS["steps"]]
    assert chart.sparkline(losses, width=60) in result.stdout
    assert "training loss" in result.stdout and "step 1" in result.stdout and "step 8" in result.stdout
    assert "validation loss epoch 1: 1.9000, epoch 2: 1.2000" in result.stdout


def test_show_json_prints_the_document_and_an_unknown_job_exits_2(fake):
    shown = runner.invoke(app, ["show", INVALID_JOB["id"], "--json"])
    assert json.loads(shown.stdout)["validation"]["first_errors"][1]["line"] == 7
    missing = runner.invoke(app, ["show", "no-such-job"])
    assert missing.exit_code == 2 and "no job" in missing.stderr


# ------------------------------------------------------------------ watch


def test_watch_follows_an_existing_job_to_its_end(fake, mocker):
    mocker.patch("tunewire.job_common.fetch_metrics", return_value=METRICS)
    running = {**copy.deepcopy(SUCCEEDED_JOB), "state": "RUNNING", "vertex": {**SUCCEEDED_JOB["vertex"], "state": "JOB_STATE_RUNNING"}}
    fake.jobs.scripted[SUCCEEDED_JOB["id"]] = [running, running, SUCCEEDED_JOB]
    result = runner.invoke(app, ["watch", SUCCEEDED_JOB["id"]])
    assert result.exit_code == 0, result.output
    assert "RUNNING (Vertex JOB_STATE_RUNNING)" in result.stdout
    assert "training epoch 2 step 8 loss 0.6000" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("SUCCEEDED: tuned model")


def test_watch_exits_1_for_an_invalid_job_and_2_for_an_unknown_one(fake):
    assert runner.invoke(app, ["watch", INVALID_JOB["id"]]).exit_code == 1
    assert runner.invoke(app, ["watch", "nope"]).exit_code == 2


def test_the_live_panel_shows_state_vertex_state_step_loss_and_elapsed_time():
    view = job_live._View("j", job=copy.deepcopy(SUCCEEDED_JOB), metrics=METRICS, elapsed_s=83)
    output = Console(width=120, record=True)
    output.print(job_live.render(view))
    text = output.export_text()
    assert "SUCCEEDED" in text and "Vertex JOB_STATE_SUCCEEDED" in text
    assert "step 8  epoch 2  loss 0.6000" in text and "1m 23s" in text


# ------------------------------------------------------------------ cancel


@pytest.mark.parametrize(
    ("action", "code"),
    [("cancelled", 0), ("cancelling", 0), ("already_terminal", 1), ("not_found", 2)],
)
def test_cancel_exit_codes_follow_the_outcome(fake, mocker, action, code):
    cancel = mocker.patch("shared.pipeline.cancel_job.cancel_job", return_value=CancelOutcome(action, "j1", "X", "because"))
    result = runner.invoke(app, ["cancel", "j1"])
    assert result.exit_code == code
    assert cancel.call_args.args == ("j1",)
    assert cancel.call_args.kwargs["store"] is fake.jobs and cancel.call_args.kwargs["vertex"] is fake.vertex


# ------------------------------------------------------------------ ask


def test_ask_posts_generate_content_to_the_tuned_endpoint_through_the_twin_without_auth(fake, mocker):
    answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": "positive"}]}}]}
    post = mocker.patch("tunewire.ask_command.post_json", return_value=(200, answer))
    result = runner.invoke(app, ["ask", SUCCEEDED_JOB["id"], "I love it", "--max-tokens", "8", "--temperature", "0", "--system", "Be terse."])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "positive"
    url, body, headers, _ = post.call_args.args
    assert url == f"http://127.0.0.1:9/v1/{ENDPOINT}:generateContent"
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "I love it"}]}],
        "generationConfig": {"maxOutputTokens": 8, "temperature": 0.0},
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
    }
    assert "Authorization" not in headers


def test_ask_a_checkpoint_uses_its_endpoint_and_a_job_without_endpoint_exits_2(fake, mocker):
    post = mocker.patch("tunewire.ask_command.post_json", return_value=(200, {"candidates": []}))
    assert runner.invoke(app, ["ask", SUCCEEDED_JOB["id"], "hi", "--checkpoint", "1"]).exit_code == 0
    assert CHECKPOINT_ENDPOINT in post.call_args.args[0]
    assert runner.invoke(app, ["ask", SUCCEEDED_JOB["id"], "hi", "--checkpoint", "9"]).exit_code == 2
    untuned = runner.invoke(app, ["ask", INVALID_JOB["id"], "hi"])
    assert untuned.exit_code == 2 and "no tuned endpoint" in untuned.stderr


def test_ask_against_vertex_sends_a_bearer_token_and_reports_api_errors_in_one_line(fake, mocker):
    fake.settings = Settings(project="p", region="us-central1")
    mocker.patch("tunewire.ask_command._access_token", return_value="tok")
    post = mocker.patch("tunewire.ask_command.post_json", return_value=(403, {"error": {"code": 403, "message": "permission denied"}}))
    result = runner.invoke(app, ["ask", SUCCEEDED_JOB["id"], "hi"])
    assert post.call_args.args[0].startswith("https://us-central1-aiplatform.googleapis.com/v1/projects/")
    assert post.call_args.args[2]["Authorization"] == "Bearer tok"
    assert result.exit_code == 2 and "403: permission denied" in result.stderr


# ------------------------------------------------------------------ webhooks


def test_webhooks_add_prints_the_generated_secret_once_and_list_never_shows_it(fake):
    added = runner.invoke(app, ["webhooks", "add", "http://127.0.0.1:9000/hook", "--prefix", "team/"])
    assert added.exit_code == 0, added.output
    endpoint_id, secret = next(iter(fake.endpoints.secrets.items()))
    assert added.stdout.count(secret) == 1 and endpoint_id in added.stdout
    assert "shown only once" in added.stderr
    listed = runner.invoke(app, ["webhooks", "list"])
    as_json = runner.invoke(app, ["webhooks", "list", "--json"])
    assert endpoint_id in listed.stdout and "http://127.0.0.1:9000/hook" in listed.stdout
    assert secret not in listed.output and secret not in as_json.output and "whsec_" not in as_json.output
    assert json.loads(as_json.stdout)[0]["prefix"] == "team/"


def test_webhooks_add_with_a_given_secret_does_not_echo_it(fake):
    secret = generate_secret()
    added = runner.invoke(app, ["webhooks", "add", "http://127.0.0.1:9000/", "--secret", secret])
    assert added.exit_code == 0 and secret not in added.output
    bad = runner.invoke(app, ["webhooks", "add", "http://127.0.0.1:9000/", "--secret", "not-a-secret"])
    assert bad.exit_code == 2 and "whsec_" in bad.stderr


def test_webhooks_add_refuses_urls_deliveries_would_refuse(fake):
    fake.settings = Settings(project="p", local=False)
    result = runner.invoke(app, ["webhooks", "add", "http://127.0.0.1:9000/"])
    assert result.exit_code == 2 and fake.endpoints.endpoints == {}
    assert runner.invoke(app, ["webhooks", "add", "ftp://example.com/"]).exit_code == 2


def test_webhooks_remove_exits_2_for_an_unknown_endpoint(fake):
    runner.invoke(app, ["webhooks", "add", "http://127.0.0.1:9000/"])
    endpoint_id = next(iter(fake.endpoints.endpoints))
    assert runner.invoke(app, ["webhooks", "remove", endpoint_id]).exit_code == 0
    assert runner.invoke(app, ["webhooks", "remove", endpoint_id]).exit_code == 2


def test_webhooks_listen_needs_a_way_to_verify_signatures(fake):
    result = runner.invoke(app, ["webhooks", "listen", "--port", "0"])
    assert result.exit_code == 2 and "--register" in result.stderr


# ------------------------------------------------------------------ chart


def test_the_sparkline_runs_from_the_lowest_to_the_highest_block():
    line = chart.sparkline([3, 2, 1, None, float("nan")])
    assert len(line) == 3 and line[0] == "█" and line[-1] == "▁"
    assert chart.sparkline([]) == ""
    assert len(chart.sparkline(list(range(500)), width=40)) == 40


def test_the_line_chart_labels_its_extremes_and_its_steps():
    lines = chart.line_chart([2.0, 1.5, 1.0, 0.5], width=10, height=4, x_start=5)
    assert lines[:4] == ["  2 ┤•", "    │ •", "    │  •", "0.5 ┤   •"]
    assert lines[4] == "    └────"
    assert lines[5].strip() == "step 5 step 8"
    assert chart.line_chart([]) == []
