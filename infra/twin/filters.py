"""The ``filter`` of ListTuningJobs: the subset of AIP-160 Vertex supports for tuning jobs.

Grammar: one or more comparisons joined by ``AND`` (upper case, as in AIP-160). Comparisons:

* ``labels.KEY="VALUE"`` / ``labels.KEY=VALUE`` / ``labels.KEY!=VALUE``; ``labels.KEY:*`` (has key)
* ``state=JOB_STATE_RUNNING`` / ``state="JOB_STATE_RUNNING"`` / ``state=3`` / ``state!=...``
* ``base_model=NAME`` (or ``baseModel``), ``tuned_model_display_name=NAME`` (or camelCase)

Anything else is a 400 INVALID_ARGUMENT naming the offending part.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from infra.twin.errors import ApiError
from infra.twin.jobs import JobRecord
from infra.twin.wire import JOB_STATE, WireValueError

__all__ = ["Comparison", "JobFilter", "parse_filter"]

_COMPARISON = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_.\-]*)\s*(?P<op>!=|=|:)\s*(?P<value>.+)$", re.DOTALL)
_FIELD_ALIASES = {
    "state": "state",
    "base_model": "base_model",
    "baseModel": "base_model",
    "tuned_model_display_name": "tuned_model_display_name",
    "tunedModelDisplayName": "tuned_model_display_name",
}


@dataclass(frozen=True)
class Comparison:
    field: str  # "state", "base_model", "tuned_model_display_name" or "labels.KEY"
    op: str  # "=", "!=" or ":" (has)
    value: str

    def matches(self, job: JobRecord) -> bool:
        if self.field.startswith("labels."):
            key = self.field[len("labels.") :]
            if self.op == ":":
                return key in job.labels if self.value == "*" else job.labels.get(key) == self.value
            actual: str | None = job.labels.get(key)
        elif self.field == "state":
            actual = job.state
        elif self.field == "base_model":
            actual = job.base_model
        else:
            actual = job.tuned_model_display_name
        equal = actual == self.value
        return equal if self.op in ("=", ":") else not equal


@dataclass(frozen=True)
class JobFilter:
    comparisons: tuple[Comparison, ...] = ()

    def __call__(self, job: JobRecord) -> bool:
        return all(comparison.matches(job) for comparison in self.comparisons)


def _split_and(text: str) -> list[str]:
    """Split on the ``AND`` keyword outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    i, quoted = 0, False
    while i < len(text):
        char = text[i]
        if char == "\\" and quoted and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and text.startswith("AND", i):
            before = text[i - 1] if i > 0 else " "
            after = text[i + 3] if i + 3 < len(text) else " "
            if before.isspace() and after.isspace():
                parts.append("".join(current))
                current = []
                i += 3
                continue
        current.append(char)
        i += 1
    if quoted:
        raise ApiError.invalid_argument(f"Invalid filter {text!r}: unterminated string.")
    parts.append("".join(current))
    return parts


def _unquote(value: str, source: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        if len(value) < 2 or not value.endswith('"'):
            raise ApiError.invalid_argument(f"Invalid filter term {source!r}: unterminated string.")
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    if any(char.isspace() or char == '"' for char in value):
        raise ApiError.invalid_argument(f"Invalid filter term {source!r}: quote values that contain spaces.")
    return value


def _comparison(term: str) -> Comparison:
    match = _COMPARISON.match(term.strip())
    if not match:
        raise ApiError.invalid_argument(f"Invalid filter term {term.strip()!r}: expected FIELD=VALUE.")
    raw_field, op, raw_value = match.group("field"), match.group("op"), match.group("value")
    value = _unquote(raw_value, term.strip())
    if raw_field.startswith("labels."):
        if len(raw_field) == len("labels."):
            raise ApiError.invalid_argument(f"Invalid filter term {term.strip()!r}: missing label key.")
        return Comparison(raw_field, op, value)
    field = _FIELD_ALIASES.get(raw_field)
    if field is None:
        raise ApiError.invalid_argument(
            f"Unsupported filter field {raw_field!r}: use labels.KEY, state, base_model or tuned_model_display_name."
        )
    if op == ":":
        raise ApiError.invalid_argument(f"Invalid filter term {term.strip()!r}: ':' is only supported for labels.")
    if field == "state":
        try:
            value = JOB_STATE.parse(value, "filter.state")
        except WireValueError:
            raise ApiError.invalid_argument(f"Invalid filter term {term.strip()!r}: unknown job state {value!r}.") from None
    return Comparison(field, op, value)


def parse_filter(text: str | None) -> Callable[[JobRecord], bool]:
    """A predicate for ListTuningJobs' ``filter``; an empty filter matches every job."""
    if text is None or not text.strip():
        return JobFilter()
    terms = _split_and(text)
    if any(not term.strip() for term in terms):
        raise ApiError.invalid_argument(f"Invalid filter {text!r}: empty term around AND.")
    return JobFilter(tuple(_comparison(term) for term in terms))
