"""The tuning twin as a real process, driven by both official clients, unchanged.

* ``google.cloud.aiplatform_v1.GenAiTuningServiceClient(transport="rest")`` pointed at the twin
  with ``client_options={"api_endpoint": "http://127.0.0.1:PORT"}`` and AnonymousCredentials.
* ``google.genai.Client(vertexai=True, ..., http_options=HttpOptions(base_url=URL))`` with a
  dummy OAuth token (it always sends ``Authorization: Bearer``; the twin ignores it).

Most tests run the deterministic fake engine (``engine="fake"``, tests only) for speed; datasets
come from the real storage emulator (``fake_gcs``) and from ``file://``. The last tests run the
real torch engine on the ``tiny`` base when ``infra/twin/trainer.py`` is present.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import google.oauth2.credentials
import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1, storage
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from infra.emulators import FakeGcs
from infra.twin.process import TwinServer, start_twin

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning"),
]

PROJECT = "tunewire-test"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "examples" / "sentiment" / "train.jsonl"
VALIDATION = REPO / "examples" / "sentiment" / "validation.jsonl"
STEP_S = 0.01  # fake engine: 280 examples / batch 4 = 70 steps per epoch, about 0.7 s
WAIT_S = 60.0
HP = aiplatform_v1.SupervisedHyperParameters
State = aiplatform_v1.JobState


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def datasets(fake_gcs: FakeGcs) -> dict[str, str]:
    """The sentiment example uploaded to a fresh bucket on the storage emulator."""
    bucket = storage.Client(project=PROJECT).create_bucket(f"twin-{uuid.uuid4().hex[:12]}")
    bucket.blob("sentiment/train.jsonl").upload_from_filename(str(TRAIN))
    bucket.blob("sentiment/validation.jsonl").upload_from_filename(str(VALIDATION))
    return {
        "train": f"gs://{bucket.name}/sentiment/train.jsonl",
        "validation": f"gs://{bucket.name}/sentiment/validation.jsonl",
        "file_train": TRAIN.as_uri(),
    }


@pytest.fixture
def twin_factory(tmp_path: Path, fake_gcs: FakeGcs) -> Iterator[Callable[..., TwinServer]]:
    """Start twins (fake engine unless told otherwise); every one is stopped at teardown."""
    started: list[TwinServer] = []

    def start(**options: Any) -> TwinServer:
        options.setdefault("data_dir", tmp_path / "data")
        options.setdefault("engine", "fake")
        if options["engine"] == "fake":
            options.setdefault("fake_step_seconds", STEP_S)
        twin = start_twin(tmp_path / f"run{len(started)}", env=fake_gcs.env, **options)
        started.append(twin)
        return twin

    yield start
    for twin in started:
        twin.stop()


def vertex(twin: TwinServer) -> aiplatform_v1.GenAiTuningServiceClient:
    return aiplatform_v1.GenAiTuningServiceClient(
        transport="rest", client_options={"api_endpoint": twin.url}, credentials=AnonymousCredentials()
    )


def genai_client(twin: TwinServer, api_version: str = "v1beta1") -> Any:
    from google import genai

    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=google.oauth2.credentials.Credentials(token="local-twin"),
        http_options=genai_types.HttpOptions(base_url=twin.url, api_version=api_version),
    )


def v1_job(train: str, *, epochs: int = 1, labels: dict[str, str] | None = None, **hyper: Any) -> aiplatform_v1.TuningJob:
    return aiplatform_v1.TuningJob(
        base_model="gemini-2.5-flash",
        supervised_tuning_spec=aiplatform_v1.SupervisedTuningSpec(
            training_dataset_uri=train, hyper_parameters=HP(epoch_count=epochs, **hyper)
        ),
        labels=labels or {},
    )


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value}")
        time.sleep(0.05)


def wait_state(client: aiplatform_v1.GenAiTuningServiceClient, name: str, *states: Any, timeout_s: float = WAIT_S) -> Any:
    return wait_until(lambda: client.get_tuning_job(name=name), lambda job: job.state in states, f"{name} in {states}", timeout_s)


def metrics(twin: TwinServer, name: str) -> dict[str, Any]:
    response = requests.get(f"{twin.url}/v1/{name}:metrics", timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def generate_http(twin: TwinServer, endpoint: str, version: str = "v1", text: str = "I love this lamp") -> requests.Response:
    body = {
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "systemInstruction": {"parts": [{"text": "Classify the sentiment."}]},
        "generationConfig": {"maxOutputTokens": 16, "temperature": 0.0},
    }
    return requests.post(f"{twin.url}/{version}/{endpoint}:generateContent", json=body, timeout=120)


# --- aiplatform_v1 ---------------------------------------------------------------------------


def test_aiplatform_v1_creates_a_gs_job_and_gets_it_to_succeeded(twin_factory: Callable[..., TwinServer], datasets: dict[str, str]) -> None:
    twin = twin_factory()
    client = vertex(twin)
    job = v1_job(datasets["train"], epochs=2, labels={"team": "search", "run": "r-1"}, adapter_size=HP.AdapterSize.ADAPTER_SIZE_EIGHT, learning_rate_multiplier=1.0)
    job.supervised_tuning_spec.validation_dataset_uri = datasets["validation"]
    job.tuned_model_display_name = "sentiment-v1"
    created = client.create_tuning_job(parent=PARENT, tuning_job=job)
    assert created.name.startswith(f"{PARENT}/tuningJobs/") and created.state == State.JOB_STATE_PENDING
    assert created.supervised_tuning_spec.hyper_parameters.epoch_count == 2
    assert created.supervised_tuning_spec.hyper_parameters.adapter_size == HP.AdapterSize.ADAPTER_SIZE_EIGHT
    assert dict(created.labels) == {"team": "search", "run": "r-1"}

    done = wait_state(client, created.name, State.JOB_STATE_SUCCEEDED)
    assert done.start_time and done.end_time and done.end_time >= done.start_time >= done.create_time
    stats = done.tuning_data_stats.supervised_tuning_data_stats
    assert stats.tuning_dataset_example_count == 280 and stats.tuning_step_count == 140
    checkpoints = list(done.tuned_model.checkpoints)
    assert [(c.checkpoint_id, c.epoch, c.step) for c in checkpoints] == [("1", 1, 70), ("2", 2, 140)]
    assert len({c.endpoint for c in checkpoints}) == 2 and done.tuned_model.endpoint == checkpoints[-1].endpoint
    assert done.tuned_model.model.startswith(f"{PARENT}/models/") and done.tuned_model.model.endswith("@1")
    job_dir = twin.data_dir / "jobs" / created.name.rsplit("/", 1)[1]
    assert (job_dir / "data" / "train.jsonl").read_bytes() == TRAIN.read_bytes()
    assert (job_dir / "data" / "validation.jsonl").read_bytes() == VALIDATION.read_bytes()

    raw = requests.get(f"{twin.url}/v1/{created.name}", params={"$alt": "json;enum-encoding=int"}, timeout=10).json()
    assert raw["state"] == "JOB_STATE_SUCCEEDED" and raw["supervisedTuningSpec"]["hyperParameters"]["epochCount"] == "2"
    assert raw["supervisedTuningSpec"]["hyperParameters"]["adapterSize"] == "ADAPTER_SIZE_EIGHT"

    progress = metrics(twin, created.name)
    assert progress["localBaseModel"] == "tiny" and len(progress["steps"]) == 140 and len(progress["validation"]) == 2

    for version in ("v1", "v1beta1"):
        answer = generate_http(twin, checkpoints[0].endpoint, version)
        assert answer.status_code == 200, answer.text
        candidate = answer.json()["candidates"][0]
        assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP"
        assert json.loads(candidate["content"]["parts"][0]["text"])["sentiment"] in {"positive", "negative", "neutral"}
        usage = answer.json()["usageMetadata"]
        assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"] > 0

    genai = genai_client(twin)  # keep a reference: a collected Client closes its HTTP client
    reply = genai.models.generate_content(
        model=done.tuned_model.endpoint,
        contents="The strap broke on day one.",
        config=genai_types.GenerateContentConfig(max_output_tokens=16, temperature=0.0, system_instruction="Classify."),
    )
    assert json.loads(reply.text)["sentiment"] in {"positive", "negative", "neutral"}
    assert reply.usage_metadata.total_token_count > 0 and reply.model_version == "gemini-2.5-flash"

    missing = generate_http(twin, f"{PARENT}/endpoints/123")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    with pytest.raises(genai_errors.ClientError) as caught:
        genai.models.generate_content(model=f"{PARENT}/endpoints/123", contents="hi")
    assert caught.value.code == 404


# --- google-genai ----------------------------------------------------------------------------


def test_genai_tunes_gets_lists_and_cancels_mid_run(twin_factory: Callable[..., TwinServer], datasets: dict[str, str]) -> None:
    twin = twin_factory()
    client = genai_client(twin)
    job = client.tunings.tune(
        base_model="gemini-2.5-flash",
        training_dataset=genai_types.TuningDataset(gcs_uri=datasets["file_train"]),
        config=genai_types.CreateTuningJobConfig(
            epoch_count=20, adapter_size="ADAPTER_SIZE_FOUR", labels={"team": "genai"}, tuned_model_display_name="g"
        ),
    )
    assert job.state == genai_types.JobState.JOB_STATE_PENDING and job.labels == {"team": "genai"}
    assert job.supervised_tuning_spec.hyper_parameters.epoch_count == 20
    running = wait_until(lambda: client.tunings.get(name=job.name), lambda j: j.state == genai_types.JobState.JOB_STATE_RUNNING, "RUNNING")
    assert running.start_time is not None
    listed = list(client.tunings.list(config={"filter": 'labels.team="genai" AND state=JOB_STATE_RUNNING'}))
    assert [j.name for j in listed] == [job.name]
    assert list(client.tunings.list(config={"filter": "labels.team=other"})) == []

    wait_until(lambda: metrics(twin, job.name)["steps"], bool, "a first step")
    client.tunings.cancel(name=job.name)
    cancelled = wait_until(lambda: client.tunings.get(name=job.name), lambda j: j.has_ended, "the end")
    assert cancelled.state == genai_types.JobState.JOB_STATE_CANCELLED
    assert cancelled.error.code == 1 and cancelled.error.message == "CANCELLED"
    assert len(metrics(twin, job.name)["steps"]) < 20 * 70
    same = vertex(twin).get_tuning_job(name=job.name)
    assert same.state == State.JOB_STATE_CANCELLED and same.error.code == 1


def test_list_pagination_and_filters_with_both_clients(twin_factory: Callable[..., TwinServer], datasets: dict[str, str]) -> None:
    twin = twin_factory(max_concurrent_jobs=3)
    client = vertex(twin)
    names = [
        client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"], labels={"team": team})).name
        for team in ("a", "b", "a", "b", "a")
    ]
    for name in names:
        wait_state(client, name, State.JOB_STATE_SUCCEEDED)
    long_one = client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"], epochs=50, labels={"team": "a"})).name
    wait_state(client, long_one, State.JOB_STATE_RUNNING)

    pages = list(client.list_tuning_jobs(request={"parent": PARENT, "page_size": 2}).pages)
    assert [len(page.tuning_jobs) for page in pages] == [2, 2, 2]
    assert [j.name for page in pages for j in page.tuning_jobs] == [long_one, *names[::-1]]

    def v1_names(filter_text: str) -> list[str]:
        return [j.name for j in client.list_tuning_jobs(request={"parent": PARENT, "filter": filter_text})]

    assert v1_names('labels.team="a"') == [long_one, names[4], names[2], names[0]]
    assert v1_names("state=JOB_STATE_RUNNING") == [long_one]
    assert v1_names("labels.team=a AND state=JOB_STATE_SUCCEEDED") == [names[4], names[2], names[0]]
    assert v1_names("state=JOB_STATE_SUCCEEDED AND labels.team=b") == [names[3], names[1]]

    genai = genai_client(twin)
    pager = genai.tunings.list(config={"page_size": 2, "filter": "labels.team=a"})
    assert pager.page_size == 2 and len(pager.page) == 2
    assert [j.name for j in pager] == [long_one, names[4], names[2], names[0]]

    with pytest.raises(gexc.BadRequest, match="Unsupported filter field"):
        v1_names("color=red")
    client.cancel_tuning_job(name=long_one)
    wait_state(client, long_one, State.JOB_STATE_CANCELLED)


def test_errors_reach_both_clients_as_their_typed_exceptions(twin_factory: Callable[..., TwinServer], datasets: dict[str, str]) -> None:
    twin = twin_factory()
    client = vertex(twin)
    unknown = v1_job(datasets["train"])
    unknown.base_model = "gemini-9-ultra"
    with pytest.raises(gexc.BadRequest, match="is not supported for tuning") as bad:
        client.create_tuning_job(parent=PARENT, tuning_job=unknown)
    assert bad.value.code == 400
    too_big = v1_job(datasets["train"], adapter_size=HP.AdapterSize.ADAPTER_SIZE_THIRTY_TWO)
    with pytest.raises(gexc.BadRequest, match="ADAPTER_SIZE_THIRTY_TWO is not supported for base model 'gemini-2.5-flash'"):
        client.create_tuning_job(parent=PARENT, tuning_job=too_big)
    with pytest.raises(gexc.BadRequest, match="must be a Cloud Storage URI"):
        client.create_tuning_job(parent=PARENT, tuning_job=v1_job("https://example.com/train.jsonl"))
    with pytest.raises(gexc.NotFound, match="not found"):
        client.get_tuning_job(name=f"{PARENT}/tuningJobs/42")
    with pytest.raises(gexc.NotFound):
        client.cancel_tuning_job(name=f"{PARENT}/tuningJobs/42")

    genai = genai_client(twin)
    with pytest.raises(genai_errors.ClientError) as caught:
        genai.tunings.tune(base_model="gemini-9-ultra", training_dataset=genai_types.TuningDataset(gcs_uri=datasets["train"]))
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    with pytest.raises(genai_errors.ClientError) as caught:
        genai.tunings.tune(
            base_model="gemini-2.5-flash",
            training_dataset=genai_types.TuningDataset(gcs_uri=datasets["train"]),
            config=genai_types.CreateTuningJobConfig(tuning_mode="TUNING_MODE_FULL"),
        )
    assert caught.value.code == 400 and "TUNING_MODE_FULL is not supported" in str(caught.value)
    genai_v1 = genai_client(twin, "v1")
    with pytest.raises(genai_errors.ClientError) as caught:
        genai_v1.tunings.tune(
            base_model="tiny",
            training_dataset=genai_types.TuningDataset(gcs_uri=datasets["train"]),
            config=genai_types.CreateTuningJobConfig(tuning_mode="TUNING_MODE_FULL"),
        )
    assert caught.value.code == 400 and "v1beta1" in str(caught.value)
    with pytest.raises(genai_errors.ClientError) as caught:
        genai.tunings.get(name=f"{PARENT}/tuningJobs/42")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"


# --- quota -----------------------------------------------------------------------------------


def test_quota_queue_mode_keeps_the_second_job_pending_until_the_first_ends(twin_factory: Callable[..., TwinServer], datasets: dict[str, str]) -> None:
    twin = twin_factory(max_concurrent_jobs=1, quota_mode="queue")
    client = vertex(twin)
    first = client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"], epochs=50)).name
    second = client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"])).name
    wait_state(client, first, State.JOB_STATE_RUNNING)
    waiting = client.get_tuning_job(name=second)
    assert waiting.state == State.JOB_STATE_PENDING and not waiting.start_time
    client.cancel_tuning_job(name=first)
    ended = wait_state(client, first, State.JOB_STATE_CANCELLED)
    done = wait_state(client, second, State.JOB_STATE_SUCCEEDED)
    assert done.start_time >= ended.end_time


def test_quota_error_mode_answers_429_resource_exhausted(twin_factory: Callable[..., TwinServer], datasets: dict[str, str]) -> None:
    twin = twin_factory(max_concurrent_jobs=1, quota_mode="error")
    client = vertex(twin)
    first = client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"], epochs=50)).name
    with pytest.raises(gexc.TooManyRequests, match="Quota exceeded") as caught:
        client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"]))
    assert caught.value.code == 429
    genai = genai_client(twin)
    with pytest.raises(genai_errors.ClientError) as refused:
        genai.tunings.tune(base_model="gemini-2.5-flash", training_dataset=genai_types.TuningDataset(gcs_uri=datasets["train"]))
    assert refused.value.code == 429 and refused.value.status == "RESOURCE_EXHAUSTED"
    client.cancel_tuning_job(name=first)
    wait_state(client, first, State.JOB_STATE_CANCELLED)
    assert client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"])).state == State.JOB_STATE_PENDING


# --- restart ---------------------------------------------------------------------------------


def test_restart_keeps_finished_jobs_and_resumes_or_fails_running_ones(twin_factory: Callable[..., TwinServer], datasets: dict[str, str], tmp_path: Path) -> None:
    data_dir = tmp_path / "persistent"
    first = twin_factory(data_dir=data_dir, max_concurrent_jobs=2)
    client = vertex(first)
    finished = client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"])).name
    done = wait_state(client, finished, State.JOB_STATE_SUCCEEDED)
    resumable = client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["train"], epochs=4)).name
    broken = client.create_tuning_job(parent=PARENT, tuning_job=v1_job(datasets["file_train"], epochs=4)).name
    for name in (resumable, broken):
        wait_until(lambda name=name: metrics(first, name)["checkpoints"], bool, f"a checkpoint of {name}")
    first.stop()
    shutil.rmtree(data_dir / "jobs" / broken.rsplit("/", 1)[1] / "output" / "checkpoints")

    second = twin_factory(data_dir=data_dir, max_concurrent_jobs=2)
    client = vertex(second)
    listed = {j.name: j for j in client.list_tuning_jobs(parent=PARENT)}
    assert set(listed) == {finished, resumable, broken}
    assert listed[finished].state == State.JOB_STATE_SUCCEEDED
    assert listed[finished].tuned_model.endpoint == done.tuned_model.endpoint
    answer = generate_http(second, done.tuned_model.endpoint)
    assert answer.status_code == 200 and answer.json()["candidates"][0]["content"]["parts"][0]["text"]

    resumed = wait_state(client, resumable, State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED)
    assert resumed.state == State.JOB_STATE_SUCCEEDED, resumed.error
    progress = metrics(second, resumable)
    assert progress["resumes"] and progress["resumes"][0]["fromCheckpointId"] is not None
    assert [s["step"] for s in progress["steps"]] == list(range(1, 4 * 70 + 1))
    assert [c.checkpoint_id for c in resumed.tuned_model.checkpoints] == ["1", "2", "3", "4"]

    failed = wait_state(client, broken, State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED)
    assert failed.state == State.JOB_STATE_FAILED
    assert failed.error.code == 13 and "cannot resume" in failed.error.message and "missing" in failed.error.message


# --- the real engine (tiny base) -------------------------------------------------------------


@pytest.fixture
def small_train(tmp_path: Path) -> str:
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"".join(TRAIN.read_bytes().splitlines(keepends=True)[:24]))
    return path.as_uri()


def test_real_engine_lora_job_through_aiplatform_v1(twin_factory: Callable[..., TwinServer], small_train: str) -> None:
    twin = twin_factory(engine="torch", local_model="tiny")
    client = vertex(twin)
    job = v1_job(small_train, epochs=1, adapter_size=HP.AdapterSize.ADAPTER_SIZE_FOUR)
    created = client.create_tuning_job(parent=PARENT, tuning_job=job)
    done = wait_state(client, created.name, State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED, timeout_s=150)
    assert done.state == State.JOB_STATE_SUCCEEDED, done.error
    assert done.tuning_data_stats.supervised_tuning_data_stats.tuning_dataset_example_count == 24
    assert metrics(twin, created.name)["localBaseModel"] == "tiny"
    answer = generate_http(twin, done.tuned_model.endpoint)
    assert answer.status_code == 200, answer.text
    assert answer.json()["candidates"][0]["content"]["role"] == "model"


def test_real_engine_full_tuning_of_the_open_tiny_model_through_genai(twin_factory: Callable[..., TwinServer], small_train: str) -> None:
    twin = twin_factory(engine="torch", local_model="tiny")
    client = genai_client(twin)
    job = client.tunings.tune(
        base_model="tiny",
        training_dataset=genai_types.TuningDataset(gcs_uri=small_train),
        config=genai_types.CreateTuningJobConfig(tuning_mode="TUNING_MODE_FULL", epoch_count=1),
    )
    done = wait_until(lambda: client.tunings.get(name=job.name), lambda j: j.has_ended, "the end", timeout_s=150)
    assert done.state == genai_types.JobState.JOB_STATE_SUCCEEDED, done.error
    assert done.supervised_tuning_spec.tuning_mode == genai_types.TuningMode.TUNING_MODE_FULL
    reply = client.models.generate_content(
        model=done.tuned_model.endpoint, contents="Nice lamp.", config=genai_types.GenerateContentConfig(max_output_tokens=8)
    )
    assert reply.candidates and reply.candidates[0].content.role == "model"


def test_the_untuned_base_model_answers_at_its_publisher_model_path(tmp_path_factory, fake_gcs):
    from infra.twin.process import start_twin

    run = tmp_path_factory.mktemp("twin-base")
    twin = start_twin(run, data_dir=run / "data", engine="fake", env=fake_gcs.env)
    try:
        url = f"{twin.url}/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
        answer = requests.post(url, json=body, timeout=30).json()
        assert answer["candidates"][0]["content"]["role"] == "model"
        assert answer["modelVersion"] == "gemini-2.5-flash"
        missing = requests.post(url.replace("gemini-2.5-flash", "gpt-4"), json=body, timeout=30)
        assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    finally:
        twin.stop()
