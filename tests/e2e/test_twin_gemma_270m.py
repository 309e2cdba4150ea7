"""The real Gemma 3 270M learns the sentiment-to-JSON task with the engine's default LoRA settings.

Slow (minutes on a 2-core CPU): run with ``pytest -m slow tests/e2e/test_twin_gemma_270m.py``.
Trains on ``examples/sentiment/train.jsonl`` (280 examples) and scores exact match on the 40
held-out reviews, restricted to those the untuned base model gets wrong.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from infra.twin.engine import (
    Checkpoint,
    DataStats,
    GenerationRequest,
    LocalBase,
    StepMetrics,
    TrainingMode,
    TrainingSpec,
)
from infra.twin.trainer import TorchTrainingEngine

pytestmark = pytest.mark.slow

SENTIMENT = Path(__file__).resolve().parents[2] / "examples" / "sentiment"


class Observer:
    def __init__(self) -> None:
        self.steps: list[StepMetrics] = []
        self.validation_losses: list[float | None] = []

    def on_data_stats(self, stats: DataStats) -> None:
        assert stats.dropped_example_count == 0

    def on_step(self, metrics: StepMetrics) -> None:
        self.steps.append(metrics)

    def on_checkpoint(self, checkpoint: Checkpoint, validation_loss: float | None) -> None:
        self.validation_losses.append(validation_loss)

    def should_cancel(self) -> bool:
        return False


def exact_matches(engine: TorchTrainingEngine, checkpoint_path: Path | None, rows: list[dict]) -> list[bool]:
    matches = []
    for row in rows:
        request = GenerationRequest(contents=row["contents"][:1], system_instruction=row["systemInstruction"], max_output_tokens=16)
        answer = engine.generate(checkpoint_path, LocalBase.GEMMA_3_270M, request)
        matches.append(answer.text.strip() == row["contents"][1]["parts"][0]["text"])
    return matches


def test_default_lora_tuning_learns_the_sentiment_task(tmp_path: Path) -> None:
    engine = TorchTrainingEngine()
    rows = [json.loads(line) for line in (SENTIMENT / "heldout.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]

    base_matches = exact_matches(engine, None, rows)
    base_wrong = [index for index, match in enumerate(base_matches) if not match]
    assert len(base_wrong) >= 0.75 * len(rows), f"the base model already answers {sum(base_matches)} of {len(rows)}"

    spec = TrainingSpec(
        job_id="e2e-sentiment",
        base=LocalBase.GEMMA_3_270M,
        mode=TrainingMode.ADAPTER,
        training_file=SENTIMENT / "train.jsonl",
        validation_file=SENTIMENT / "validation.jsonl",
        output_dir=tmp_path,
    )  # every hyperparameter at its default
    observer = Observer()
    started = time.perf_counter()
    result = engine.train(spec, observer)
    train_seconds = time.perf_counter() - started

    tuned_matches = exact_matches(engine, result.checkpoints[-1].path, rows)
    score = sum(tuned_matches[index] for index in base_wrong) / len(base_wrong)
    print(
        f"\nsteps {len(observer.steps)}, train wall {train_seconds:.0f} s, validation losses {observer.validation_losses}, "
        f"base {sum(base_matches)}/{len(rows)}, tuned {sum(tuned_matches)}/{len(rows)}, "
        f"exact match on base-wrong {score:.0%} ({len(base_wrong)} examples)"
    )
    assert score >= 0.9
