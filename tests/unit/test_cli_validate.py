"""`tunewire validate`: exit 0 valid, 1 invalid, 2 usage or I/O error with one line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunewire.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _tokenizer_built(gemma_tokenizer):
    """The CLI loads the real tokenizer; the session fixture makes sure it is built."""


def test_the_bundled_sentiment_example_is_valid_and_the_summary_shows_tokens_and_cost():
    result = runner.invoke(app, ["validate", str(EXAMPLES / "sentiment/train.jsonl"), "--epochs", "3"])
    assert result.exit_code == 0, result.output
    assert "VALID" in result.output
    assert "estimated cost $" in result.output


def test_the_broken_example_exits_1_and_lists_codes_with_line_numbers():
    result = runner.invoke(app, ["validate", str(EXAMPLES / "broken/train.jsonl")])
    assert result.exit_code == 1
    assert "INVALID" in result.output
    assert "training:2" in result.output and "INVALID_JSON" in result.output


def test_json_output_is_the_full_report_with_the_contract_keys():
    result = runner.invoke(app, ["validate", str(EXAMPLES / "broken/train.jsonl"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {"valid", "model", "examples", "tokens", "errors", "error_counts", "warnings"} <= set(report)
    assert report["valid"] is False and isinstance(report["tokens"]["total"], int)
    assert all({"code", "line", "path", "message"} <= set(e) for e in report["errors"])


def test_a_missing_file_exits_2_with_a_one_line_reason(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2
    assert "cannot read" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_directory_instead_of_a_file_exits_2(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_bad_option_is_a_usage_error_with_exit_2():
    result = runner.invoke(app, ["validate", str(EXAMPLES / "sentiment/train.jsonl"), "--epochs", "many"])
    assert result.exit_code == 2


def test_an_unknown_model_makes_the_dataset_invalid_with_exit_1():
    result = runner.invoke(app, ["validate", str(EXAMPLES / "sentiment/train.jsonl"), "--model", "gpt-4", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error_counts"] == {"UNKNOWN_MODEL": 1}
