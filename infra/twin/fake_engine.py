"""A deterministic fake training engine — FOR TESTS ONLY.

It implements :class:`infra.twin.engine.TrainingEngine` without torch so that tests of the REST
layer (jobs, quota, cancel, restart, both official clients) run in seconds. It trains nothing:

* ``train`` reads the training JSONL, drops examples without a user and a model text turn (and
  fails with TrainingFailed when more than ``spec.max_dropped_share`` are dropped), counts
  whitespace-separated words as tokens, then runs ``ceil(examples / batch_size)`` steps per
  epoch, sleeping ``step_seconds`` per step, with a loss that decays deterministically. It checks
  ``should_cancel`` before every step, writes ``output/checkpoints/checkpoint-<epoch>/`` after
  every epoch and continues after ``resume_from.step`` when resuming.
* ``generate`` answers with the model reply seen most often in the training data (remembered in
  the checkpoint folder), cut to ``max_output_tokens`` words; without a checkpoint it answers
  ``"(untuned <base>)"``.

The real engine is ``infra.twin.trainer.TorchTrainingEngine`` and is the twin's default; this one
is selected only with the hidden ``--engine fake`` option.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

from infra.twin.engine import (
    Checkpoint,
    DataStats,
    GenerationRequest,
    GenerationResult,
    LocalBase,
    StepMetrics,
    TrainingCancelled,
    TrainingFailed,
    TrainingObserver,
    TrainingResult,
    TrainingSpec,
)

__all__ = ["FakeTrainingEngine"]

_CHECKPOINT_FILE = "fake_checkpoint.json"
_BASE_LEARNING_RATE = 1e-4


def _texts(content: Any) -> list[str]:
    if not isinstance(content, dict):
        return []
    parts = content.get("parts")
    if not isinstance(parts, list):
        return []
    return [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]


def _words(texts: list[str]) -> int:
    return sum(len(text.split()) for text in texts)


def _distribution(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(share: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))])

    total = float(sum(ordered))
    return {
        "sum": total,
        "billable_sum": total,
        "min": float(ordered[0]),
        "max": float(ordered[-1]),
        "mean": total / len(ordered),
        "median": pick(0.5),
        "p5": pick(0.05),
        "p95": pick(0.95),
    }


class FakeTrainingEngine:
    """Deterministic stand-in for the torch engine (tests only); see the module docstring."""

    def __init__(self, step_seconds: float = 0.02) -> None:
        self.step_seconds = step_seconds

    def _read(self, spec: TrainingSpec) -> tuple[list[tuple[int, int, str]], list[str], int]:
        """(input tokens, output tokens, model reply) per kept example; drop reasons; line count."""
        kept: list[tuple[int, int, str]] = []
        reasons: list[str] = []
        lines = [line for line in spec.training_file.read_bytes().splitlines() if line.strip()]
        for number, line in enumerate(lines, start=1):
            try:
                example = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                reasons.append(f"line {number}: not valid UTF-8")
                continue
            except ValueError:
                reasons.append(f"line {number}: not valid JSON")
                continue
            contents = example.get("contents") if isinstance(example, dict) else None
            if not isinstance(contents, list):
                reasons.append(f"line {number}: no contents")
                continue
            user = [t for c in contents if isinstance(c, dict) and c.get("role") == "user" for t in _texts(c)]
            model = [t for c in contents if isinstance(c, dict) and c.get("role") == "model" for t in _texts(c)]
            if not user or not model:
                reasons.append(f"line {number}: needs a user and a model text turn")
                continue
            system = _texts(example.get("systemInstruction"))
            kept.append((_words(system + user), _words(model), model[-1]))
        return kept, reasons, len(lines)

    def train(
        self, spec: TrainingSpec, observer: TrainingObserver, *, resume_from: Checkpoint | None = None
    ) -> TrainingResult:
        kept, reasons, total_lines = self._read(spec)
        dropped = total_lines - len(kept)
        if total_lines == 0 or dropped / total_lines > spec.max_dropped_share:
            detail = "; ".join(reasons[:3])
            raise TrainingFailed(
                f"{dropped} of {total_lines} training examples were dropped, more than the "
                f"{spec.max_dropped_share:.0%} allowed: {detail or 'the dataset is empty'}"
            )
        steps_per_epoch = max(1, math.ceil(len(kept) / spec.batch_size))
        total_steps = steps_per_epoch * spec.epochs
        stats = DataStats(
            example_count=len(kept),
            total_billable_token_count=sum(i + o for i, o, _ in kept) * spec.epochs,
            tuning_step_count=total_steps,
            dropped_example_reasons=reasons,
            dropped_example_count=dropped,
            user_input_token_distribution=_distribution([i for i, _, _ in kept]),
            user_output_token_distribution=_distribution([o for _, o, _ in kept]),
        )
        observer.on_data_stats(stats)
        answer = Counter(reply for _, _, reply in kept).most_common(1)[0][0]
        has_validation = spec.validation_file is not None and spec.validation_file.exists()
        checkpoints_dir = spec.output_dir / "checkpoints"
        checkpoints = self._existing_checkpoints(checkpoints_dir, resume_from)
        tokens_per_step = max(1, stats.total_billable_token_count // total_steps)
        loss = float("nan")
        for step in range((resume_from.step if resume_from else 0) + 1, total_steps + 1):
            if observer.should_cancel():
                raise TrainingCancelled()
            if self.step_seconds > 0:
                time.sleep(self.step_seconds)
            epoch = (step - 1) // steps_per_epoch + 1
            progress = step / total_steps
            loss = 0.1 + 2.0 * math.exp(-3.0 * progress * spec.learning_rate_multiplier)
            learning_rate = _BASE_LEARNING_RATE * spec.learning_rate_multiplier * (1.0 - progress)
            observer.on_step(StepMetrics(step=step, epoch=epoch, loss=loss, learning_rate=learning_rate, tokens=tokens_per_step))
            if step % steps_per_epoch == 0:
                checkpoint = self._save(checkpoints_dir, spec, epoch, step, answer)
                checkpoints.append(checkpoint)
                observer.on_checkpoint(checkpoint, loss + 0.05 if has_validation else None)
        return TrainingResult(checkpoints=checkpoints, stats=stats, final_loss=loss)

    @staticmethod
    def _existing_checkpoints(folder: Path, resume_from: Checkpoint | None) -> list[Checkpoint]:
        if resume_from is None:
            return []
        found = []
        for meta_file in sorted(folder.glob(f"checkpoint-*/{_CHECKPOINT_FILE}")):
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            if meta["step"] <= resume_from.step:
                found.append(Checkpoint(str(meta["checkpoint_id"]), meta["epoch"], meta["step"], meta_file.parent))
        return sorted(found, key=lambda c: c.step)

    @staticmethod
    def _save(folder: Path, spec: TrainingSpec, epoch: int, step: int, answer: str) -> Checkpoint:
        path = folder / f"checkpoint-{epoch}"
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "checkpoint_id": str(epoch),
            "epoch": epoch,
            "step": step,
            "base": spec.base.value,
            "mode": spec.mode.value,
            "lora_rank": spec.lora_rank,
            "answer": answer,
        }
        (path / _CHECKPOINT_FILE).write_text(json.dumps(meta), encoding="utf-8")
        return Checkpoint(checkpoint_id=str(epoch), epoch=epoch, step=step, path=path)

    def generate(self, checkpoint_path: Path | None, base: LocalBase, request: GenerationRequest) -> GenerationResult:
        meta_file = checkpoint_path / _CHECKPOINT_FILE if checkpoint_path is not None else None
        if meta_file is not None and meta_file.exists():
            text = json.loads(meta_file.read_text(encoding="utf-8"))["answer"]
        else:
            text = f"(untuned {base.value})"
        words = text.split(" ")
        finish = "STOP"
        if len(words) > request.max_output_tokens:
            words, finish = words[: request.max_output_tokens], "MAX_TOKENS"
        prompt_texts = [t for content in request.contents for t in _texts(content)]
        prompt_texts += _texts(request.system_instruction)
        return GenerationResult(
            text=" ".join(words),
            finish_reason=finish,
            prompt_token_count=_words(prompt_texts),
            candidates_token_count=len(words),
        )
