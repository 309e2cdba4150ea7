"""Prints the README's error-code table from the code table and its examples.

    python scripts/render_error_codes.py

A unit test checks that README.md contains exactly this output.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.dataset.code_examples import CODE_EXAMPLES  # noqa: E402
from shared.dataset.codes import CODES  # noqa: E402


def render_error_code_table() -> str:
    rows = ["| code | severity | meaning | example | fix |", "| --- | --- | --- | --- | --- |"]
    for code, info in CODES.items():
        kind, example = CODE_EXAMPLES[code]
        shown = f"`{example}`" if kind == "line" else example
        shown = shown.replace("|", "\\|")
        rows.append(f"| `{code.value}` | {info.severity.value} | {info.summary} | {shown} | {info.hint.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_error_code_table())
