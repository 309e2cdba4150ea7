"""Load the training engine lazily, once, when the first job runs or the first request generates.

The server imports nothing heavy at start: ``torch`` comes in with ``infra.twin.trainer`` only
here, so ``/healthz`` answers within a second of the process starting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from infra.twin.config import TwinConfig
from infra.twin.engine import TrainingEngine

__all__ = ["EngineHolder"]


class EngineHolder:
    """One engine instance per server, built on first use from the config."""

    def __init__(self, config: TwinConfig) -> None:
        self._config = config
        self._engine: TrainingEngine | None = None
        self._lock = threading.Lock()

    def _factory(self) -> Callable[[], TrainingEngine]:
        config = self._config
        if config.engine_factory is not None:
            return config.engine_factory
        if config.engine == "fake":
            from infra.twin.fake_engine import FakeTrainingEngine

            return lambda: FakeTrainingEngine(step_seconds=config.fake_step_seconds)
        from infra.twin.trainer import TorchTrainingEngine  # imports torch

        return TorchTrainingEngine

    def get(self) -> TrainingEngine:
        with self._lock:
            if self._engine is None:
                self._engine = self._factory()()
            return self._engine
