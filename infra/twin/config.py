"""Configuration of one twin server process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from infra.twin.engine import LocalBase, TrainingEngine

__all__ = ["DEFAULT_PORT", "EngineName", "QuotaMode", "TwinConfig"]

DEFAULT_PORT = 8710

QuotaMode = Literal["queue", "error"]
"""``queue``: jobs beyond the quota wait in JOB_STATE_PENDING (FIFO), as Vertex queues them.
``error``: creating a job beyond the quota answers 429 RESOURCE_EXHAUSTED, as Vertex does when
a project's concurrent-tuning-jobs quota is exhausted."""

EngineName = Literal["torch", "fake"]
"""``torch``: the real training engine (infra.twin.trainer), the default.
``fake``: infra.twin.fake_engine, a deterministic engine for tests only."""


@dataclass(frozen=True)
class TwinConfig:
    """Everything a twin server needs. ``projects``/``locations`` of None accept any value."""

    data_dir: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    local_model: LocalBase = LocalBase.TINY
    max_concurrent_jobs: int = 1
    quota_mode: QuotaMode = "queue"
    projects: tuple[str, ...] | None = None
    locations: tuple[str, ...] | None = None
    engine: EngineName = "torch"
    fake_step_seconds: float = 0.02
    engine_factory: Callable[[], TrainingEngine] | None = None  # overrides `engine` (in-process tests)

    def __post_init__(self) -> None:
        if self.max_concurrent_jobs < 1:
            raise ValueError("max_concurrent_jobs must be at least 1")
        if self.quota_mode not in ("queue", "error"):
            raise ValueError(f"quota_mode must be 'queue' or 'error', not {self.quota_mode!r}")
        if self.engine not in ("torch", "fake"):
            raise ValueError(f"engine must be 'torch' or 'fake', not {self.engine!r}")
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "local_model", LocalBase(self.local_model))
