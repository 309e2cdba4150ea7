"""Vertex AI wire shapes: enum name<->number maps, int64 and time formats, camelCase JSON.

Two official clients talk to the twin and disagree on the details of proto3 JSON:

* ``google-cloud-aiplatform`` (``aiplatform_v1``, REST transport) sends enums as numbers and
  int64 as strings (``"adapterSize": 2``, ``"epochCount": "3"``) and reads either form back.
* ``google-genai`` sends enum NAMES and int64 as JSON numbers, and its response parser needs enum
  NAMES (a number in a response fails its pydantic model).

So the twin accepts both forms on the way in and always answers with enum names and int64 as
strings (the canonical proto3 JSON form, which both clients parse).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ADAPTER_SIZE",
    "ADAPTER_SIZE_RANK",
    "JOB_STATE",
    "TERMINAL_STATES",
    "TUNING_MODE",
    "WireEnum",
    "WireValueError",
    "format_time",
    "parse_bool",
    "parse_double",
    "parse_int64",
    "parse_time",
    "snake_to_camel",
    "utc_now",
]


class WireValueError(ValueError):
    """A JSON value does not have the proto3 JSON type its field needs.

    ``field`` is the proto field path (``tuning_job.supervised_tuning_spec...``) and
    ``type_name`` the proto type, so the message can read like Vertex's JSON parser errors.
    """

    def __init__(self, field: str, type_name: str, value: Any) -> None:
        self.field = field
        self.type_name = type_name
        self.value = value
        super().__init__(f"Invalid value at '{field}' ({type_name}), {_show(value)}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class WireEnum:
    """One proto enum: its names and numbers, accepted in either form, rendered as names."""

    def __init__(self, type_name: str, values: Mapping[str, int]) -> None:
        self.type_name = type_name
        self.by_name: dict[str, int] = dict(values)
        self.by_number: dict[int, str] = {number: name for name, number in values.items()}
        self.unspecified: str = next(name for name, number in values.items() if number == 0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.by_name)

    def parse(self, value: Any, field: str) -> str:
        """The enum NAME for a wire value: a name (any case) or its number (int or digit string)."""
        if isinstance(value, bool):
            raise WireValueError(field, self.type_name, value)
        if isinstance(value, int):
            if value in self.by_number:
                return self.by_number[value]
            raise WireValueError(field, self.type_name, value)
        if isinstance(value, str):
            upper = value.strip().upper()
            if upper in self.by_name:
                return upper
            if re.fullmatch(r"-?\d+", upper) and int(upper) in self.by_number:
                return self.by_number[int(upper)]
        raise WireValueError(field, self.type_name, value)

    def number(self, name: str) -> int:
        return self.by_name[name]


ADAPTER_SIZE = WireEnum(
    "type.googleapis.com/google.cloud.aiplatform.v1.SupervisedHyperParameters.AdapterSize",
    {
        "ADAPTER_SIZE_UNSPECIFIED": 0,
        "ADAPTER_SIZE_ONE": 1,
        "ADAPTER_SIZE_FOUR": 2,
        "ADAPTER_SIZE_EIGHT": 3,
        "ADAPTER_SIZE_SIXTEEN": 4,
        "ADAPTER_SIZE_THIRTY_TWO": 5,
        "ADAPTER_SIZE_TWO": 6,
    },
)

ADAPTER_SIZE_RANK: dict[str, int] = {
    "ADAPTER_SIZE_ONE": 1,
    "ADAPTER_SIZE_TWO": 2,
    "ADAPTER_SIZE_FOUR": 4,
    "ADAPTER_SIZE_EIGHT": 8,
    "ADAPTER_SIZE_SIXTEEN": 16,
    "ADAPTER_SIZE_THIRTY_TWO": 32,
}
"""LoRA rank for each adapter size (the number in the name); UNSPECIFIED is resolved by the caller."""

RANK_ADAPTER_SIZE: dict[int, str] = {rank: name for name, rank in ADAPTER_SIZE_RANK.items()}

JOB_STATE = WireEnum(
    "type.googleapis.com/google.cloud.aiplatform.v1.JobState",
    {
        "JOB_STATE_UNSPECIFIED": 0,
        "JOB_STATE_QUEUED": 1,
        "JOB_STATE_PENDING": 2,
        "JOB_STATE_RUNNING": 3,
        "JOB_STATE_SUCCEEDED": 4,
        "JOB_STATE_FAILED": 5,
        "JOB_STATE_CANCELLING": 6,
        "JOB_STATE_CANCELLED": 7,
        "JOB_STATE_PAUSED": 8,
        "JOB_STATE_EXPIRED": 9,
        "JOB_STATE_UPDATING": 10,
        "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
    },
)

TERMINAL_STATES: frozenset[str] = frozenset(
    {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
)

TUNING_MODE = WireEnum(
    "type.googleapis.com/google.cloud.aiplatform.v1beta1.SupervisedTuningSpec.TuningMode",
    {"TUNING_MODE_UNSPECIFIED": 0, "TUNING_MODE_FULL": 1, "TUNING_MODE_PEFT_ADAPTER": 2},
)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def parse_int64(value: Any, field: str) -> int:
    """An int64 from proto3 JSON: a JSON number without a fraction, or a decimal string."""
    if isinstance(value, bool):
        raise WireValueError(field, "TYPE_INT64", value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        number = int(value)
    else:
        raise WireValueError(field, "TYPE_INT64", value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise WireValueError(field, "TYPE_INT64", value)
    return number


def parse_double(value: Any, field: str) -> float:
    """A double from proto3 JSON: a number, a numeric string, or "NaN"/"Infinity"/"-Infinity"."""
    if isinstance(value, bool):
        raise WireValueError(field, "TYPE_DOUBLE", value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise WireValueError(field, "TYPE_DOUBLE", value)


def parse_bool(value: Any, field: str) -> bool:
    """A bool from proto3 JSON (true/false only)."""
    if isinstance(value, bool):
        return value
    raise WireValueError(field, "TYPE_BOOL", value)


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def format_time(moment: _dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and microseconds, as Vertex writes timestamps."""
    if moment.tzinfo is None:
        raise ValueError("format_time needs an aware datetime")
    utc = moment.astimezone(_dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}Z"


def parse_time(text: str) -> _dt.datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset; up to nanoseconds) into aware UTC."""
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})", text.strip()
    )
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    date, clock, fraction, zone = match.groups()
    micros = (fraction or "0").ljust(6, "0")[:6]
    offset = "+00:00" if zone in ("Z", "z") else zone
    parsed = _dt.datetime.fromisoformat(f"{date}T{clock}.{micros}{offset}")
    return parsed.astimezone(_dt.timezone.utc)


def snake_to_camel(name: str) -> str:
    """``billable_sum`` -> ``billableSum`` (the proto3 JSON field name rule)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
