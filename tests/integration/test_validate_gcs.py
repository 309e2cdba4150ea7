"""The validator reading gs:// datasets and checking gs:// media on the real storage emulator."""

from __future__ import annotations

import json
import uuid

import pytest
from google.cloud import storage

from infra.emulators import FakeGcs
from shared.dataset import SourceError, ValidationOptions, validate_dataset
from tests.unit.helpers_dataset import WordCounter, chat, turn

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(fake_gcs: FakeGcs) -> storage.Bucket:
    client = storage.Client(project="tunewire-test")
    return client.create_bucket(f"datasets-{uuid.uuid4().hex[:12]}")


def upload_jsonl(bucket: storage.Bucket, name: str, rows: list[dict]) -> str:
    body = "".join(json.dumps(row) + "\n" for row in rows)
    bucket.blob(name).upload_from_string(body, content_type="application/jsonl")
    return f"gs://{bucket.name}/{name}"


def image_example(uri: str, mime: str = "image/png") -> dict:
    return {"contents": [{"role": "user", "parts": [{"fileData": {"mimeType": mime, "fileUri": uri}}]}, turn("model", "a cat")]}


def test_a_gs_dataset_streams_through_the_storage_emulator_in_chunks(bucket, monkeypatch):
    import shared.dataset.sources as sources

    monkeypatch.setattr(sources, "CHUNK_BYTES", 64 * 1024)  # force many ranged reads
    rows = [chat((f"question {i} " + "word " * 50, "answer")) for i in range(400)]
    uri = upload_jsonl(bucket, "big/train.jsonl", rows)
    report = validate_dataset(uri, options=ValidationOptions(check_media=False), tokenizer=WordCounter())
    assert report.valid
    assert report.examples == 400
    assert report.training.bytes > 2 * 64 * 1024
    assert report.tokens.total == 400 * (2 + 50 + 1)


def test_gs_media_that_is_missing_or_too_large_is_an_error_on_the_line_that_references_it(bucket):
    bucket.blob("media/ok.png").upload_from_string(b"\x89PNG" + b"0" * 100, content_type="image/png")
    bucket.blob("media/huge.png").upload_from_string(b"0" * (20 * 1024 * 1024 + 1), content_type="image/png")
    rows = [
        image_example(f"gs://{bucket.name}/media/ok.png"),
        image_example(f"gs://{bucket.name}/media/missing.png"),
        image_example(f"gs://{bucket.name}/media/huge.png"),
        image_example(f"gs://{bucket.name}/media/ok.png"),
    ]
    uri = upload_jsonl(bucket, "mm/train.jsonl", rows)
    report = validate_dataset(uri, options=ValidationOptions(), tokenizer=WordCounter())
    assert [(e["code"], e["line"]) for e in report.errors] == [("MEDIA_NOT_FOUND", 2), ("MEDIA_TOO_LARGE", 3)]
    assert report.errors[0]["path"] == "contents[0].parts[0].fileData.fileUri"
    assert report.media_objects_checked == 4
    assert report.tokens.media_estimated == 4 * 256  # MEDIUM resolution: 256 tokens per image


def test_media_in_a_bucket_that_does_not_exist_is_reported_not_raised(bucket):
    uri = upload_jsonl(bucket, "mm/other.jsonl", [image_example("gs://no-such-bucket-xyz/a.png")])
    report = validate_dataset(uri, options=ValidationOptions(), tokenizer=WordCounter())
    assert [e["code"] for e in report.errors] == ["MEDIA_NOT_FOUND"]


def test_a_gs_dataset_that_does_not_exist_is_an_io_error(bucket):
    with pytest.raises(SourceError, match="no such object"):
        validate_dataset(f"gs://{bucket.name}/nope.jsonl", tokenizer=WordCounter())
