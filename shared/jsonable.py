"""JSON-ready copies of Firestore documents and payloads: one rule for datetimes and the rest."""

from __future__ import annotations

import datetime as _dt
import enum
import math
from collections.abc import Mapping
from typing import Any


def rfc3339(moment: _dt.datetime) -> str:
    """UTC, with a `Z` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """A JSON-ready copy: datetimes as RFC 3339, enums as their value, tuples and sets as lists,
    NaN and infinities as None, bytes as text, other unknown objects as their str()."""
    if isinstance(value, enum.Enum):  # before str: JobState is a str enum
        return plain(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, _dt.datetime):
        return rfc3339(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
