"""Per-upload settings from object metadata and manifests: never raise, always explain."""

from __future__ import annotations

import json

import pytest

from shared.config import Settings
from shared.model_catalog import TuningMode
from shared.uploads.settings import (
    MAX_MANIFEST_BYTES,
    TuningSettings,
    default_settings,
    is_data_only,
    parse_manifest,
    settings_from_metadata,
)

BASE = TuningSettings(base_model="gemini-2.5-flash")


def test_deployment_defaults_fill_what_the_upload_leaves_out():
    defaults = default_settings(Settings.from_env({"TUNEWIRE_DEFAULT_BASE_MODEL": "gemini-2.5-pro", "TUNEWIRE_DEFAULT_EPOCHS": "4"}))
    assert defaults == TuningSettings(base_model="gemini-2.5-pro", epochs=4)


def test_metadata_overrides_defaults_and_is_typed():
    settings, problems = settings_from_metadata(
        {
            "tunewire-base-model": "gemini-2.5-pro",
            "tunewire-epochs": "3",
            "tunewire-adapter-size": "8",
            "tunewire-learning-rate-multiplier": "0.5",
            "tunewire-display-name": "support bot v2",
            "tunewire-validation": "gs://b/val.jsonl",
            "tunewire-webhook": "https://hooks.example.com/tunewire",
            "tunewire-tuning-mode": "adapter",
            "owner": "team-a",
        },
        BASE,
    )
    assert problems == []
    assert settings == TuningSettings(
        base_model="gemini-2.5-pro", epochs=3, adapter_size=8, learning_rate_multiplier=0.5, display_name="support bot v2",
        validation_uri="gs://b/val.jsonl", webhook="https://hooks.example.com/tunewire", tuning_mode=TuningMode.ADAPTER,
    )


@pytest.mark.parametrize(
    ("metadata", "code", "key"),
    [
        ({"tunewire-epoch": "3"}, "UNKNOWN_SETTING", "tunewire-epoch"),
        ({"tunewire-epochs": "three"}, "INVALID_SETTING", "tunewire-epochs"),
        ({"tunewire-epochs": "0"}, "INVALID_SETTING", "tunewire-epochs"),
        ({"tunewire-learning-rate-multiplier": "-1"}, "INVALID_SETTING", "tunewire-learning-rate-multiplier"),
        ({"tunewire-learning-rate-multiplier": "nan"}, "INVALID_SETTING", "tunewire-learning-rate-multiplier"),
        ({"tunewire-validation": "/home/me/val.jsonl"}, "INVALID_SETTING", "tunewire-validation"),
        ({"tunewire-webhook": "ftp://x"}, "INVALID_SETTING", "tunewire-webhook"),
        ({"tunewire-tuning-mode": "lora"}, "INVALID_SETTING", "tunewire-tuning-mode"),
        ({"tunewire-display-name": "x" * 129}, "INVALID_SETTING", "tunewire-display-name"),
        ({"tunewire-display-name": "a\nb"}, "INVALID_SETTING", "tunewire-display-name"),
    ],
)
def test_bad_metadata_becomes_a_problem_naming_the_key(metadata, code, key):
    settings, problems = settings_from_metadata(metadata, BASE)
    assert [(p.code, p.key) for p in problems] == [(code, key)]
    assert settings == BASE


def test_role_data_marks_files_that_start_no_job():
    assert is_data_only({"tunewire-role": "data"})
    assert not is_data_only({"tunewire-role": "training"}) and not is_data_only({})


def manifest(document: object, name: str = "runs/exp1/run.tunewire.json"):
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_manifest(raw, bucket="datasets", manifest_name=name, base=BASE)


def test_a_manifest_names_files_relative_to_its_folder_and_carries_settings():
    found, settings, problems = manifest({"training": "train.jsonl", "validation": "val.jsonl", "epochs": 2, "base_model": "gemini-2.5-flash-lite"})
    assert problems == []
    assert found.training_uri == "gs://datasets/runs/exp1/train.jsonl"
    assert settings.validation_uri == "gs://datasets/runs/exp1/val.jsonl"
    assert settings.epochs == 2 and settings.base_model == "gemini-2.5-flash-lite"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        ({"epochs": 2}, "must name its training file"),
        (b" " * (MAX_MANIFEST_BYTES + 1), "at most"),
    ],
)
def test_a_manifest_that_cannot_name_a_training_file_is_invalid(document, message):
    found, _, problems = manifest(document)
    assert found is None
    assert [p.code for p in problems] == ["INVALID_MANIFEST"] and message in problems[0].message


@pytest.mark.parametrize("reference", ["gs://other-bucket/train.jsonl", "../secrets/train.jsonl", "/etc/passwd", "https://example.com/t.jsonl"])
def test_a_manifest_may_only_name_files_in_its_own_bucket(reference):
    found, _, problems = manifest({"training": reference})
    assert found is None
    assert problems and problems[0].code == "INVALID_MANIFEST" and problems[0].key == "training"


def test_unknown_manifest_fields_are_problems_but_the_training_file_is_still_found():
    found, _, problems = manifest({"training": "t.jsonl", "epoch": 3})
    assert found is not None
    assert [(p.code, p.key) for p in problems] == [("UNKNOWN_SETTING", "epoch")]
