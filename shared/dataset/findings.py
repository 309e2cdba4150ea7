"""Findings (errors and warnings) and the collector that caps what a report keeps.

A file with a million bad lines must still give a small report: the collector keeps the first
`max_per_code` findings of each code and counts all of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shared.dataset.codes import Code, Severity, info


@dataclass(frozen=True, slots=True)
class Finding:
    code: Code
    severity: Severity
    message: str
    line: int | None = None  # 1-based line in `file`; None for dataset-level findings
    path: str = ""  # JSON path inside the line, e.g. contents[2].parts[0].text
    file: str = "training"  # "training" or "validation"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "hint": info(self.code).hint,
        }


@dataclass
class FindingCollector:
    """Keeps the first `max_per_code` findings per code, counts every one."""

    max_per_code: int = 20
    severity_overrides: dict[Code, Severity] = field(default_factory=dict)
    _kept: list[Finding] = field(default_factory=list)
    _counts: Counter[Code] = field(default_factory=Counter)

    def add(
        self,
        code: Code,
        message: str,
        *,
        line: int | None = None,
        path: str = "",
        file: str = "training",
    ) -> None:
        self._counts[code] += 1
        if self._counts[code] <= self.max_per_code:
            severity = self.severity_overrides.get(code, info(code).severity)
            self._kept.append(Finding(code, severity, message, line, path, file))

    def severity_of(self, code: Code) -> Severity:
        return self.severity_overrides.get(code, info(code).severity)

    def count(self, code: Code) -> int:
        return self._counts[code]

    def kept(self, severity: Severity) -> list[Finding]:
        ordered = sorted(
            (f for f in self._kept if f.severity is severity),
            key=lambda f: (f.file != "training", f.line or 0, f.code.value),
        )
        return ordered

    def counts(self, severity: Severity) -> dict[str, int]:
        return {
            code.value: n
            for code, n in sorted(self._counts.items(), key=lambda item: item[0].value)
            if self.severity_of(code) is severity
        }

    def has_errors(self) -> bool:
        return any(self.severity_of(code) is Severity.ERROR for code in self._counts)
