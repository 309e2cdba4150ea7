"""The validation report: a versioned JSON document.

Contract (other tools rely on these keys): `valid`, `model`, `examples`, `tokens.total`,
`errors` / `warnings` (objects with `code`, `line`, `path`, `message`), `error_counts` /
`warning_counts` (code -> count). Everything else may grow; nothing listed may change meaning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

REPORT_VERSION = 1


@dataclass
class TokenSummary:
    total: int  # training tokens per epoch: the sum over training records (each model turn)
    records: int
    per_example: dict[str, int]  # min, p50, p95, max of whole-conversation tokens
    media_estimated: int
    media_unestimated_parts: int
    validation_total: int
    epochs: int | None
    billable: int  # total x epochs (x 1 when epochs is left to the service)


@dataclass
class CostEstimate:
    usd_per_million_tokens: float | None
    price_date: str
    epochs_assumed: int
    estimated_usd: float | None
    upper_bound_usd: float | None  # adds validation tokens and 8 padding tokens per record
    note: str | None = None


@dataclass
class FileSummary:
    uri: str
    bytes: int
    lines: int
    examples: int
    sound_examples: int
    multimodal_examples: int
    scanned_bytes_limit: int | None = None


@dataclass
class ValidationReport:
    valid: bool
    model: str
    examples: int
    validation_examples: int | None
    tokens: TokenSummary
    cost: CostEstimate
    errors: list[dict[str, Any]]
    error_counts: dict[str, int]
    warnings: list[dict[str, Any]]
    warning_counts: dict[str, int]
    training: FileSummary
    validation: FileSummary | None
    media_objects_checked: int
    max_findings_per_code: int
    elapsed_s: float
    report_version: int = REPORT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, *, indent: bool = False) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 if indent else 0)

    def summary(self, max_errors: int = 5) -> dict[str, Any]:
        """The short form stored on a job document and sent in webhooks."""
        return {
            "valid": self.valid,
            "model": self.model,
            "examples": self.examples,
            "tokens": self.tokens.total,
            "billable_tokens": self.tokens.billable,
            "estimated_usd": self.cost.estimated_usd,
            "error_counts": self.error_counts,
            "warning_counts": self.warning_counts,
            "first_errors": [
                {key: error[key] for key in ("code", "file", "line", "path", "message")}
                for error in self.errors[:max_errors]
            ],
        }
