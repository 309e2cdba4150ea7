"""Hostile upload settings: every one becomes a coded problem, never an exception, never a file
read outside the datasets bucket, never an unprintable display name.

An exception here is worse than a rejection: validate_dataset would answer 500 on every
redelivery and the job would sit in VALIDATING until the message is dead-lettered.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.config import Settings
from shared.dataset.codes import Code
from shared.uploads.settings import (
    MAX_DISPLAY_NAME,
    MAX_WHOLE_NUMBER,
    TuningSettings,
    default_settings,
    parse_manifest,
    settings_from_metadata,
)

DATASETS = "tunewire-datasets"
BASE = TuningSettings(base_model="gemini-2.5-flash", datasets_bucket=DATASETS)
DEEP = 1020  # orjson parses up to 1024 levels; str() of this many recurses past Python's limit
SETTING_FIELDS = ["base_model", "epochs", "adapter_size", "learning_rate_multiplier", "display_name", "validation", "webhook",
                  "tuning_mode"]
UNPRINTABLE = {"newline": "a\nb", "carriage-return": "a\rb", "tab": "a\tb", "delete": "a\x7fb", "c1-next-line": "a\x85b",
               "line-separator": "a\u2028b", "rtl-override": "invoice\u202egnp.exe", "rtl-isolate": "a\u2067b\u2069"}
ODD_BUT_PRINTABLE = {"uppercase-and-spaces": "Support Bot V2", "label-syntax": 'team=a,env="prod"', "quotes": "it's \"quoted\"",
                     "emoji-zwj": "bot 👩‍💻 v2", "hebrew": "בוט תמיכה", "nfd": unicodedata.normalize("NFD", "café crème"),
                     "64-plus": "x" * 100}


BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def manifest_with(field: str, value_json: str) -> bytes:
    return ('{"training": "train.jsonl", "' + field + '": ' + value_json + "}").encode()


@pytest.mark.parametrize("field", SETTING_FIELDS + ["not_a_setting"])
def test_a_deeply_nested_manifest_value_is_a_coded_problem_not_a_crash(field):
    raw = manifest_with(field, "[" * DEEP + "1" + "]" * DEEP)
    found, settings, problems = parse_manifest(raw, bucket=DATASETS, manifest_name="runs/a.tunewire.json", base=BASE)
    expected = "UNKNOWN_SETTING" if field == "not_a_setting" else "INVALID_SETTING"
    assert found is not None and [(p.code, p.key) for p in problems] == [(expected, field)]
    assert settings == BASE and len(problems[0].message) < 400


@pytest.mark.parametrize(
    ("metadata", "accepted"),
    [
        ({"tunewire-validation": f"gs://{DATASETS}/team/val.jsonl"}, True),
        ({"tunewire-validation": "gs://tunewire-reports/reports/other-job.json"}, False),
        ({"tunewire-validation": "gs://someone-elses-bucket/val.jsonl"}, False),
        ({"tunewire-validation": f"gs://{DATASETS}/team/../other-team/val.jsonl"}, False),
    ],
    ids=["datasets-bucket", "reports-bucket", "foreign-bucket", "dot-dot-segment"],
)
def test_metadata_may_name_a_validation_file_only_inside_the_datasets_bucket(metadata, accepted):
    settings, problems = settings_from_metadata(metadata, BASE)
    if accepted:
        assert problems == [] and settings.validation_uri == metadata["tunewire-validation"]
    else:
        assert [(p.code, p.key) for p in problems] == [("INVALID_SETTING", "tunewire-validation")]
        assert settings.validation_uri is None


@pytest.mark.parametrize(
    "document",
    [
        {"training": "train.jsonl", "validation": "gs://tunewire-reports/reports/x.json"},
        {"training": "gs://other-bucket/train.jsonl"},
        {"training": f"gs://{DATASETS}/a/../b/train.jsonl"},
        {"training": "train.jsonl", "validation": f"gs://{DATASETS}/runs/../secret/val.jsonl"},
        {"training": "../elsewhere/train.jsonl"},
        {"training": "train.jsonl", "validation": "/etc/passwd"},
        {"training": "file:///etc/passwd"},
        {"training": "https://example.com/train.jsonl"},
    ],
    ids=["validation-in-reports", "training-elsewhere", "training-dot-dot-uri", "validation-dot-dot-uri", "relative-dot-dot",
         "absolute-path", "file-uri", "https-uri"],
)
def test_a_manifest_may_name_files_only_inside_its_own_bucket_without_dot_dot(document):
    found, settings, problems = parse_manifest(json.dumps(document).encode(), bucket=DATASETS, manifest_name="runs/a.tunewire.json",
                                               base=BASE)
    assert problems and {p.code for p in problems} <= {"INVALID_MANIFEST", "INVALID_SETTING"}
    named = ([found.training_uri] if found else []) + ([settings.validation_uri] if settings.validation_uri else [])
    assert all(uri.startswith(f"gs://{DATASETS}/") and ".." not in uri.split("/") for uri in named)


@pytest.mark.parametrize("value", UNPRINTABLE.values(), ids=UNPRINTABLE.keys())
def test_a_display_name_with_unprintable_characters_is_invalid(value):
    settings, problems = settings_from_metadata({"tunewire-display-name": value}, BASE)
    assert [(p.code, p.key) for p in problems] == [("INVALID_SETTING", "tunewire-display-name")]
    assert settings.display_name is None


@pytest.mark.parametrize("value", ODD_BUT_PRINTABLE.values(), ids=ODD_BUT_PRINTABLE.keys())
def test_an_odd_but_printable_display_name_is_kept_exactly(value):
    settings, problems = settings_from_metadata({"tunewire-display-name": value}, BASE)
    assert problems == [] and settings.display_name == value


@pytest.mark.parametrize(("epochs", "accepted"), [(str(MAX_WHOLE_NUMBER), True), (str(MAX_WHOLE_NUMBER + 1), False), ("9" * 5000, False)])
def test_a_whole_number_setting_must_fit_a_64_bit_integer(epochs, accepted):
    settings, problems = settings_from_metadata({"tunewire-epochs": epochs}, BASE)
    assert (problems == []) is accepted
    assert settings.epochs == (int(epochs) if accepted else None)


def test_the_datasets_bucket_comes_from_the_deployment_and_stays_out_of_the_job_document():
    settings = default_settings(Settings(datasets_bucket=DATASETS))
    assert settings.datasets_bucket == DATASETS
    assert "datasets_bucket" not in settings.to_document()


metadata_keys = st.one_of(
    st.sampled_from(["tunewire-" + name.replace("_", "-") for name in SETTING_FIELDS] + ["tunewire-role", "owner"]),
    st.text(max_size=20).map(lambda text: "tunewire-" + text),
    st.text(max_size=20),
)
metadata_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(list(UNPRINTABLE.values()) + list(ODD_BUT_PRINTABLE.values())),
    st.sampled_from(["gs://tunewire-reports/x.jsonl", f"gs://{DATASETS}/a/../b.jsonl", "x" * 129, "0", "-1", "1e400", "nan", "FULL"]),
    st.integers().map(str),
)


def assert_safe(settings: TuningSettings, problems: list[Any]) -> None:
    known = {code.value for code in Code}
    assert all(problem.code in known and len(problem.key) <= 80 for problem in problems)
    if settings.display_name is not None:
        assert len(settings.display_name) <= MAX_DISPLAY_NAME
        assert not any(unicodedata.category(ch) in {"Cc", "Cs", "Zl", "Zp"} or ch in BIDI_CONTROLS for ch in settings.display_name)
    if settings.validation_uri is not None:
        assert settings.validation_uri.startswith(f"gs://{DATASETS}/")


@given(metadata=st.dictionaries(metadata_keys, metadata_values, max_size=6))
def test_any_metadata_gives_settings_and_coded_problems_never_an_exception(metadata):
    settings, problems = settings_from_metadata(metadata, BASE)
    assert_safe(settings, problems)


json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
manifest_documents = st.one_of(
    st.fixed_dictionaries(
        {"training": st.one_of(st.sampled_from(["train.jsonl", "../x.jsonl", "gs://other/x.jsonl", f"gs://{DATASETS}/x.jsonl"]),
                               json_documents)},
        optional={name: st.one_of(metadata_values, json_documents) for name in SETTING_FIELDS},
    ),
    json_documents,
)


@given(document=manifest_documents)
def test_any_manifest_document_gives_settings_and_coded_problems_never_an_exception(document):
    raw = json.dumps(document).encode()
    found, settings, problems = parse_manifest(raw, bucket=DATASETS, manifest_name="runs/a.tunewire.json", base=BASE)
    assert_safe(settings, problems)
    assert found is None or found.training_uri.startswith(f"gs://{DATASETS}/")
    assert found is not None or problems
