"""The twin's torch training engine on the tiny random Gemma 3 (real tokenizer, real 262k vocabulary).

The tiny model learns formats, not labels, so these tests check the engine's behaviour (steps,
checkpoints, metrics, cancel, resume, generation, failure before training) rather than accuracy;
``tests/e2e/test_twin_gemma_270m.py`` checks accuracy on the real Gemma 3 270M.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from infra.twin.engine import (
    Checkpoint,
    DataStats,
    GenerationRequest,
    LocalBase,
    StepMetrics,
    TrainingCancelled,
    TrainingFailed,
    TrainingMode,
    TrainingSpec,
)
from infra.twin.gemma_format import IGNORE_INDEX, format_prompt, prepare_file
from infra.twin.trainer import TorchTrainingEngine, _sparse_tied_embedding_gradient, collate, labelled_positions_loss

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SENTIMENT = REPO_ROOT / "examples" / "sentiment"
TINY_LR_MULTIPLIER = 50.0  # a random 64-wide model needs a big step to move within 8 steps


@dataclass
class RecordingObserver:
    """Records every callback; cancels once ``cancel_after_steps`` steps have run."""

    cancel_after_steps: int | None = None
    stats: list[DataStats] = field(default_factory=list)
    steps: list[StepMetrics] = field(default_factory=list)
    checkpoints: list[tuple[Checkpoint, float | None]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def on_data_stats(self, stats: DataStats) -> None:
        self.stats.append(stats)
        self.events.append("stats")

    def on_step(self, metrics: StepMetrics) -> None:
        self.steps.append(metrics)
        self.events.append("step")

    def on_checkpoint(self, checkpoint: Checkpoint, validation_loss: float | None) -> None:
        self.checkpoints.append((checkpoint, validation_loss))
        self.events.append("checkpoint")

    def should_cancel(self) -> bool:
        return self.cancel_after_steps is not None and len(self.steps) >= self.cancel_after_steps


def _lines(path: Path, count: int, skip: int = 0) -> str:
    return "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[skip : skip + count])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("twin-data")
    (folder / "train.jsonl").write_text(_lines(SENTIMENT / "train.jsonl", 16), encoding="utf-8")
    (folder / "validation.jsonl").write_text(_lines(SENTIMENT / "validation.jsonl", 4), encoding="utf-8")
    return folder


def make_spec(data_dir: Path, output_dir: Path, **overrides: object) -> TrainingSpec:
    spec = TrainingSpec(
        job_id="test-job",
        base=LocalBase.TINY,
        mode=TrainingMode.ADAPTER,
        training_file=data_dir / "train.jsonl",
        validation_file=data_dir / "validation.jsonl",
        output_dir=output_dir,
        epochs=2,
        learning_rate_multiplier=TINY_LR_MULTIPLIER,
        lora_rank=4,
        batch_size=4,
        max_seq_len=128,
    )
    return replace(spec, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engine() -> TorchTrainingEngine:
    return TorchTrainingEngine()


@pytest.fixture(scope="module")
def lora_run(engine: TorchTrainingEngine, data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One 2-epoch LoRA run shared by several tests: (spec, observer, result)."""
    spec = make_spec(data_dir, tmp_path_factory.mktemp("lora-run"))
    observer = RecordingObserver()
    result = engine.train(spec, observer)
    return spec, observer, result


def read_metrics(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_lora_run_writes_checkpoints_metrics_and_learns(lora_run) -> None:
    spec, observer, result = lora_run
    assert observer.events[0] == "stats" and observer.events.count("stats") == 1
    assert observer.stats[0].example_count == 16 and observer.stats[0].tuning_step_count == 8
    assert [step.step for step in observer.steps] == list(range(1, 9))
    assert [step.epoch for step in observer.steps] == [1] * 4 + [2] * 4
    assert all(step.tokens > 0 for step in observer.steps)

    assert [checkpoint.checkpoint_id for checkpoint in result.checkpoints] == ["1", "2"]
    assert [(c.epoch, c.step) for c, _ in observer.checkpoints] == [(1, 4), (2, 8)]
    assert all(loss is not None for _, loss in observer.checkpoints)
    for checkpoint in result.checkpoints:
        assert checkpoint.path == spec.output_dir / "checkpoints" / checkpoint.checkpoint_id
        names = {path.name for path in checkpoint.path.iterdir()}
        assert {"adapter_model.safetensors", "adapter_config.json", "GEMMA_TERMS.html", "trainer_state.json"} <= names
        state = json.loads((checkpoint.path / "trainer_state.json").read_text())
        assert (state["epoch"], state["step"]) == (checkpoint.epoch, checkpoint.step)

    metrics = read_metrics(spec.output_dir)
    steps = [line for line in metrics if "step" in line]
    validations = [line for line in metrics if "validation_loss" in line]
    assert len(steps) == 8 and [line["epoch"] for line in validations] == [1, 2]
    assert set(steps[0]) == {"step", "epoch", "loss", "learning_rate", "tokens", "time"}
    last_epoch = [line["loss"] for line in steps if line["epoch"] == 2]
    assert sum(last_epoch) / len(last_epoch) < steps[0]["loss"]
    assert validations[1]["validation_loss"] < validations[0]["validation_loss"]
    assert result.final_loss == pytest.approx(sum(last_epoch) / len(last_epoch))
    assert json.loads((spec.output_dir / "data_stats.json").read_text())["example_count"] == 16


def test_generate_from_checkpoint_and_base(engine: TorchTrainingEngine, lora_run) -> None:
    _spec, _observer, result = lora_run
    row = json.loads(_lines(SENTIMENT / "heldout.jsonl", 1))
    request = GenerationRequest(contents=row["contents"][:1], system_instruction=row["systemInstruction"], max_output_tokens=12)
    tuned = engine.generate(result.checkpoints[-1].path, LocalBase.TINY, request)
    assert tuned.text and tuned.finish_reason in ("STOP", "MAX_TOKENS")
    assert tuned.prompt_token_count == len(format_prompt(request.contents, request.system_instruction))
    assert 0 < tuned.candidates_token_count <= 12
    assert (tuned.finish_reason == "MAX_TOKENS") == (tuned.candidates_token_count == 12)

    base = engine.generate(None, LocalBase.TINY, request)
    assert base.text != tuned.text  # the adapter changed the answer
    sampled = replace(request, temperature=1.0)
    assert engine.generate(None, LocalBase.TINY, sampled) == engine.generate(None, LocalBase.TINY, sampled)


def test_resume_continues_at_the_next_epoch(engine: TorchTrainingEngine, lora_run, data_dir: Path, tmp_path: Path) -> None:
    _spec, full_observer, _result = lora_run
    first = engine.train(make_spec(data_dir, tmp_path, epochs=1), RecordingObserver())
    assert [c.epoch for c in first.checkpoints] == [1]

    observer = RecordingObserver()
    resumed = engine.train(make_spec(data_dir, tmp_path, epochs=2), observer, resume_from=first.checkpoints[0])
    assert [(step.step, step.epoch) for step in observer.steps] == [(5, 2), (6, 2), (7, 2), (8, 2)]
    assert [c.epoch for c in resumed.checkpoints] == [1, 2]
    # same weights, optimizer state and batch order: epoch 2 matches the uninterrupted run
    uninterrupted = [step.loss for step in full_observer.steps if step.epoch == 2]
    assert [step.loss for step in observer.steps] == pytest.approx(uninterrupted, rel=1e-4)
    assert [line["step"] for line in read_metrics(tmp_path) if "step" in line] == list(range(1, 9))


def test_export_last_checkpoint_only_keeps_one(engine: TorchTrainingEngine, data_dir: Path, tmp_path: Path) -> None:
    observer = RecordingObserver()
    result = engine.train(make_spec(data_dir, tmp_path, export_last_checkpoint_only=True, validation_file=None), observer)
    assert [c.checkpoint_id for c in result.checkpoints] == ["2"]
    assert sorted(path.name for path in (tmp_path / "checkpoints").iterdir()) == ["2"]
    assert [loss for _, loss in observer.checkpoints] == [None, None]


def test_full_fine_tuning(engine: TorchTrainingEngine, data_dir: Path, tmp_path: Path) -> None:
    observer = RecordingObserver()
    spec = make_spec(data_dir, tmp_path, mode=TrainingMode.FULL, epochs=1, learning_rate_multiplier=500.0)
    result = engine.train(spec, observer)
    (checkpoint,) = result.checkpoints
    names = {path.name for path in checkpoint.path.iterdir()}
    assert {"model.safetensors", "config.json", "GEMMA_TERMS.html", "trainer_state.json"} <= names
    assert "adapter_config.json" not in names
    assert observer.steps[-1].loss < observer.steps[0].loss
    answer = engine.generate(checkpoint.path, LocalBase.TINY, GenerationRequest(contents=[{"role": "user", "parts": [{"text": "Hi"}]}], max_output_tokens=4))
    assert answer.candidates_token_count <= 4


def test_cancel_stops_within_one_step(engine: TorchTrainingEngine, data_dir: Path, tmp_path: Path) -> None:
    observer = RecordingObserver(cancel_after_steps=3)
    with pytest.raises(TrainingCancelled):
        engine.train(make_spec(data_dir, tmp_path), observer)
    assert len(observer.steps) == 3
    assert observer.checkpoints == []


def test_too_many_dropped_examples_fail_before_any_step(engine: TorchTrainingEngine, data_dir: Path, tmp_path: Path) -> None:
    media_only = {
        "contents": [
            {"role": "user", "parts": [{"text": "What is in the picture?"}]},
            {"role": "model", "parts": [{"fileData": {"fileUri": "gs://bucket/cat.png", "mimeType": "image/png"}}]},
        ]
    }
    training = tmp_path / "train.jsonl"
    training.write_text(_lines(SENTIMENT / "train.jsonl", 8) + (json.dumps(media_only) + "\n") * 2, encoding="utf-8")
    observer = RecordingObserver()
    with pytest.raises(TrainingFailed, match="2 of 10 training examples were dropped"):
        engine.train(make_spec(data_dir, tmp_path / "out", training_file=training), observer)
    assert observer.steps == [] and observer.events == ["stats"]
    assert observer.stats[0].dropped_example_count == 2
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_missing_dataset_file_fails(engine: TorchTrainingEngine, data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingFailed, match="not found"):
        engine.train(make_spec(data_dir, tmp_path, validation_file=tmp_path / "absent.jsonl"), RecordingObserver())


def test_nothing_trainable_fails(engine: TorchTrainingEngine, data_dir: Path, tmp_path: Path) -> None:
    training = tmp_path / "train.jsonl"
    training.write_text("", encoding="utf-8")
    with pytest.raises(TrainingFailed, match="no trainable example"):
        engine.train(make_spec(data_dir, tmp_path / "out", training_file=training), RecordingObserver())


def test_labelled_positions_loss_equals_full_logits_loss(data_dir: Path) -> None:
    import torch

    from infra.twin.base_models import load_base_model
    from shared.tokens import load_tokenizer

    model, _info = load_base_model(LocalBase.TINY)
    examples = prepare_file(data_dir / "train.jsonl", load_tokenizer(), max_seq_len=128).examples
    # different lengths, so the batch is padded
    batch = collate(sorted(examples, key=lambda example: len(example.input_ids))[::5][:4])
    assert not bool(batch.attention_mask.all())
    assert int((batch.labels != IGNORE_INDEX).sum()) < batch.tokens

    fast = labelled_positions_loss(model, batch)
    fast.backward()
    fast_grads = [parameter.grad.clone() for parameter in model.parameters()]
    model.zero_grad()
    plain = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss
    plain.backward()
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    for fast_grad, parameter in zip(fast_grads, model.parameters()):
        torch.testing.assert_close(fast_grad, parameter.grad, rtol=1e-4, atol=1e-6)

    # full fine-tuning's sparse tied-embedding gradient: same (dense) gradient, less memory
    model.zero_grad()
    _sparse_tied_embedding_gradient(model)
    assert model.model.embed_tokens.sparse
    labelled_positions_loss(model, batch).backward()
    assert not model.model.embed_tokens.weight.grad.is_sparse
    for fast_grad, parameter in zip(fast_grads, model.parameters()):
        torch.testing.assert_close(fast_grad, parameter.grad, rtol=1e-4, atol=1e-6)
