"""docs/reliability.md is generated from recorded rows, says "held" only for passed checks, and
lists every reliability test (regenerate with `make reliability` after adding one)."""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path

from scripts.render_reliability import load_rows, render

REPO = Path(__file__).resolve().parents[2]


def row(test: str, result: str = "passed", **fields) -> dict:
    return {"test": test, "result": result, "area": "crash", "fault": "f", "injected": "i", "expected": "e",
            "observed": "o", "counts": {"jobs": 1}, **fields}


def test_a_passed_check_reads_held_and_a_failed_one_reads_failed():
    page = render([row("tests/reliability/test_a.py::test_one"), row("tests/reliability/test_a.py::test_two", "failed")],
                  generated_at=datetime(2026, 11, 25, tzinfo=timezone.utc))
    assert "| held | `test_a::test_one` |" in page
    assert "| **FAILED** | `test_a::test_two` |" in page
    assert "2 checks: 1 held, 1 failed, 0 errored." in page


def test_pipes_and_newlines_in_a_cell_do_not_break_the_table():
    page = render([row("t.py::x", observed="a | b\nc")])
    assert "a \\| b c" in page


def test_a_test_recorded_twice_keeps_its_last_row(tmp_path):
    import orjson

    results = tmp_path / "results.jsonl"
    results.write_bytes(orjson.dumps(row("t.py::x", "failed")) + b"\n" + orjson.dumps(row("t.py::x")) + b"\n")
    assert [r["result"] for r in load_rows(results)] == ["passed"]


def test_the_published_page_lists_every_reliability_test_and_nothing_failed():
    page = (REPO / "docs" / "reliability.md").read_text()
    for module in sorted((REPO / "tests" / "reliability").glob("test_*.py")):
        tree = ast.parse(module.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                assert f"{module.stem}::{node.name}" in page, f"{module.stem}::{node.name} is not in docs/reliability.md"
    assert "**FAILED**" not in page and "**ERROR**" not in page
