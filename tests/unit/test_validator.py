"""The whole-file validator: streaming, dataset-level rules, token accounting, the report contract."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import shared.dataset.validator as validator_module
from shared.dataset import Code, ValidationOptions, validate_dataset
from shared.dataset.sources import SourceError
from shared.model_catalog import DatasetLimits, TuningMode, find_base_model
from tests.unit.helpers_dataset import WordCounter, chat, turn, write_jsonl

OFFLINE = ValidationOptions(check_media=False)


def validate(path: Path, **kwargs):
    options = kwargs.pop("options", OFFLINE)
    return validate_dataset(str(path), options=options, tokenizer=WordCounter(), **kwargs)


def use_limits(monkeypatch: pytest.MonkeyPatch, limits: DatasetLimits) -> None:
    """Run the validator against gemini-2.5-flash with smaller limits."""
    model = dataclasses.replace(find_base_model("gemini-2.5-flash"), limits=limits)
    monkeypatch.setattr(validator_module, "find_base_model", lambda name: model)


def codes(findings: list[dict]) -> list[tuple[str, int | None]]:
    return [(f["code"], f["line"]) for f in findings]


def test_a_clean_dataset_is_valid_and_the_report_carries_the_contract_keys(tmp_path):
    rows = [chat((f"question number {i}", "the answer")) for i in range(120)]
    report = validate(write_jsonl(tmp_path / "train.jsonl", rows))
    document = json.loads(report.to_json())
    assert document["valid"] is True
    assert document["model"] == "gemini-2.5-flash"
    assert document["examples"] == 120
    assert document["tokens"]["total"] == 120 * 5
    assert document["errors"] == [] and document["error_counts"] == {}
    assert document["warnings"] == [] and document["warning_counts"] == {}
    assert document["report_version"] == 1


def test_every_error_names_its_line_and_good_lines_around_it_still_count(tmp_path):
    rows = [chat(("a b", "c")), '{"contents": [', chat(("d", "e f")), {"messages": []}]
    report = validate(write_jsonl(tmp_path / "t.jsonl", rows))
    assert not report.valid
    assert codes(report.errors) == [("INVALID_JSON", 2), ("LEGACY_MESSAGES_FORMAT", 4)]
    assert report.examples == 4
    assert report.tokens.total == 3 + 3
    assert {"code", "line", "path", "message"} <= set(report.errors[0])


def test_tokens_are_counted_per_training_record_the_way_vertex_bills_them(tmp_path):
    # system (2) + u1 (1) + m1 (2) = 5 for record 1; + u2 (3) + m2 (1) = 9 for record 2
    example = chat(("u1", "m1 m1"), ("u2 u2 u2", "m2"), system="sys sys")
    report = validate(write_jsonl(tmp_path / "t.jsonl", [example]), options=ValidationOptions(check_media=False, epochs=4))
    assert report.tokens.records == 2
    assert report.tokens.total == 5 + 9
    assert report.tokens.per_example == {"min": 9, "p50": 9, "p95": 9, "max": 9}
    assert report.tokens.billable == (5 + 9) * 4


def test_cost_is_billable_tokens_times_the_model_price_from_the_one_table(tmp_path):
    rows = [chat(("one two three", "four"))] * 1 + [chat((f"q {i}", "a")) for i in range(9)]
    report = validate(write_jsonl(tmp_path / "t.jsonl", rows), options=ValidationOptions(model="gemini-2.5-pro", epochs=2, check_media=False))
    price = find_base_model("gemini-2.5-pro").training_usd_per_million_tokens
    assert report.cost.usd_per_million_tokens == price
    assert report.cost.estimated_usd == pytest.approx(report.tokens.billable * price / 1e6, abs=1e-4)
    assert report.cost.upper_bound_usd >= report.cost.estimated_usd


def test_examples_over_the_models_token_limit_are_errors_on_their_line(tmp_path, monkeypatch):
    use_limits(monkeypatch, DatasetLimits(max_example_tokens=4))
    rows = [chat(("a", "b")), chat(("a b c", "d e")), chat(("x", "y"))]
    report = validate(write_jsonl(tmp_path / "t.jsonl", rows))
    assert codes(report.errors) == [("EXAMPLE_TOO_LONG", 2)]
    assert "5 tokens" in report.errors[0]["message"]


def test_duplicates_are_warnings_that_point_at_the_first_occurrence(tmp_path):
    a, b = chat(("same", "answer")), chat(("other", "answer"))
    report = validate(write_jsonl(tmp_path / "t.jsonl", [a, b, a, b, a]))
    assert report.valid
    duplicates = [(w["line"], w["message"]) for w in report.warnings if w["code"] == "DUPLICATE_EXAMPLE"]
    assert duplicates == [(3, "same as line 1"), (4, "same as line 2"), (5, "same as line 1")]


def test_validation_examples_that_also_appear_in_training_are_flagged_as_overlap(tmp_path):
    training = write_jsonl(tmp_path / "train.jsonl", [chat((f"q{i}", "a")) for i in range(5)])
    validation = write_jsonl(tmp_path / "val.jsonl", [chat(("new", "a")), chat(("q3", "a"))])
    report = validate(training, validation_uri=str(validation))
    overlap = [w for w in report.warnings if w["code"] == "TRAIN_VALIDATION_OVERLAP"]
    assert [(w["file"], w["line"], w["message"]) for w in overlap] == [("validation", 2, "same as training line 4")]
    assert report.validation_examples == 2


def test_errors_in_the_validation_file_say_which_file_they_are_in(tmp_path):
    training = write_jsonl(tmp_path / "train.jsonl", [chat(("q", "a"))])
    validation = write_jsonl(tmp_path / "val.jsonl", [chat(("q2", "a")), {"contents": [turn("user", "x")]}])
    report = validate(training, validation_uri=str(validation))
    assert [(e["file"], e["line"], e["code"]) for e in report.errors] == [("validation", 2, "NO_MODEL_TURN")]


def test_fewer_than_100_examples_is_a_warning_and_none_is_an_error(tmp_path):
    report = validate(write_jsonl(tmp_path / "few.jsonl", [chat(("q", "a"))]))
    assert report.valid and "FEW_EXAMPLES" in report.warning_counts
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    report = validate(empty)
    assert not report.valid and report.error_counts == {"NO_EXAMPLES": 1}


def test_blank_lines_are_skipped_with_a_warning_and_do_not_count_as_examples(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(json.dumps(chat(("q", "a"))).encode() + b"\n\n   \r\n" + json.dumps(chat(("r", "b"))).encode())
    report = validate(path)
    assert report.examples == 2
    assert [f for f in codes(report.warnings) if f[0] == "BLANK_LINE"] == [("BLANK_LINE", 2), ("BLANK_LINE", 3)]


def test_crlf_line_endings_are_accepted(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\r\n".join(json.dumps(chat((f"q{i}", "a"))).encode() for i in range(3)) + b"\r\n")
    report = validate(path)
    assert report.valid and report.examples == 3


def test_mixed_media_resolutions_across_the_dataset_are_an_error_naming_the_first_value(tmp_path):
    def with_resolution(value: str) -> dict:
        return {**chat(("q", "a")), "generationConfig": {"mediaResolution": value}}

    rows = [with_resolution("MEDIA_RESOLUTION_LOW"), chat(("q2", "a")), with_resolution("MEDIA_RESOLUTION_HIGH")]
    report = validate(write_jsonl(tmp_path / "t.jsonl", rows))
    assert codes(report.errors) == [("MIXED_MEDIA_RESOLUTION", 3)]
    assert "training line 1" in report.errors[0]["message"]


def test_findings_are_capped_per_code_but_all_are_counted(tmp_path):
    rows = ["not json"] * 500 + [{"prompt": "x"}] * 30
    report = validate(write_jsonl(tmp_path / "t.jsonl", rows), options=ValidationOptions(check_media=False, max_findings_per_code=5))
    assert report.error_counts == {"INVALID_JSON": 500, "MISSING_CONTENTS": 30}
    assert codes(report.errors) == [("INVALID_JSON", n) for n in range(1, 6)] + [("MISSING_CONTENTS", n) for n in range(501, 506)]
    assert len(report.to_json()) < 20_000


def test_a_line_longer_than_the_cap_is_reported_without_being_held_in_memory(tmp_path):
    path = tmp_path / "t.jsonl"
    with path.open("wb") as out:
        out.write(json.dumps(chat(("q", "a"))).encode() + b"\n")
        out.write(b'{"contents": "' + b"x" * 3_000_000 + b'"}\n')
        out.write(json.dumps(chat(("r", "b"))).encode() + b"\n")
    report = validate(path, options=ValidationOptions(check_media=False, max_line_bytes=1_000_000))
    assert codes(report.errors) == [("LINE_TOO_LONG", 2)]
    assert report.examples == 3 and report.tokens.total == 4


def test_a_file_over_the_size_limit_is_an_error_and_only_the_limit_is_scanned(tmp_path, monkeypatch):
    use_limits(monkeypatch, DatasetLimits(max_training_file_bytes=1000))
    path = write_jsonl(tmp_path / "t.jsonl", [chat((f"question {i}", "answer")) for i in range(100)])
    report = validate(path)
    assert "FILE_TOO_LARGE" in report.error_counts
    assert report.training.scanned_bytes_limit == 1000
    assert report.examples < 100


def test_too_many_validation_examples_uses_the_larger_of_5000_and_30_percent_of_training():
    limits = DatasetLimits()
    assert limits.max_validation_examples_for(1_000) == 5_000
    assert limits.max_validation_examples_for(100_000) == 30_000


def test_unknown_and_discontinued_models_are_errors_unless_discontinued_is_allowed(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [chat(("q", "a"))])
    unknown = validate(path, options=ValidationOptions(model="gpt-4", check_media=False))
    assert codes(unknown.errors) == [("UNKNOWN_MODEL", None)]
    assert unknown.cost.estimated_usd is None
    retired = validate(path, options=ValidationOptions(model="gemini-2.0-flash", check_media=False))
    assert codes(retired.errors) == [("MODEL_DISCONTINUED", None)]
    assert retired.model == "gemini-2.0-flash-001"
    allowed = validate(path, options=ValidationOptions(model="gemini-2.0-flash", check_media=False, allow_discontinued=True))
    assert allowed.valid and "MODEL_DISCONTINUED" in allowed.warning_counts


def test_a_missing_file_is_an_io_error_not_a_report(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        validate(tmp_path / "missing.jsonl")


def test_http_media_references_are_warnings_because_they_cannot_be_checked_offline(tmp_path):
    row = {"contents": [{"role": "user", "parts": [{"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}}]}, turn("model", "cat")]}
    report = validate(write_jsonl(tmp_path / "t.jsonl", [row]), options=ValidationOptions())
    assert report.valid
    assert codes(report.warnings)[-1] == ("MEDIA_UNCHECKED", 1)


def test_the_summary_for_job_documents_keeps_the_first_errors_with_line_numbers(tmp_path):
    rows = ["bad"] * 10
    summary = validate(write_jsonl(tmp_path / "t.jsonl", rows)).summary(max_errors=3)
    assert summary["valid"] is False
    assert [e["line"] for e in summary["first_errors"]] == [1, 2, 3]
    assert summary["error_counts"] == {"INVALID_JSON": 10}


def test_real_tokenizer_counts_match_the_gemma_tokenizer_exactly(tmp_path, gemma_tokenizer):
    rows = [chat(("Bonjour, ça va ?", "Très bien, merci !"), system="Réponds en français.")]
    report = validate_dataset(str(write_jsonl(tmp_path / "t.jsonl", rows)), options=OFFLINE, tokenizer=gemma_tokenizer)
    expected = sum(len(gemma_tokenizer.encode(t)) for t in ("Réponds en français.", "Bonjour, ça va ?", "Très bien, merci !"))
    assert report.tokens.total == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (ValidationOptions(model="gemini-2.5-pro", adapter_size=16), "ADAPTER_SIZE_NOT_ALLOWED"),
        (ValidationOptions(model="gemini-2.5-flash", adapter_size=16), None),
        (ValidationOptions(tuning_mode=TuningMode.FULL), "TUNING_MODE_NOT_SUPPORTED"),
        (ValidationOptions(learning_rate_multiplier=0.0), "INVALID_LEARNING_RATE_MULTIPLIER"),
        (ValidationOptions(epochs=0), "INVALID_EPOCHS"),
    ],
)
def test_tuning_settings_are_checked_against_the_model_table_before_any_job_starts(tmp_path, options, expected):
    path = write_jsonl(tmp_path / "t.jsonl", [chat(("q", "a"))])
    report = validate(path, options=dataclasses.replace(options, check_media=False))
    assert codes(report.errors) == ([(expected, None)] if expected else [])


def test_open_models_accept_full_fine_tuning(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [chat(("q", "a"))])
    report = validate(path, options=ValidationOptions(model="gemma-3-270m", tuning_mode=TuningMode.FULL, check_media=False))
    assert report.valid
    assert report.cost.estimated_usd is None and "compute time" in report.cost.note


def test_the_pipeline_turns_unreadable_files_into_findings_instead_of_errors(tmp_path):
    training = write_jsonl(tmp_path / "train.jsonl", [chat(("q", "a"))])
    options = ValidationOptions(check_media=False, unreadable_files_are_findings=True)
    report = validate(training, validation_uri=str(tmp_path / "missing.jsonl"), options=options)
    assert [(e["code"], e["file"]) for e in report.errors] == [("DATASET_UNREADABLE", "validation")]
    report = validate(tmp_path / "gone.jsonl", options=options)
    assert report.error_counts == {"DATASET_UNREADABLE": 1}


def test_preflight_findings_such_as_bad_upload_settings_land_in_the_report(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [chat(("q", "a"))])
    report = validate(path, preflight=[(Code.UNKNOWN_SETTING, "tunewire-epoch", "tunewire-epoch is not a tunewire setting")])
    assert not report.valid
    assert [(e["code"], e["path"], e["line"]) for e in report.errors] == [("UNKNOWN_SETTING", "tunewire-epoch", None)]
