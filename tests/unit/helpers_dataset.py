"""Builders for dataset tests: examples as dicts, JSONL files, and a predictable token counter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence


class WordCounter:
    """Counts one token per whitespace-separated word: makes token arithmetic obvious in tests."""

    def count_tokens(self, texts: Sequence[str], *, num_threads: int | None = None) -> list[int]:
        return [len(text.split()) for text in texts]


def turn(role: str, *texts: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"text": text} for text in texts]}


def chat(*pairs: tuple[str, str], system: str | None = None) -> dict[str, Any]:
    contents: list[dict[str, Any]] = []
    for question, answer in pairs:
        contents += [turn("user", question), turn("model", answer)]
    example: dict[str, Any] = {"contents": contents}
    if system is not None:
        example["systemInstruction"] = {"parts": [{"text": system}]}
    return example


def write_jsonl(path: Path, rows: Sequence[Any]) -> Path:
    """Each row is a dict (dumped as JSON) or bytes/str written verbatim as one line."""
    with path.open("wb") as out:
        for row in rows:
            if isinstance(row, bytes):
                out.write(row)
            elif isinstance(row, str):
                out.write(row.encode())
            else:
                out.write(json.dumps(row, ensure_ascii=False).encode())
            out.write(b"\n")
    return path
