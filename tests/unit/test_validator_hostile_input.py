"""Bad input of any kind yields a report, never an unhandled exception (property-based).

The number of generated inputs per property comes from the suite's hypothesis profile
(tests/conftest.py): 1,000 by default, more with `--hypothesis-budget=N`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.dataset import ValidationOptions, validate_dataset
from shared.dataset.sources import iter_lines
from tests.unit.helpers_dataset import chat

OPTIONS = ValidationOptions(check_media=False, max_findings_per_code=3)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["contents", "role", "parts", "text", "fileData", "mimeType", "fileUri", "functionCall",
                         "functionResponse", "name", "systemInstruction", "generationConfig", "mediaResolution",
                         "tools", "messages", "user", "model"]) | st.text(max_size=8),
        children,
        max_size=5,
    ),
    max_leaves=30,
)


def run(path: Path, tokenizer) -> None:
    report = validate_dataset(str(path), options=OPTIONS, tokenizer=tokenizer)
    document = json.loads(report.to_json())
    assert isinstance(document["valid"], bool)
    assert sum(document["error_counts"].values()) >= len(document["errors"])
    for finding in document["errors"] + document["warnings"]:
        assert finding["line"] is None or 1 <= finding["line"] <= max(1, report.training.lines)


@given(data=st.binary(max_size=4000))
def test_random_bytes_give_a_report(tmp_path, gemma_tokenizer, data):
    path = tmp_path / "random.jsonl"
    path.write_bytes(data)
    run(path, gemma_tokenizer)


@given(values=st.lists(json_values, min_size=1, max_size=6))
def test_any_json_values_give_a_report(tmp_path, gemma_tokenizer, values):
    path = tmp_path / "values.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in values), encoding="utf-8")
    run(path, gemma_tokenizer)


@given(
    cut=st.integers(min_value=0, max_value=400),
    insert=st.sampled_from([b"", b"\x00", b"\xff\xfe", b"\\ud800", b'"', b"\r", b"\xe9", b"\xef\xbb\xbf"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-32"]),
)
def test_truncated_corrupted_and_re_encoded_examples_give_a_report(tmp_path, gemma_tokenizer, cut, insert, encoding):
    line = json.dumps(chat(("Ünïcödé question ✓", "réponse"), system="système"), ensure_ascii=False)
    raw = line.encode(encoding, errors="replace")
    corrupted = raw[:cut] + insert + raw[cut:]
    path = tmp_path / "corrupt.jsonl"
    path.write_bytes(corrupted + b"\n" + raw[: cut // 2])
    run(path, gemma_tokenizer)


@given(chunk_sizes=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30), body=st.binary(max_size=600), cap=st.integers(min_value=1, max_value=80))
def test_line_splitting_is_exact_whatever_the_chunk_boundaries(chunk_sizes, body, cap):
    chunks, offset, i = [], 0, 0
    while offset < len(body):
        size = chunk_sizes[i % len(chunk_sizes)]
        chunks.append(body[offset : offset + size])
        offset += size
        i += 1
    lines = list(iter_lines(iter(chunks), max_line_bytes=cap))
    expected = body.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert [line.number for line in lines] == list(range(1, len(expected) + 1))
    assert [line.length for line in lines] == [len(e) for e in expected]
    assert [line.data for line in lines] == [e if len(e) <= cap else None for e in expected]


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 100_000,
        b'{"contents": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"contents": [{"role": "user", "parts": [{"text": "a\x00b"}]}]}',
        b'{"contents": [{"role": "user", "parts": [{"text": "\\ud800"}]}, {"role": "model", "parts": [{"text": "\\udfff x"}]}]}',
        b"\x00" * 10_000,
        b'{"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": ' + b'{"a":' * 400 + b"1" + b"}" * 400 + b"}}]}]}",
    ],
    ids=["deep-array", "deep-contents", "nul-in-string", "lone-surrogates", "nul-bytes", "deep-function-response"],
)
def test_pathological_lines_give_a_report(tmp_path, gemma_tokenizer, line):
    path = tmp_path / "evil.jsonl"
    path.write_bytes(line + b"\n")
    run(path, gemma_tokenizer)


def test_a_100_mb_line_gives_a_report_in_flat_memory(tmp_path, gemma_tokenizer):
    path = tmp_path / "huge-line.jsonl"
    with path.open("wb") as out:
        out.write(b'{"contents": [{"role": "user", "parts": [{"text": "')
        block = b"x" * (1024 * 1024)
        for _ in range(100):
            out.write(block)
        out.write(b'"}]}]}\n')
    report = validate_dataset(str(path), options=OPTIONS, tokenizer=gemma_tokenizer)
    assert report.error_counts == {"LINE_TOO_LONG": 1}
