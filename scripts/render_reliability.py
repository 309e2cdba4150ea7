"""Writes docs/reliability.md from the rows the reliability suite recorded.

    make reliability            # runs tests/reliability (slow cases included), then this
    python scripts/render_reliability.py [RESULTS.jsonl] [--out docs/reliability.md]

Each row was written by the `outcome` fixture (tests/reliability/conftest.py) at the end of one
test, with that test's real result; a failed test shows as failed here, never as held.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / ".tunewire" / "reliability" / "results.jsonl"
AREA_ORDER = ("redelivery", "crash", "restart", "vertex faults", "webhook receivers", "poison messages", "dead letters",
              "hostile input", "ssrf", "secrets", "load")

HEADER = """# Reliability: what was tried, and what happened

tunewire promises (DESIGN.md's invariants): at-least-once delivery made harmless, at most one
Vertex AI job per upload, every upload ending in a terminal state with a reason, no secret in any
log or document, no request to a place it must not go. The reliability suite (`tests/reliability/`)
tries hard to break each promise on the real local stack — emulators, the functions under
functions-framework, the tuning twin — and records what it saw. This page is generated from those
records by `scripts/render_reliability.py`; do not edit it by hand.

## Running it

```
make reliability                      # the whole suite, slow cases included, then this page
.venv/bin/python -m pytest -m reliability -m "not slow"   # the fast part (also in make test)
.venv/bin/python -m pytest tests/reliability --hypothesis-budget=10000   # more hypothesis cases
```

How faults are injected:

- **crash points** (`shared/faults.py`): named places between two side effects; a test arms one
  through `TUNEWIRE_CRASH_POINTS_FILE` and the function's worker exits there with `os._exit`
  (nothing acknowledged, no `finally`); gunicorn starts a new worker, as Cloud Functions starts a
  new instance. Unarmed (every deployment) a crash point is one global read.
- **kills and restarts** (`LocalStack.kill`, `LocalStack.restart`): SIGKILL of a component's
  process group; a restart at the same address (Firestore exported and imported; the Pub/Sub
  emulator starts empty and its topology is created again).
- **the twin's faults** (`POST /twin/faults` on the tuning twin): a status (429, 500, 503, 400)
  or a timeout, before or after the operation runs.
- **hostile peers and input**: webhook receivers that are down, slow, redirect or answer 410;
  messages published straight to the topics; uploads with hostile names, manifests and metadata.
"""


def load_rows(path: Path) -> list[dict[str, Any]]:
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # a test run twice keeps its last row
        latest[row["test"]] = row
    return list(latest.values())


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in counts.items())


def _test_name(node_id: str) -> str:
    file, _, name = node_id.partition("::")
    return f"`{Path(file).stem}::{name}`"


def render(rows: list[dict[str, Any]], *, generated_at: datetime | None = None) -> str:
    generated_at = generated_at or datetime.now(timezone.utc)
    results = Counter(row["result"] for row in rows)
    order = {area: index for index, area in enumerate(AREA_ORDER)}
    rows = sorted(rows, key=lambda row: (order.get(row["area"], len(order)), row["area"], row["test"]))
    lines = [HEADER, "## Results", ""]
    lines.append(f"{len(rows)} checks: {results.get('passed', 0)} held, {results.get('failed', 0)} failed, "
                 f"{results.get('error', 0)} errored. Generated {generated_at:%Y-%m-%d %H:%M} UTC.")
    lines += ["", "| area | fault or input | how it was injected | expected | observed | counts | result | test |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        result = "held" if row["result"] == "passed" else f"**{row['result'].upper()}**"
        lines.append("| " + " | ".join(_cell(value) for value in (
            row["area"] or "?", row["fault"], row["injected"], row["expected"], row["observed"], _counts(row["counts"]),
            result, _test_name(row["test"]),
        )) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.md")
    args = parser.parse_args(argv)
    rows = load_rows(args.results)
    if not rows:
        print(f"no rows in {args.results}: run the suite first (make reliability)", file=sys.stderr)
        return 1
    args.out.write_text(render(rows))
    failed = sum(row["result"] != "passed" for row in rows)
    print(f"{args.out}: {len(rows)} rows, {failed} not held")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
