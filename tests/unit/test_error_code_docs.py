"""The README documents every finding code with an example, and every line example is real."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.render_error_codes import render_error_code_table
from shared.dataset import Code, ValidationOptions, validate_dataset
from shared.dataset.code_examples import CODE_EXAMPLES
from tests.unit.helpers_dataset import WordCounter

README = Path(__file__).resolve().parents[2] / "README.md"
LINE_EXAMPLES = [(code, text) for code, (kind, text) in CODE_EXAMPLES.items() if kind == "line"]


def test_every_code_has_a_documented_example():
    assert set(CODE_EXAMPLES) == set(Code)


def test_the_readme_holds_the_generated_error_code_table_verbatim():
    assert render_error_code_table() in README.read_text(encoding="utf-8")


@pytest.mark.parametrize(("code", "line"), LINE_EXAMPLES, ids=[code.value for code, _ in LINE_EXAMPLES])
def test_each_documented_example_line_raises_exactly_its_code(tmp_path, code, line):
    path = tmp_path / "example.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    report = validate_dataset(str(path), options=ValidationOptions(), tokenizer=WordCounter())
    found = set(report.error_counts) | set(report.warning_counts)
    assert code.value in found
    assert found - {code.value, "FEW_EXAMPLES", "NO_MODEL_TURN"} == set()
