"""Process management for the local stack: start, probe and stop child processes.

Every component (an emulator, a fake server) runs as a :class:`ManagedProcess` in its
own session, so it leads its own process group. Stopping signals the whole group:
the Google emulators are shell/launcher wrappers around a ``java`` child, and killing
only the wrapper's PID would leave the JVM running.

All waits are bounded; a component that dies or never gets healthy raises
:class:`ComponentFailedError` with its exit code and the tail of its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = [
    "ComponentFailedError",
    "ManagedProcess",
    "free_loopback_port",
    "http_ok",
]

_LOG_TAIL_LINES = 20
_POLL_INTERVAL_S = 0.1
_KILL_WAIT_S = 5.0
_REAP_WAIT_S = 3.0


class ComponentFailedError(RuntimeError):
    """A managed component exited early or did not become healthy in time."""

    def __init__(self, component: str, reason: str, exit_code: int | None, log_tail: str) -> None:
        self.component = component
        self.reason = reason
        self.exit_code = exit_code
        self.log_tail = log_tail
        code = "still running" if exit_code is None else f"exit code {exit_code}"
        super().__init__(
            f"component {component!r} failed: {reason} ({code}); last log lines:\n{log_tail or '<empty log>'}"
        )


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_ok(url: str, timeout_s: float = 1.0, method: str = "GET") -> bool:
    """Return True when ``url`` answers with a 2xx status within ``timeout_s``; never raises."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status: int = response.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """One child process in its own process group, logging to ``log_path``.

    ``env`` entries are layered over the parent's environment at start.
    """

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    pid: int | None = field(default=None, init=False)
    pgid: int | None = field(default=None, init=False)
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)
    _stopped: bool = field(default=False, init=False, repr=False)

    def start(self) -> ManagedProcess:
        """Start the process in a new session; stdout and stderr go to ``log_path``."""
        if self._popen is not None:
            raise RuntimeError(f"component {self.name!r} already started (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        try:
            self._popen = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise ComponentFailedError(self.name, f"could not start {self.argv[0]!r}: {exc}", None, "") from exc
        self.pid = self._popen.pid
        self.pgid = self._popen.pid  # start_new_session: the child leads its own group
        return self

    def exit_code(self) -> int | None:
        """The leader's exit code, or None while it runs (or before start)."""
        return None if self._popen is None else self._popen.poll()

    def is_running(self) -> bool:
        """True while the group leader has been started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of this component's log."""
        return _tail(self.log_path, lines)

    def fail(self, reason: str) -> ComponentFailedError:
        """Build a :class:`ComponentFailedError` for this component with its log tail."""
        return ComponentFailedError(self.name, reason, self.exit_code(), self.log_tail())

    def wait_healthy(self, probe: Callable[[], bool], timeout_s: float) -> float:
        """Poll ``probe`` until it returns True; return the seconds waited.

        Raises :class:`ComponentFailedError` if the process exits first or ``timeout_s``
        passes. The process is left as it is: the caller decides whether to stop it.
        """
        if self._popen is None:
            raise RuntimeError(f"component {self.name!r} was never started")
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            if self._popen.poll() is not None:
                raise self.fail("exited before it became healthy")
            if probe():
                return time.monotonic() - started
            if time.monotonic() >= deadline:
                raise self.fail(f"not healthy after {timeout_s:.1f}s")
            time.sleep(_POLL_INTERVAL_S)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, bounded wait, then SIGKILL.

        Idempotent, and tolerant of a group that is already gone. Returns once no
        member of the group is running; it then waits briefly (bounded) for the
        orphaned members' zombies to be reaped by init so the group disappears.
        """
        if self._popen is None or self.pgid is None or self._stopped:
            self._close_log()
            return
        pgid = self.pgid
        _signal_group(pgid, signal.SIGTERM)
        if not self._wait_group(pgid, timeout_s, running_only=True):
            _signal_group(pgid, signal.SIGKILL)
            self._wait_group(pgid, _KILL_WAIT_S, running_only=True)
        try:
            self._popen.wait(timeout=_KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            pass
        self._wait_group(pgid, _REAP_WAIT_S, running_only=False)
        self._stopped = True
        self._close_log()

    def _wait_group(self, pgid: int, timeout_s: float, *, running_only: bool) -> bool:
        """Wait until group ``pgid`` has no (running) member; True if that happened in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._popen is not None:
                self._popen.poll()  # reap our own child, the group leader
            alive = group_running(pgid) if running_only else group_exists(pgid)
            if not alive:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_INTERVAL_S)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to a process group, ignoring a group that no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def group_exists(pgid: int) -> bool:
    """True while any process, zombies included, is still in group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_running(pgid: int) -> bool:
    """True while a non-zombie process is in group ``pgid``.

    Orphaned members are reaped by init, which may take a moment; a zombie holds no
    resources, so it does not count as running. Without ``/proc`` this falls back to
    :func:`group_exists`.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return group_exists(pgid)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Format: "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False
