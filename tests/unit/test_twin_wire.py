"""The tuning twin's REST layer in process: wire shapes, filters, labels, validation, errors, jobs.

The app runs with the deterministic fake engine (infra.twin.fake_engine) or a gated test engine,
driven through Flask's test client.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from infra.twin.config import TwinConfig
from infra.twin.engine import (
    Checkpoint,
    DataStats,
    GenerationRequest,
    GenerationResult,
    LocalBase,
    StepMetrics,
    TrainingCancelled,
    TrainingObserver,
    TrainingResult,
    TrainingSpec,
)
from infra.twin.fake_engine import FakeTrainingEngine
from infra.twin.filters import parse_filter
from infra.twin.jobs import DEFAULT_EPOCH_COUNT, CheckpointRecord, JobRecord, data_stats_to_wire, lora_rank_for
from infra.twin.model_mapping import resolve_base_model
from infra.twin.server import create_app, service_of
from infra.twin.store import JobStore
from infra.twin.validation import label_problem
from infra.twin.wire import (
    ADAPTER_SIZE,
    JOB_STATE,
    TUNING_MODE,
    WireValueError,
    format_time,
    parse_double,
    parse_int64,
    parse_time,
)

REPO = Path(__file__).resolve().parents[2]
TRAIN_URI = (REPO / "examples" / "sentiment" / "train.jsonl").as_uri()
VALIDATION_URI = (REPO / "examples" / "sentiment" / "validation.jsonl").as_uri()
PARENT = "projects/p1/locations/us-central1"
JOBS = f"/v1/{PARENT}/tuningJobs"
BETA_JOBS = f"/v1beta1/{PARENT}/tuningJobs"
WAIT_S = 30.0


# --- wire conversions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (0, "ADAPTER_SIZE_UNSPECIFIED"),
        (1, "ADAPTER_SIZE_ONE"),
        (2, "ADAPTER_SIZE_FOUR"),
        (3, "ADAPTER_SIZE_EIGHT"),
        (4, "ADAPTER_SIZE_SIXTEEN"),
        (5, "ADAPTER_SIZE_THIRTY_TWO"),
        (6, "ADAPTER_SIZE_TWO"),
        ("6", "ADAPTER_SIZE_TWO"),
        ("ADAPTER_SIZE_EIGHT", "ADAPTER_SIZE_EIGHT"),
        ("adapter_size_eight", "ADAPTER_SIZE_EIGHT"),
    ],
)
def test_adapter_size_accepts_numbers_and_names(value: Any, name: str) -> None:
    assert ADAPTER_SIZE.parse(value, "f") == name


def test_enum_numbers_match_the_protos() -> None:
    assert JOB_STATE.number("JOB_STATE_QUEUED") == 1
    assert JOB_STATE.number("JOB_STATE_CANCELLED") == 7
    assert JOB_STATE.number("JOB_STATE_PARTIALLY_SUCCEEDED") == 11
    assert TUNING_MODE.parse(1, "f") == "TUNING_MODE_FULL"
    assert TUNING_MODE.parse("TUNING_MODE_PEFT_ADAPTER", "f") == "TUNING_MODE_PEFT_ADAPTER"


@pytest.mark.parametrize("bad", [7, "ADAPTER_SIZE_NINE", True, None, 2.5, "-1"])
def test_unknown_enum_values_are_rejected_with_the_field_path(bad: Any) -> None:
    with pytest.raises(WireValueError, match=r"Invalid value at 'a\.b' \(type\.googleapis\.com/.*AdapterSize\)"):
        ADAPTER_SIZE.parse(bad, "a.b")


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (3, 3), (3.0, 3), (" 12 ", 12), ("-4", -4), (2**63 - 1, 2**63 - 1)])
def test_int64_accepts_strings_and_numbers(value: Any, expected: int) -> None:
    assert parse_int64(value, "x") == expected


@pytest.mark.parametrize("bad", ["3.5", 3.5, True, "three", "", None, 2**63, [3]])
def test_int64_rejects_everything_else(bad: Any) -> None:
    with pytest.raises(WireValueError, match=r"\(TYPE_INT64\)"):
        parse_int64(bad, "x")


def test_double_accepts_numbers_and_numeric_strings() -> None:
    assert parse_double(1, "x") == 1.0
    assert parse_double("0.5", "x") == 0.5
    with pytest.raises(WireValueError):
        parse_double("fast", "x")


def test_times_are_rfc3339_utc_with_z() -> None:
    moment = dt.datetime(2026, 11, 25, 17, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    text = format_time(moment)
    assert text == "2026-11-25T15:04:05.123456Z"
    assert parse_time(text) == moment
    assert parse_time("2026-11-25T15:04:05Z") == dt.datetime(2026, 11, 25, 15, 4, 5, tzinfo=dt.timezone.utc)
    assert parse_time("2026-11-25T15:04:05.123456789+00:00").microsecond == 123456
    with pytest.raises(ValueError):
        format_time(dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_adapter_sizes_map_to_lora_ranks() -> None:
    ranks = {name: lora_rank_for(name) for name in ADAPTER_SIZE.names}
    assert ranks == {
        "ADAPTER_SIZE_UNSPECIFIED": 4,
        "ADAPTER_SIZE_ONE": 1,
        "ADAPTER_SIZE_TWO": 2,
        "ADAPTER_SIZE_FOUR": 4,
        "ADAPTER_SIZE_EIGHT": 8,
        "ADAPTER_SIZE_SIXTEEN": 16,
        "ADAPTER_SIZE_THIRTY_TWO": 32,
    }
    assert lora_rank_for(None) == 4


def test_data_stats_render_int64_as_strings() -> None:
    stats = DataStats(
        example_count=10,
        total_billable_token_count=300,
        tuning_step_count=9,
        total_truncated_example_count=1,
        truncated_example_indices=[4],
        dropped_example_reasons=["line 2: no model turn"],
        user_input_token_distribution={"sum": 100.0, "billable_sum": 100.0, "mean": 10.0, "p95": 12.0},
    )
    wire = data_stats_to_wire(stats)
    assert wire["tuningDatasetExampleCount"] == "10"
    assert wire["totalBillableTokenCount"] == "300"
    assert wire["tuningStepCount"] == "9"
    assert wire["truncatedExampleIndices"] == ["4"]
    assert wire["droppedExampleReasons"] == ["line 2: no model turn"]
    assert wire["userInputTokenDistribution"] == {"sum": "100", "billableSum": "100", "mean": 10.0, "p95": 12.0}


# --- model mapping -----------------------------------------------------------------------


def test_gemini_models_map_to_the_configured_local_base_and_open_models_to_themselves() -> None:
    assert resolve_base_model("gemini-2.5-flash", LocalBase.TINY).local_base is LocalBase.TINY
    assert resolve_base_model("gemini-2.5-flash", LocalBase.GEMMA_3_270M).local_base is LocalBase.GEMMA_3_270M
    prefixed = resolve_base_model("projects/p/locations/l/publishers/google/models/gemini-2.5-pro", LocalBase.TINY)
    assert prefixed.canonical == "gemini-2.5-pro" and not prefixed.supports_full
    gemma = resolve_base_model("gemma-3-270m", LocalBase.TINY)
    assert gemma.local_base is LocalBase.GEMMA_3_270M and gemma.supports_full and gemma.is_open_model
    tiny = resolve_base_model("tiny", LocalBase.GEMMA_3_270M)
    assert tiny.local_base is LocalBase.TINY and tiny.supports_full and tiny.adapter_ranks == gemma.adapter_ranks


# --- filters -----------------------------------------------------------------------------


def _record(**overrides: Any) -> JobRecord:
    values: dict[str, Any] = dict(
        job_id="1",
        project="p",
        location="l",
        seq=1,
        api_version="v1",
        base_model="gemini-2.5-flash",
        base_model_canonical="gemini-2.5-flash",
        local_base="tiny",
        full_tuning=False,
        lora_rank=4,
        epochs=3,
        learning_rate_multiplier=1.0,
        training_dataset_uri="gs://b/t.jsonl",
        labels={"team": "search", "env": "dev"},
        state="JOB_STATE_RUNNING",
        tuned_model_display_name="my model",
    )
    values.update(overrides)
    return JobRecord(**values)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ('labels.team="search"', True),
        ("labels.team=search", True),
        ("labels.team=ads", False),
        ("labels.team!=ads", True),
        ("labels.team:*", True),
        ("labels.owner:*", False),
        ("state=JOB_STATE_RUNNING", True),
        ('state="JOB_STATE_RUNNING"', True),
        ("state=3", True),
        ("state=JOB_STATE_SUCCEEDED", False),
        ("state!=JOB_STATE_SUCCEEDED", True),
        ('labels.team="search" AND state=JOB_STATE_RUNNING', True),
        ("labels.team=search AND labels.env=prod", False),
        ('tuned_model_display_name="my model"', True),
        ('labels.team="AND x"', False),
        ("base_model=gemini-2.5-flash", True),
        ("", True),
    ],
)
def test_filters(text: str, matches: bool) -> None:
    assert parse_filter(text)(_record()) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("display_name=x", "Unsupported filter field 'display_name'"),
        ('labels.team="search', "unterminated string"),
        ("state=JOB_STATE_BORED", "unknown job state"),
        ("labels.team=search AND", "empty term"),
        ("team", "expected FIELD=VALUE"),
        ("labels.team=two words", "quote values"),
    ],
)
def test_bad_filters_are_400_with_a_reason(text: str, message: str) -> None:
    from infra.twin.errors import ApiError

    with pytest.raises(ApiError) as caught:
        parse_filter(text)
    assert caught.value.code == 400 and message in caught.value.message


# --- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [("team", "search"), ("a", ""), ("k-1_x", "v-2_y"), ("k" * 64, "v" * 64)])
def test_valid_labels(key: str, value: str) -> None:
    assert label_problem(key, value) is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("Team", "x", "must start with a lowercase letter"),
        ("1team", "x", "must start with a lowercase letter"),
        ("team.name", "x", "must start with a lowercase letter"),
        ("", "x", "must not be empty"),
        ("k" * 65, "x", "longer than 64"),
        ("team", "Search", "values may contain only"),
        ("team", "a b", "values may contain only"),
        ("team", "v" * 65, "longer than 64"),
        ("team", 3, "must be strings"),
    ],
)
def test_invalid_labels(key: Any, value: Any, message: str) -> None:
    problem = label_problem(key, value)
    assert problem is not None and message in problem


# --- the app: fixtures -------------------------------------------------------------------


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "engine": "fake", "fake_step_seconds": 0.0}
        values.update(overrides)
        app = create_app(TwinConfig(**values))
        apps.append(app)
        return app

    yield make
    for app in apps:
        service_of(app).shutdown()


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()


def job_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": TRAIN_URI,
            "hyperParameters": {"epochCount": "1", "adapterSize": 2},
        },
    }
    body.update(overrides)
    return body


def with_spec(**spec: Any) -> dict[str, Any]:
    body = job_body()
    body["supervisedTuningSpec"] = {**body["supervisedTuningSpec"], **spec}
    return body


def with_hyper(**hyper: Any) -> dict[str, Any]:
    body = job_body()
    body["supervisedTuningSpec"]["hyperParameters"] = {**body["supervisedTuningSpec"]["hyperParameters"], **hyper}
    return body


def wait_state(client: FlaskClient, name: str, states: set[str], version: str = "v1") -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        job = client.get(f"/{version}/{name}").get_json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} stayed {job['state']}, wanted {states}")
        time.sleep(0.02)


def assert_error(response: Any, code: int, status: str, fragment: str = "") -> None:
    body = response.get_json()
    assert response.status_code == code, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "status"}
    assert body["error"]["code"] == code and body["error"]["status"] == status
    assert fragment in body["error"]["message"], body["error"]["message"]


# --- request validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        (JOBS, job_body(baseModel="gemini-9-ultra"), "Base model 'gemini-9-ultra' is not supported for tuning"),
        (JOBS, job_body(baseModel=""), "baseModel is required"),
        (JOBS, job_body(baseModel="gemini-2.0-flash-001"), "is discontinued"),
        (JOBS, {"baseModel": "gemini-2.5-flash"}, "supervisedTuningSpec is required"),
        (JOBS, with_spec(trainingDatasetUri=""), "trainingDatasetUri is required"),
        (JOBS, with_spec(trainingDatasetUri="https://example.com/t.jsonl"), "must be a Cloud Storage URI"),
        (JOBS, with_spec(trainingDatasetUri="gs://bucket-only"), "needs a bucket and an object name"),
        (JOBS, with_spec(validationDatasetUri="s3://b/v.jsonl"), "Validation dataset URI"),
        (JOBS, with_spec(trainingDatasetUri="file://relative/t.jsonl"), "absolute file:///path"),
        (JOBS, with_hyper(epochCount="0"), "epochCount must be at least 1; got 0"),
        (JOBS, with_hyper(epochCount="two"), "Invalid value at 'tuning_job.supervised_tuning_spec.hyper_parameters.epoch_count' (TYPE_INT64)"),
        (JOBS, with_hyper(learningRateMultiplier=0), "learningRateMultiplier must be greater than 0"),
        (JOBS, with_hyper(adapterSize="ADAPTER_SIZE_NINE"), "adapter_size"),
        (JOBS, dict(job_body(baseModel="gemini-2.5-pro"), supervisedTuningSpec={"trainingDatasetUri": TRAIN_URI, "hyperParameters": {"adapterSize": 4}}),
         "Adapter size ADAPTER_SIZE_SIXTEEN is not supported for base model 'gemini-2.5-pro'. Supported adapter sizes: ADAPTER_SIZE_ONE, ADAPTER_SIZE_TWO, ADAPTER_SIZE_FOUR, ADAPTER_SIZE_EIGHT"),
        (JOBS, job_body(labels={"Team": "x"}), "Label key 'Team' is invalid"),
        (JOBS, job_body(labels={"team": "Search Team"}), "Label value 'Search Team'"),
        (JOBS, with_spec(tuningMode="TUNING_MODE_FULL"), 'Unknown name "tuningMode"'),
        (JOBS, job_body(baseModel="tiny", supervisedTuningSpec={"trainingDatasetUri": TRAIN_URI, "tuningMode": 1}), 'Unknown name "tuningMode"'),
        (BETA_JOBS, with_spec(tuningMode="TUNING_MODE_FULL"), "TUNING_MODE_FULL is not supported for base model 'gemini-2.5-flash'"),
        (BETA_JOBS, job_body(baseModel="tiny", supervisedTuningSpec={"trainingDatasetUri": TRAIN_URI, "tuningMode": 1, "hyperParameters": {"adapterSize": 2}}),
         "adapterSize applies only to TUNING_MODE_PEFT_ADAPTER"),
        (f"/v1/projects/p1/locations/mars-north1/tuningJobs", job_body(), "cannot be tuned in location 'mars-north1'"),
        (JOBS, job_body(tunedModelDisplayName="x" * 129), "longer than 128"),
        (JOBS, job_body(preTunedModel={"tunedModelName": "projects/p/locations/l/models/1"}), "preTunedModel"),
    ],
)
def test_invalid_create_requests_are_400_invalid_argument(client: FlaskClient, path: str, body: dict[str, Any], fragment: str) -> None:
    assert_error(client.post(path, json=body), 400, "INVALID_ARGUMENT", fragment)


def test_create_needs_a_json_object(client: FlaskClient) -> None:
    assert_error(client.post(JOBS, data=b"{nope", content_type="application/json"), 400, "INVALID_ARGUMENT", "Invalid JSON payload")
    assert_error(client.post(JOBS, data=b"", content_type="application/json"), 400, "INVALID_ARGUMENT", "empty")
    assert_error(client.post(JOBS, json=[1, 2]), 400, "INVALID_ARGUMENT", "TuningJob JSON object")


def test_genai_and_aiplatform_spellings_are_both_accepted(client: FlaskClient) -> None:
    aiplatform_style = job_body()  # enums as ints, int64 as strings
    genai_style = job_body(
        supervisedTuningSpec={
            "trainingDatasetUri": TRAIN_URI,
            "hyperParameters": {"epochCount": 1, "adapterSize": "ADAPTER_SIZE_FOUR", "learningRateMultiplier": 1.0},
        }
    )
    for body in (aiplatform_style, genai_style):
        response = client.post(JOBS, json=body)
        assert response.status_code == 200, response.get_json()
        hyper = response.get_json()["supervisedTuningSpec"]["hyperParameters"]
        assert hyper == {"epochCount": "1", "learningRateMultiplier": 1.0, "adapterSize": "ADAPTER_SIZE_FOUR"}


# --- error shape -------------------------------------------------------------------------


def test_every_error_has_the_google_shape(client: FlaskClient) -> None:
    assert_error(client.get("/v1/nothing/here"), 404, "NOT_FOUND")
    assert_error(client.get(f"/v2/{PARENT}/tuningJobs"), 404, "NOT_FOUND")
    assert_error(client.delete(JOBS), 405, "UNIMPLEMENTED", "allowed")
    assert_error(client.get(f"{JOBS}/123:cancel"), 405, "UNIMPLEMENTED")
    assert_error(client.post(f"{JOBS}/123:pause"), 404, "NOT_FOUND", ":pause")
    assert_error(client.get(f"{JOBS}/123"), 404, "NOT_FOUND", f"TuningJob {PARENT}/tuningJobs/123 not found")
    assert_error(client.get(f"/v1/projects/other/locations/us-central1/tuningJobs/123"), 404, "NOT_FOUND")
    assert_error(client.post(f"/v1/{PARENT}/endpoints/42:generateContent", json={"contents": []}), 404, "NOT_FOUND", "Endpoint")
    assert_error(client.get(f"{JOBS}?pageToken=garbage"), 400, "INVALID_ARGUMENT", "pageToken")
    assert_error(client.get(f"{JOBS}?pageSize=ten"), 400, "INVALID_ARGUMENT", "pageSize")

    app = client.application

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    service_of(app).get = boom  # type: ignore[method-assign]
    assert_error(client.get(f"{JOBS}/123"), 500, "INTERNAL", "RuntimeError: disk on fire")


def test_scope_allowlists(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    client = make_app(data_dir=tmp_path / "scoped", projects=("p1",), locations=("us-central1",)).test_client()
    assert client.get(JOBS).status_code == 200
    assert_error(client.get("/v1/projects/p2/locations/us-central1/tuningJobs"), 403, "PERMISSION_DENIED")
    assert_error(client.get("/v1/projects/p1/locations/europe-west4/tuningJobs"), 400, "INVALID_ARGUMENT", "europe-west4")


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "localModel": "tiny", "engine": "fake"}


# --- jobs with the fake engine ------------------------------------------------------------


def test_a_job_runs_to_succeeded_with_stats_checkpoints_endpoints_and_metrics(client: FlaskClient) -> None:
    body = job_body(labels={"team": "search"}, tunedModelDisplayName="sentiment", description="d")
    body["supervisedTuningSpec"]["validationDatasetUri"] = VALIDATION_URI
    body["supervisedTuningSpec"]["hyperParameters"]["epochCount"] = "2"
    created = client.post(JOBS, json=body).get_json()
    assert created["state"] == "JOB_STATE_PENDING"
    assert created["name"].startswith(f"{PARENT}/tuningJobs/") and created["name"].rsplit("/", 1)[1].isdigit()
    assert created["createTime"].endswith("Z") and "tunedModel" not in created
    job = wait_state(client, created["name"], {"JOB_STATE_SUCCEEDED"})
    assert job["labels"] == {"team": "search"} and job["description"] == "d"
    assert job["startTime"] <= job["endTime"] and job["updateTime"] == job["endTime"]
    stats = job["tuningDataStats"]["supervisedTuningDataStats"]
    assert stats["tuningDatasetExampleCount"] == "280" and stats["tuningStepCount"] == "140"
    tuned = job["tunedModel"]
    assert tuned["model"].startswith(f"{PARENT}/models/") and tuned["model"].endswith("@1")
    assert [(c["checkpointId"], c["epoch"], c["step"]) for c in tuned["checkpoints"]] == [("1", "1", "70"), ("2", "2", "140")]
    endpoints = [c["endpoint"] for c in tuned["checkpoints"]]
    assert len(set(endpoints)) == 2 and tuned["endpoint"] == endpoints[-1]
    assert all(e.startswith(f"{PARENT}/endpoints/") for e in endpoints)

    metrics = client.get(f"/v1/{created['name']}:metrics").get_json()
    assert metrics["localBaseModel"] == "tiny" and metrics["state"] == "JOB_STATE_SUCCEEDED"
    assert [s["step"] for s in metrics["steps"]] == list(range(1, 141))
    assert set(metrics["steps"][0]) == {"step", "epoch", "loss", "learningRate", "tokens"}
    assert [v["epoch"] for v in metrics["validation"]] == [1, 2]

    for version in ("v1", "v1beta1"):
        answer = client.post(
            f"/{version}/{endpoints[0]}:generateContent",
            json={
                "contents": [{"role": "user", "parts": [{"text": "I love it"}]}],
                "systemInstruction": {"parts": [{"text": "Classify."}]},
                "generationConfig": {"maxOutputTokens": 16, "temperature": 0},
            },
        ).get_json()
        candidate = answer["candidates"][0]
        assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP"
        assert json.loads(candidate["content"]["parts"][0]["text"])["sentiment"] in {"positive", "negative", "neutral"}
        usage = answer["usageMetadata"]
        assert usage["promptTokenCount"] == 4 and usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
        assert answer["modelVersion"] == "gemini-2.5-flash"
    cut = client.post(f"/v1/{tuned['endpoint']}:generateContent", json={"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 1}})
    assert cut.get_json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert_error(client.post(f"/v1/{tuned['endpoint']}:generateContent", json={"contents": []}), 400, "INVALID_ARGUMENT", "contents")
    assert_error(client.post(f"/v1/{tuned['endpoint']}:generateContent", json={"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": 3}}), 400, "INVALID_ARGUMENT", "temperature")


def test_defaults_come_from_the_engine_contract(client: FlaskClient) -> None:
    body = job_body()
    del body["supervisedTuningSpec"]["hyperParameters"]
    created = client.post(JOBS, json=body).get_json()
    hyper = created["supervisedTuningSpec"]["hyperParameters"]
    assert hyper["epochCount"] == str(DEFAULT_EPOCH_COUNT) and hyper["adapterSize"] == "ADAPTER_SIZE_FOUR"


def test_full_tuning_on_v1beta1_for_open_models(client: FlaskClient, tmp_path: Path) -> None:
    body = {"baseModel": "tiny", "supervisedTuningSpec": {"trainingDatasetUri": TRAIN_URI, "tuningMode": "TUNING_MODE_FULL", "hyperParameters": {"epochCount": 1}}}
    created = client.post(BETA_JOBS, json=body).get_json()
    assert created["supervisedTuningSpec"]["tuningMode"] == "TUNING_MODE_FULL"
    assert "adapterSize" not in created["supervisedTuningSpec"]["hyperParameters"]
    wait_state(client, created["name"], {"JOB_STATE_SUCCEEDED"}, "v1beta1")
    job_dir = service_of(client.application).store.job_dir(created["name"].rsplit("/", 1)[1])
    meta = json.loads((job_dir / "output" / "checkpoints" / "checkpoint-1" / "fake_checkpoint.json").read_text())
    assert meta["mode"] == "full" and meta["base"] == "tiny"


def test_a_dataset_that_cannot_be_read_or_trained_fails_the_job_with_code_3(client: FlaskClient) -> None:
    missing = client.post(JOBS, json=with_spec(trainingDatasetUri="file:///no/such/train.jsonl")).get_json()
    broken = client.post(JOBS, json=with_spec(trainingDatasetUri=(REPO / "examples" / "broken" / "train.jsonl").as_uri())).get_json()
    failed = wait_state(client, missing["name"], {"JOB_STATE_FAILED"})
    assert failed["error"]["code"] == 3 and "does not exist" in failed["error"]["message"]
    failed = wait_state(client, broken["name"], {"JOB_STATE_FAILED"})
    assert failed["error"]["code"] == 3 and "dropped" in failed["error"]["message"]


def test_list_is_newest_first_paginated_and_filtered(client: FlaskClient) -> None:
    names = []
    for index in range(5):
        body = job_body(labels={"team": "a" if index % 2 == 0 else "b", "n": str(index)})
        names.append(client.post(JOBS, json=body).get_json()["name"])
    for name in names:
        wait_state(client, name, {"JOB_STATE_SUCCEEDED"})
    listed = client.get(JOBS).get_json()
    assert [j["name"] for j in listed["tuningJobs"]] == names[::-1] and "nextPageToken" not in listed

    seen: list[str] = []
    token = None
    while True:
        query = "pageSize=2" + (f"&pageToken={token}" if token else "")
        page = client.get(f"{JOBS}?{query}").get_json()
        seen += [j["name"] for j in page["tuningJobs"]]
        assert len(page["tuningJobs"]) <= 2
        token = page.get("nextPageToken")
        if not token:
            break
        client.post(JOBS, json=job_body(labels={"team": "c"}))  # new jobs do not shift the pages
    assert seen == names[::-1]

    team_a = client.get(JOBS, query_string={"filter": 'labels.team="a" AND state=JOB_STATE_SUCCEEDED'}).get_json()
    assert [j["name"] for j in team_a["tuningJobs"]] == [names[4], names[2], names[0]]
    by_int = client.get(JOBS, query_string={"filter": "state=4 AND labels.n=1"}).get_json()
    assert [j["name"] for j in by_int["tuningJobs"]] == [names[1]]
    first = client.get(JOBS, query_string={"filter": "labels.team=a", "pageSize": 1}).get_json()
    assert_error(client.get(JOBS, query_string={"filter": "labels.team=b", "pageToken": first["nextPageToken"]}), 400, "INVALID_ARGUMENT", "filter changed")
    assert client.get(f"/v1/projects/p1/locations/europe-west4/tuningJobs").get_json() == {"tuningJobs": []}


# --- cancel, quota, restart with a gated engine -------------------------------------------


class GatedEngine:
    """Trains one step at a time until `release` is set; honours should_cancel; checkpoints each 3 steps."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.resumed_from: list[str | None] = []
        self.inner = FakeTrainingEngine(step_seconds=0)

    def train(self, spec: TrainingSpec, observer: TrainingObserver, *, resume_from: Checkpoint | None = None) -> TrainingResult:
        self.resumed_from.append(resume_from.checkpoint_id if resume_from else None)
        observer.on_data_stats(DataStats(example_count=1, tuning_step_count=1))
        self.started.set()
        step = resume_from.step if resume_from else 0
        checkpoints = []
        while not self.release.is_set():
            if observer.should_cancel():
                raise TrainingCancelled()
            step += 1
            observer.on_step(StepMetrics(step=step, epoch=1, loss=1.0, learning_rate=0.1, tokens=3))
            if step % 3 == 0:
                path = spec.output_dir / "checkpoints" / f"c{step}"
                path.mkdir(parents=True, exist_ok=True)
                checkpoint = Checkpoint(str(step // 3), 1, step, path)
                checkpoints.append(checkpoint)
                observer.on_checkpoint(checkpoint, None)
            time.sleep(0.005)
        path = spec.output_dir / "checkpoints" / "final"
        path.mkdir(parents=True, exist_ok=True)
        checkpoints.append(Checkpoint("final", 1, step, path))
        return TrainingResult(checkpoints=checkpoints, stats=DataStats(example_count=1), final_loss=1.0)

    def generate(self, checkpoint_path: Path | None, base: LocalBase, request: GenerationRequest) -> GenerationResult:
        return GenerationResult(text=f"from {checkpoint_path.name if checkpoint_path else None}", finish_reason="STOP", prompt_token_count=1, candidates_token_count=2)


def test_cancel_running_and_queued_jobs(make_app: Callable[..., Flask]) -> None:
    engine = GatedEngine()
    client = make_app(engine_factory=lambda: engine).test_client()
    running = client.post(JOBS, json=job_body()).get_json()["name"]
    queued = client.post(JOBS, json=job_body()).get_json()["name"]
    wait_state(client, running, {"JOB_STATE_RUNNING"})
    assert engine.started.wait(WAIT_S)
    assert client.get(f"/v1/{queued}").get_json()["state"] == "JOB_STATE_PENDING"

    assert client.post(f"/v1/{queued}:cancel", json={}).get_json() == {}
    job = client.get(f"/v1/{queued}").get_json()
    assert job["state"] == "JOB_STATE_CANCELLED" and job["error"] == {"code": 1, "message": "CANCELLED"} and "startTime" not in job

    assert client.post(f"/v1/{running}:cancel").get_json() == {}  # the empty body google-genai sends
    job = wait_state(client, running, {"JOB_STATE_CANCELLED"})
    assert job["error"] == {"code": 1, "message": "CANCELLED"} and "tunedModel" not in job
    assert_error(client.post(f"/v1/{running}:cancel", json={}), 400, "FAILED_PRECONDITION", "cannot be cancelled")


def test_quota_error_mode_answers_429(make_app: Callable[..., Flask]) -> None:
    engine = GatedEngine()
    client = make_app(engine_factory=lambda: engine, quota_mode="error", max_concurrent_jobs=1).test_client()
    first = client.post(JOBS, json=job_body()).get_json()["name"]
    assert_error(client.post(JOBS, json=job_body()), 429, "RESOURCE_EXHAUSTED", "concurrent_tuning_jobs")
    engine.release.set()
    wait_state(client, first, {"JOB_STATE_SUCCEEDED"})
    assert client.post(JOBS, json=job_body()).status_code == 200


def test_restart_resumes_requeues_and_keeps_endpoints(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    data_dir = tmp_path / "restart"
    first_engine = GatedEngine()
    app = make_app(data_dir=data_dir, engine_factory=lambda: first_engine, max_concurrent_jobs=2)
    client = app.test_client()
    done = client.post(JOBS, json=job_body()).get_json()["name"]
    wait_state(client, done, {"JOB_STATE_RUNNING"})
    first_engine.release.set()
    done_job = wait_state(client, done, {"JOB_STATE_SUCCEEDED"})
    first_engine.release.clear()
    interrupted = client.post(JOBS, json=job_body()).get_json()["name"]
    wait_until = time.monotonic() + WAIT_S
    while not client.get(f"/v1/{interrupted}:metrics").get_json()["checkpoints"]:
        assert time.monotonic() < wait_until
        time.sleep(0.01)
    service_of(app).shutdown(timeout_s=0.1)  # the process "dies": the worker thread keeps no promises
    store = service_of(app).store
    with store.lock:  # freeze the record as a crash would leave it (the gated engine keeps stepping)
        snapshot = json.loads((store.job_dir(interrupted.rsplit("/", 1)[1]) / "job.json").read_text())
    first_engine.release.set()

    restarted_dir = tmp_path / "restart2"
    import shutil

    shutil.copytree(data_dir, restarted_dir)
    interrupted_id = interrupted.rsplit("/", 1)[1]
    (restarted_dir / "jobs" / interrupted_id / "job.json").write_text(json.dumps(snapshot))
    # three more unfinished jobs: PENDING, RUNNING with no checkpoint, RUNNING with a lost checkpoint
    extra = {
        "pending": dict(snapshot, job_id="1000000000000000001", seq=101, state="JOB_STATE_PENDING", attempts=0, checkpoints=[]),
        "scratch": dict(snapshot, job_id="1000000000000000002", seq=102, checkpoints=[]),
        "lost": dict(snapshot, job_id="1000000000000000003", seq=103, checkpoints=[{"checkpoint_id": "1", "epoch": 1, "step": 3, "path": "output/gone"}]),
        "cancelling": dict(snapshot, job_id="1000000000000000004", seq=104, state="JOB_STATE_CANCELLING"),
    }
    for record in extra.values():
        folder = restarted_dir / "jobs" / record["job_id"]
        folder.mkdir()
        shutil.copytree(restarted_dir / "jobs" / interrupted_id / "data", folder / "data")
        (folder / "job.json").write_text(json.dumps(record))

    second_engine = GatedEngine()
    second_engine.release.set()
    client = make_app(data_dir=restarted_dir, engine_factory=lambda: second_engine, max_concurrent_jobs=2).test_client()
    again = client.get(f"/v1/{done}").get_json()
    assert again["state"] == "JOB_STATE_SUCCEEDED" and again["tunedModel"] == done_job["tunedModel"]
    answer = client.post(f"/v1/{again['tunedModel']['endpoint']}:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]})
    assert answer.get_json()["candidates"][0]["content"]["parts"][0]["text"] == "from final"

    resumed = wait_state(client, interrupted, {"JOB_STATE_SUCCEEDED"})
    assert resumed["startTime"] == snapshot["start_time"] < resumed["endTime"]  # the first start is kept
    metrics = client.get(f"/v1/{interrupted}:metrics").get_json()
    resume_step = metrics["resumes"][0]["step"]
    assert metrics["resumes"][0]["fromCheckpointId"] == snapshot["checkpoints"][-1]["checkpoint_id"]
    steps = [s["step"] for s in metrics["steps"]]
    assert steps == sorted(set(steps)) and steps[: resume_step] == list(range(1, resume_step + 1))

    name = f"{PARENT}/tuningJobs/"
    assert wait_state(client, name + extra["pending"]["job_id"], {"JOB_STATE_SUCCEEDED"})["state"] == "JOB_STATE_SUCCEEDED"
    wait_state(client, name + extra["scratch"]["job_id"], {"JOB_STATE_SUCCEEDED"})
    lost = wait_state(client, name + extra["lost"]["job_id"], {"JOB_STATE_FAILED"})
    assert lost["error"]["code"] == 13 and "cannot resume" in lost["error"]["message"] and "missing" in lost["error"]["message"]
    cancelled = client.get(f"/v1/{name}{extra['cancelling']['job_id']}").get_json()
    assert cancelled["state"] == "JOB_STATE_CANCELLED" and cancelled["error"]["code"] == 1
    assert sorted(second_engine.resumed_from, key=str) == sorted([snapshot["checkpoints"][-1]["checkpoint_id"], None, None], key=str)


def test_job_json_is_written_atomically_and_reloaded(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    record = _record(job_id=store.new_id(), seq=store.next_seq(), checkpoints=[CheckpointRecord("1", 1, 5, "output/c1", 0.5, None)])
    store.add(record)
    folder = store.job_dir(record.job_id)
    assert [p.name for p in folder.iterdir()] == ["job.json"]
    (folder / ".job.json.1.2.tmp").write_text("{half")
    reloaded = JobStore(tmp_path).get(record.job_id)
    assert reloaded == record
    assert not (folder / ".job.json.1.2.tmp").exists()
