"""Fixtures for pipeline-step integration tests: tuning twins (fake engine), a dataset in the
storage emulator, a fresh job collection per test."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from google.cloud import firestore, storage

from infra.twin.process import start_twin
from shared.jobs.store import JobStore
from tests.integration.pipeline_helpers import PROJECT

TRAIN = Path(__file__).resolve().parents[2] / "examples" / "sentiment" / "train.jsonl"


def _start_fake_twin(tmp_path_factory, fake_gcs, **kwargs):
    run = tmp_path_factory.mktemp("twin")
    return start_twin(run, data_dir=run / "data", engine="fake", fake_step_seconds=0.05, env=fake_gcs.env, **kwargs)


@pytest.fixture(scope="module")
def twin(tmp_path_factory, fake_gcs):
    """A twin with room for four concurrent jobs (fake engine: 0.05 s a step)."""
    server = _start_fake_twin(tmp_path_factory, fake_gcs, max_concurrent_jobs=4)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def quota_twin(tmp_path_factory, fake_gcs):
    """A twin that answers 429 RESOURCE_EXHAUSTED while one job runs."""
    server = _start_fake_twin(tmp_path_factory, fake_gcs, max_concurrent_jobs=1, quota_mode="error")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def training_uri(fake_gcs) -> str:
    bucket = storage.Client(project=PROJECT).create_bucket(f"launch-{uuid.uuid4().hex[:8]}")
    bucket.blob("train.jsonl").upload_from_filename(str(TRAIN))
    return f"gs://{bucket.name}/train.jsonl"


@pytest.fixture
def store(firestore_emulator) -> JobStore:
    return JobStore(firestore.Client(project=PROJECT), f"jobs-{uuid.uuid4().hex[:8]}")
