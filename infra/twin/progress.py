"""The twin's per-job progress log (``progress.jsonl``) and the ``:metrics`` extension's answer.

The REST layer writes this log itself from the engine's observer callbacks (one JSON object per
line: ``step``, ``checkpoint`` and ``resume`` events), so the extension does not depend on the
format of whatever files the engine keeps in ``output/``. When training resumes from a
checkpoint, step events after that checkpoint are dropped first, so the log reads as one run.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from infra.twin.engine import StepMetrics

__all__ = ["ProgressLog", "metrics_response"]


class ProgressLog:
    """Append-only JSONL of training progress for one job (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)

    def step(self, metrics: StepMetrics) -> None:
        self._append(
            {
                "type": "step",
                "step": metrics.step,
                "epoch": metrics.epoch,
                "loss": metrics.loss,
                "learningRate": metrics.learning_rate,
                "tokens": metrics.tokens,
            }
        )

    def checkpoint(self, checkpoint_id: str, epoch: int, step: int, validation_loss: float | None) -> None:
        self._append(
            {"type": "checkpoint", "checkpointId": checkpoint_id, "epoch": epoch, "step": step, "validationLoss": validation_loss}
        )

    def resume(self, checkpoint_id: str | None, step: int) -> None:
        """Record a (re)start after a twin restart; drop events past ``step`` (lost work)."""
        with self._lock:
            kept = [event for event in self.read() if event.get("type") == "resume" or int(event.get("step", 0)) <= step]
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in kept), encoding="utf-8")
            os.replace(tmp, self.path)
        self._append({"type": "resume", "fromCheckpointId": checkpoint_id, "step": step})

    def read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        events = []
        for line in text.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a crash
        return events


def metrics_response(events: list[dict[str, Any]], *, local_base: str, state: str) -> dict[str, Any]:
    """The ``:metrics`` extension body built from a job's progress events."""
    steps = [{key: event[key] for key in ("step", "epoch", "loss", "learningRate", "tokens")} for event in events if event.get("type") == "step"]
    checkpoints = [event for event in events if event.get("type") == "checkpoint"]
    validation = [
        {"epoch": event["epoch"], "step": event["step"], "validationLoss": event["validationLoss"]}
        for event in checkpoints
        if event.get("validationLoss") is not None
    ]
    return {
        "steps": steps,
        "validation": validation,
        "checkpoints": [{k: event[k] for k in ("checkpointId", "epoch", "step")} for event in checkpoints],
        "resumes": [{"fromCheckpointId": e.get("fromCheckpointId"), "step": e.get("step", 0)} for e in events if e.get("type") == "resume"],
        "localBaseModel": local_base,
        "state": state,
    }
