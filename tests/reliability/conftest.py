"""The reliability suite: each test tries to break one promise of the contract on the real local
stack and records what it saw, one row per test, for docs/reliability.md.

A test takes the `outcome` fixture and calls `outcome.record(...)` once its checks have run; the
row is written at teardown with the test's real result (passed / failed), so the published table
can only say "held" for a check that passed. Rows go to `$TUNEWIRE_RELIABILITY_RESULTS`
(default `.tunewire/reliability/results.jsonl`), which `scripts/render_reliability.py` turns into
docs/reliability.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

RESULTS_ENV = "TUNEWIRE_RELIABILITY_RESULTS"


def results_path() -> Path:
    return Path(os.environ.get(RESULTS_ENV, ".tunewire/reliability/results.jsonl")).resolve()


@dataclass
class ReliabilityRow:
    """One line of the published table."""

    test: str
    area: str = ""
    fault: str = ""
    injected: str = ""
    expected: str = ""
    observed: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False

    def record(self, *, area: str, fault: str, injected: str, expected: str, observed: str, **counts: Any) -> None:
        """What was done and what was seen; `counts` are the numbers behind `observed`."""
        self.area, self.fault, self.injected, self.expected, self.observed = area, fault, injected, expected, observed
        self.counts = counts
        self.recorded = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"reliability_{report.when}", report)


@pytest.fixture(scope="session")
def _reliability_results() -> Path:
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def outcome(request: pytest.FixtureRequest, _reliability_results: Path) -> Iterator[ReliabilityRow]:
    row = ReliabilityRow(test=request.node.nodeid)
    yield row
    call = getattr(request.node, "reliability_call", None)
    passed = call is not None and call.passed
    if not row.recorded and passed:
        pytest.fail("a reliability test must record what it observed (outcome.record(...))")
    entry = {
        "test": row.test,
        "result": "passed" if passed else ("failed" if call is not None else "error"),
        "area": row.area,
        "fault": row.fault,
        "injected": row.injected,
        "expected": row.expected,
        "observed": row.observed if row.recorded else f"test failed: {getattr(call, 'longreprtext', '')[:300]}",
        "counts": row.counts,
    }
    with _reliability_results.open("ab") as results:
        results.write(orjson.dumps(entry, default=str) + b"\n")
