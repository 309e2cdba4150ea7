"""Start the tuning twin as a managed child process (as ``infra.emulators`` does for emulators).

``start_twin`` runs ``python -m infra.twin.server`` on a free loopback port in its own process
group, waits (bounded) until ``GET /healthz`` answers, and returns a :class:`TwinServer` with
its ``url``, the ``env`` that points tunewire at it, and ``stop()``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from infra.processes import ComponentFailedError, ManagedProcess, free_loopback_port, http_ok

__all__ = ["ComponentFailedError", "TWIN_START_TIMEOUT_S", "TwinServer", "start_twin"]

TWIN_START_TIMEOUT_S = 30.0
_HOST = "127.0.0.1"
_PROBE_TIMEOUT_S = 1.0
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class TwinServer:
    """A running tuning twin."""

    process: ManagedProcess
    url: str  # "http://127.0.0.1:PORT"
    port: int
    data_dir: Path
    startup_s: float

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point tunewire's Vertex calls at this twin."""
        return {"TUNEWIRE_VERTEX_ENDPOINT": self.url}

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the twin's process group (running jobs stay RUNNING and resume on the next start)."""
        self.process.stop(timeout_s)


def start_twin(
    run_dir: Path,
    *,
    data_dir: Path,
    local_model: str = "tiny",
    max_concurrent_jobs: int = 1,
    quota_mode: str = "queue",
    engine: str = "torch",
    fake_step_seconds: float | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = TWIN_START_TIMEOUT_S,
) -> TwinServer:
    """Start the twin on ``port`` (a free one by default); its log is ``run_dir/tuning-twin.log``.

    ``engine="fake"`` selects the deterministic test engine (tests only). ``env`` entries are
    layered over this process's environment (e.g. ``STORAGE_EMULATOR_HOST``).
    """
    port = port or free_loopback_port()
    argv = [
        sys.executable, "-m", "infra.twin.server",
        "--host", _HOST,
        "--port", str(port),
        "--data-dir", str(Path(data_dir).resolve()),
        "--local-model", local_model,
        "--max-concurrent-jobs", str(max_concurrent_jobs),
        "--quota-mode", quota_mode,
        "--engine", engine,
    ]  # fmt: skip
    if fake_step_seconds is not None:
        argv += ["--fake-step-seconds", str(fake_step_seconds)]
    process = ManagedProcess(
        name="tuning-twin",
        argv=argv,
        log_path=Path(run_dir) / "tuning-twin.log",
        env={"PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=_REPO_ROOT,
    )
    url = f"http://{_HOST}:{port}"
    process.start()
    try:
        startup_s = process.wait_healthy(lambda: http_ok(f"{url}/healthz", _PROBE_TIMEOUT_S), timeout_s)
    except BaseException:
        process.stop()
        raise
    return TwinServer(process=process, url=url, port=port, data_dir=Path(data_dir), startup_s=startup_s)
