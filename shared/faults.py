"""Crash points: named places between two side effects where the reliability suite kills the process.

A crash between "Vertex job created" and "Firestore commit", or between "webhook POSTed" and
"delivery logged", is the case at-least-once handling must survive, and it cannot be hit by killing
a process from outside at the right microsecond. So the code names those places:

    faults.crash_point("launch.after_vertex_create")

and a test arms one by writing `{"launch.after_vertex_create": 1}` (the number of crashes wanted)
to the file named by `TUNEWIRE_CRASH_POINTS_FILE`. An armed point decrements its count under a
file lock and ends the process at once with `os._exit(CRASH_EXIT_CODE)`: no exception handler,
`finally` block or acknowledgement runs, as in a killed container.

Unset (every deployment), `crash_point` is one global read and a return.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import orjson

FILE_ENV = "TUNEWIRE_CRASH_POINTS_FILE"
CRASH_EXIT_CODE = 86

POINTS = (
    "validate.after_verdict_commit",
    "launch.after_vertex_create",
    "poll.after_transition_commit",
    "notify.after_post",
)
"""Every crash point in the code; arming another name is refused."""

_FILE = os.environ.get(FILE_ENV) or None


def crash_point(name: str) -> None:
    """End the process here if a test armed `name`; otherwise do nothing."""
    if _FILE is None:
        return
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    if _take(Path(_FILE), name):
        sys.stdout.write(orjson.dumps({"severity": "CRITICAL", "message": "crash point reached: exiting", "crash_point": name}).decode() + "\n")
        sys.stdout.flush()
        os._exit(CRASH_EXIT_CODE)


def arm(path: Path, name: str, times: int = 1) -> None:
    """Ask for `times` crashes at `name` in every process that reads `path` (tests only)."""
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}; known: {', '.join(POINTS)}")
    with _locked(path) as handle:
        armed = _read(handle)
        armed[name] = armed.get(name, 0) + times
        _write(handle, armed)


def remaining(path: Path, name: str) -> int:
    """How many armed crashes at `name` have not happened yet."""
    with _locked(path) as handle:
        return int(_read(handle).get(name, 0))


def _take(path: Path, name: str) -> bool:
    try:
        with _locked(path) as handle:
            armed = _read(handle)
            if armed.get(name, 0) <= 0:
                return False
            armed[name] -= 1
            _write(handle, armed)
            return True
    except OSError:
        return False


@contextmanager
def _locked(path: Path) -> Iterator[BinaryIO]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(handle: BinaryIO) -> dict[str, int]:
    handle.seek(0)
    raw = handle.read()
    return {str(k): int(v) for k, v in orjson.loads(raw).items()} if raw.strip() else {}


def _write(handle: BinaryIO, armed: dict[str, int]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(orjson.dumps(armed))
    handle.flush()
