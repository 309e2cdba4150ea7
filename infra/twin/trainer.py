"""The twin's real training engine: LoRA or full fine-tuning of a local Gemma 3 on the CPU.

:class:`TorchTrainingEngine` implements :class:`infra.twin.engine.TrainingEngine`.

One run of :meth:`TorchTrainingEngine.train`:

1. formats the training (and validation) JSONL with :mod:`infra.twin.gemma_format`, reports the
   Vertex-style data stats (``observer.on_data_stats``, and ``output_dir/data_stats.json``) and
   fails with :class:`TrainingFailed` when more than ``spec.max_dropped_share`` of the examples
   were dropped or nothing is left to train on, before any step;
2. loads the base model (:mod:`infra.twin.base_models`), wraps it in LoRA (rank
   ``spec.lora_rank``, alpha 2×rank, dropout 0, on every linear projection) or trains every weight;
3. per epoch: seeded length-grouped batches with dynamic padding, one AdamW step per batch,
   ``observer.should_cancel()`` checked before every step (so a cancel lands within one step),
   a line per step in ``output_dir/metrics.jsonl`` (``{"step", "epoch", "loss", "learning_rate",
   "tokens", "time"}``, ``time`` in Unix seconds, ``tokens`` the non-pad tokens of the step); at the
   epoch end the validation loss (with a validation file; a ``{"epoch", "validation_loss"}`` line),
   a checkpoint in ``output_dir/checkpoints/<epoch>/`` and ``observer.on_checkpoint``. With
   ``export_last_checkpoint_only`` the previous checkpoint folder is deleted once the next one is
   written (``on_checkpoint`` still fires every epoch; the result lists the survivor only).

The result lists the checkpoints on disk (earlier ones of a resumed run included) and
``final_loss``, the mean training loss of the last epoch. ``resume_from`` continues at the epoch
after the checkpoint's, with its step count; metric lines of later epochs (left by the
interrupted run) are removed from ``metrics.jsonl`` first.

The speed trick: the 262,144-token output layer dominates a small Gemma's step, and prompts are
mostly unlabelled. The loss runs the transformer body once, gathers the hidden states at the
positions whose next token is labelled and applies ``lm_head`` to those alone. It equals the
standard causal-LM loss over full logits (mean over labelled tokens); the tests check it.

Checkpoint folders hold what inference needs (LoRA: ``adapter_model.safetensors`` +
``adapter_config.json`` from peft; full: ``model.safetensors`` + ``config.json``), the Gemma
Terms of Use, ``tunewire_checkpoint.json`` (base, mode) and ``trainer_state.json`` (epoch, global
step, losses). LoRA checkpoints also keep ``optimizer.pt`` (AdamW moments, about twice the
adapter), so resuming is exact: same weights, optimizer state and batch order. Full checkpoints
skip the optimizer state (it would be twice the 1 GB model): resuming them restarts AdamW fresh
at the next epoch.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.twin.base_models import Progress, copy_gemma_terms, load_base_model, load_model_folder
from infra.twin.engine import (
    Checkpoint,
    GenerationRequest,
    GenerationResult,
    LocalBase,
    StepMetrics,
    TrainingCancelled,
    TrainingFailed,
    TrainingMode,
    TrainingObserver,
    TrainingResult,
    TrainingSpec,
)
from infra.twin.gemma_format import IGNORE_INDEX, PAD_ID, PreparedDataset, PreparedExample, default_tokenizer, prepare_file

__all__ = [
    "BASE_LEARNING_RATE",
    "LORA_TARGET_MODULES",
    "Batch",
    "TorchTrainingEngine",
    "collate",
    "labelled_positions_loss",
    "length_grouped_batches",
]

logger = logging.getLogger(__name__)

BASE_LEARNING_RATE: dict[TrainingMode, float] = {
    # LoRA (alpha = 2 x rank 4): one epoch of examples/sentiment (70 steps of 4) takes Gemma 3 270M
    # to 40/40 held-out exact match at 4e-4 (validation loss 0.0005); 2e-4 needs two epochs.
    TrainingMode.ADAPTER: 4e-4,
    # Full fine-tuning moves every weight, so it needs a far smaller step.
    TrainingMode.FULL: 2e-5,
}
"""Learning rate at ``learning_rate_multiplier == 1``; constant over the run (no warmup, no decay)."""

LORA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
WEIGHT_DECAY = 0.0
MAX_GRAD_NORM = 1.0
LENGTH_GROUP_BATCHES = 16  # batches per shuffled window that is sorted by length
EVAL_BATCH_SIZE = 8

CHECKPOINTS_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"
DATA_STATS_FILE = "data_stats.json"
TRAINER_STATE_FILE = "trainer_state.json"
CHECKPOINT_INFO_FILE = "tunewire_checkpoint.json"
OPTIMIZER_FILE = "optimizer.pt"


# ----------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Batch:
    """Padded tensors of one batch (right padding with ``<pad>``)."""

    input_ids: Any  # LongTensor [batch, length]
    attention_mask: Any  # LongTensor [batch, length], 1 on real tokens
    labels: Any  # LongTensor [batch, length], IGNORE_INDEX on unlabelled and pad positions
    tokens: int  # real (non-pad) tokens


def collate(examples: Sequence[PreparedExample]) -> Batch:
    """Pad a batch to its longest example (dynamic padding)."""
    import torch

    length = max(len(example.input_ids) for example in examples)
    input_ids = torch.full((len(examples), length), PAD_ID, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), length), dtype=torch.long)
    for row, example in enumerate(examples):
        size = len(example.input_ids)
        input_ids[row, :size] = torch.tensor(example.input_ids, dtype=torch.long)
        labels[row, :size] = torch.tensor(example.labels, dtype=torch.long)
        attention_mask[row, :size] = 1
    return Batch(input_ids, attention_mask, labels, int(attention_mask.sum()))


def length_grouped_batches(
    examples: Sequence[PreparedExample], batch_size: int, *, seed: int, epoch: int
) -> list[list[PreparedExample]]:
    """Seeded batches of similar lengths: shuffle, sort windows of 16 batches by length, shuffle batches.

    Depends only on ``(seed, epoch)``, so a resumed run sees the same order as an uninterrupted one.
    Every batch is full except possibly the last one of the epoch's last window.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    window = batch_size * LENGTH_GROUP_BATCHES
    batches: list[list[PreparedExample]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda index: len(examples[index].input_ids), reverse=True)
        batches += [[examples[index] for index in chunk[k : k + batch_size]] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


# -------------------------------------------------------------------------------- loss


def causal_lm_of(model: Any) -> Any:
    """The ``Gemma3ForCausalLM`` inside a peft wrapper (or the model itself)."""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def labelled_positions_loss(model: Any, batch: Batch, *, reduction: str = "mean") -> Any:
    """Causal-LM cross-entropy over labelled tokens, with ``lm_head`` applied at those positions only.

    Position ``p`` predicts token ``p + 1``; only positions whose next token is labelled reach the
    262k-vocabulary head. ``reduction="mean"`` equals ``model(..., labels=labels).loss``;
    ``"sum"`` gives the summed loss (for token-weighted validation means).
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    causal_lm = causal_lm_of(model)
    attention_mask = None if bool(batch.attention_mask.all()) else batch.attention_mask
    hidden = causal_lm.model(input_ids=batch.input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    targets = batch.labels[:, 1:]
    labelled = targets != IGNORE_INDEX
    logits = causal_lm.lm_head(hidden[:, :-1][labelled])
    softcap = getattr(causal_lm.config, "final_logit_softcapping", None)
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits.float(), targets[labelled], reduction=reduction)


# ------------------------------------------------------------------------------ engine


class TorchTrainingEngine:
    """The real training engine: torch on the CPU, one job per :meth:`train` call.

    ``progress`` receives human-readable status lines (model conversion, loading); they also go
    to ``logging``. ``num_threads`` sets torch's intra-op threads (default: torch's own choice).
    """

    def __init__(self, *, progress: Progress | None = None, num_threads: int | None = None) -> None:
        self._progress = progress
        self._num_threads = num_threads

    # ---------------------------------------------------------------------- train

    def train(
        self, spec: TrainingSpec, observer: TrainingObserver, *, resume_from: Checkpoint | None = None
    ) -> TrainingResult:
        """Train ``spec`` to completion (see the module docstring); resume after ``resume_from``'s epoch."""
        import torch

        if self._num_threads:
            torch.set_num_threads(self._num_threads)
        mode, base = TrainingMode(spec.mode), LocalBase(spec.base)
        output_dir = Path(spec.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        for name, path in (("training", spec.training_file), ("validation", spec.validation_file)):
            if path is not None and not Path(path).is_file():
                raise TrainingFailed(f"the {name} dataset file {Path(path).name} was not found")
        tokenizer = default_tokenizer()

        train_data = prepare_file(spec.training_file, tokenizer, max_seq_len=spec.max_seq_len)
        stats = train_data.data_stats(epochs=spec.epochs, batch_size=spec.batch_size)
        _write_json(output_dir / DATA_STATS_FILE, asdict(stats))
        observer.on_data_stats(stats)
        _check_trainable(train_data, spec)
        validation = (
            prepare_file(spec.validation_file, tokenizer, max_seq_len=spec.max_seq_len).examples
            if spec.validation_file is not None
            else []
        )

        start_epoch, global_step = 0, 0
        if resume_from is not None:
            start_epoch, global_step = resume_from.epoch, resume_from.step
            _truncate_metrics(output_dir / METRICS_FILE, start_epoch)
        if start_epoch >= spec.epochs:
            return TrainingResult(checkpoints=list_checkpoints(output_dir), stats=stats, final_loss=None)
        if observer.should_cancel():
            raise TrainingCancelled(f"job {spec.job_id} cancelled before training started")

        learning_rate = BASE_LEARNING_RATE[mode] * spec.learning_rate_multiplier
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model = self._trainable_model(spec, mode, base, resume_from)
        parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=WEIGHT_DECAY, **_fused_kwargs())
        if resume_from is not None and (Path(resume_from.path) / OPTIMIZER_FILE).is_file():
            optimizer.load_state_dict(torch.load(Path(resume_from.path) / OPTIMIZER_FILE, weights_only=True))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate

        final_loss: float | None = None
        with (output_dir / METRICS_FILE).open("a", encoding="utf-8") as metrics:
            for epoch in range(start_epoch + 1, spec.epochs + 1):
                model.train()
                epoch_losses: list[float] = []
                for examples in length_grouped_batches(train_data.examples, spec.batch_size, seed=spec.seed, epoch=epoch):
                    if observer.should_cancel():
                        raise TrainingCancelled(f"job {spec.job_id} cancelled at step {global_step + 1}")
                    batch = collate(examples)
                    loss = labelled_positions_loss(model, batch)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    global_step += 1
                    step_loss = float(loss.detach())
                    epoch_losses.append(step_loss)
                    _append_line(
                        metrics,
                        {"step": global_step, "epoch": epoch, "loss": step_loss, "learning_rate": learning_rate,
                         "tokens": batch.tokens, "time": round(time.time(), 3)},
                    )
                    observer.on_step(StepMetrics(global_step, epoch, step_loss, learning_rate, batch.tokens))
                validation_loss = evaluate_loss(model, validation) if validation else None
                if validation_loss is not None:
                    _append_line(metrics, {"epoch": epoch, "validation_loss": validation_loss})
                final_loss = sum(epoch_losses) / len(epoch_losses)
                checkpoint = self._save_checkpoint(
                    model, optimizer, spec, mode, base, epoch=epoch, step=global_step,
                    train_loss=final_loss, validation_loss=validation_loss,
                )
                observer.on_checkpoint(checkpoint, validation_loss)
        return TrainingResult(checkpoints=list_checkpoints(output_dir), stats=stats, final_loss=final_loss)

    def _trainable_model(
        self, spec: TrainingSpec, mode: TrainingMode, base: LocalBase, resume_from: Checkpoint | None
    ) -> Any:
        """The base model wrapped for ``mode``, with a resumed checkpoint's weights if given."""
        if mode is TrainingMode.FULL:
            if resume_from is not None:
                model = load_full_checkpoint(Path(resume_from.path))
            else:
                model, _info = load_base_model(base, self._progress)
            _sparse_tied_embedding_gradient(model)
            return model
        from peft import LoraConfig, PeftModel, get_peft_model

        model, _info = load_base_model(base, self._progress)
        if resume_from is not None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                return PeftModel.from_pretrained(model, str(resume_from.path), is_trainable=True)
        config = LoraConfig(
            r=spec.lora_rank,
            lora_alpha=2 * spec.lora_rank,
            lora_dropout=0.0,
            target_modules=list(LORA_TARGET_MODULES),
            bias="none",
            task_type="CAUSAL_LM",
        )
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(model, config)

    def _save_checkpoint(
        self, model: Any, optimizer: Any, spec: TrainingSpec, mode: TrainingMode, base: LocalBase, *,
        epoch: int, step: int, train_loss: float, validation_loss: float | None,
    ) -> Checkpoint:
        """Write ``checkpoints/<epoch>/`` atomically; drop older ones with ``export_last_checkpoint_only``."""
        import torch

        root = Path(spec.output_dir) / CHECKPOINTS_DIR
        root.mkdir(parents=True, exist_ok=True)
        target = root / str(epoch)
        staging = root / f".{epoch}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        if mode is TrainingMode.ADAPTER:
            model.save_pretrained(str(staging))
            torch.save(optimizer.state_dict(), staging / OPTIMIZER_FILE)
        else:
            model.save_pretrained(str(staging))
        copy_gemma_terms(staging)
        _write_json(staging / CHECKPOINT_INFO_FILE, {"base": base.value, "mode": mode.value, "job_id": spec.job_id})
        _write_json(
            staging / TRAINER_STATE_FILE,
            {"epoch": epoch, "step": step, "train_loss": train_loss, "validation_loss": validation_loss,
             "learning_rate": BASE_LEARNING_RATE[mode] * spec.learning_rate_multiplier, "seed": spec.seed,
             "optimizer_state": OPTIMIZER_FILE if mode is TrainingMode.ADAPTER else None},
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        if spec.export_last_checkpoint_only:
            for older in list_checkpoints(Path(spec.output_dir)):
                if older.epoch != epoch:
                    shutil.rmtree(older.path, ignore_errors=True)
        return Checkpoint(checkpoint_id=str(epoch), epoch=epoch, step=step, path=target)

    # ------------------------------------------------------------------- generate

    def generate(self, checkpoint_path: Path | None, base: LocalBase, request: GenerationRequest) -> GenerationResult:
        """Answer ``request`` with a checkpoint (or the untuned base when ``checkpoint_path`` is None)."""
        from infra.twin import serving

        return serving.generate(checkpoint_path, base, request, progress=self._progress)


# ----------------------------------------------------------------------------- helpers


def evaluate_loss(model: Any, examples: Sequence[PreparedExample]) -> float | None:
    """Token-weighted mean loss over labelled tokens of ``examples`` (no gradients)."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(examples), EVAL_BATCH_SIZE):
                batch = collate(examples[start : start + EVAL_BATCH_SIZE])
                total += float(labelled_positions_loss(model, batch, reduction="sum"))
                count += int((batch.labels[:, 1:] != IGNORE_INDEX).sum())
    finally:
        model.train(was_training)
    return total / count if count else None


def load_full_checkpoint(path: Path) -> Any:
    """A full fine-tuning checkpoint as a ``Gemma3ForCausalLM`` in ordinary (not mapped) memory."""
    return load_model_folder(Path(path))


def list_checkpoints(output_dir: Path) -> list[Checkpoint]:
    """The complete checkpoints under ``output_dir/checkpoints``, in epoch order."""
    root = Path(output_dir) / CHECKPOINTS_DIR
    found: list[Checkpoint] = []
    if not root.is_dir():
        return found
    for folder in root.iterdir():
        state_file = folder / TRAINER_STATE_FILE
        if not folder.name.isdigit() or not state_file.is_file():
            continue
        state = json.loads(state_file.read_text(encoding="utf-8"))
        found.append(Checkpoint(checkpoint_id=folder.name, epoch=int(state["epoch"]), step=int(state["step"]), path=folder))
    return sorted(found, key=lambda checkpoint: checkpoint.epoch)


def _sparse_tied_embedding_gradient(model: Any) -> None:
    """Let the input embedding send a sparse gradient when it shares its weight with ``lm_head``.

    The tied 262k x hidden weight gets a dense gradient from the output layer anyway; a dense
    embedding backward would allocate a second full-size (0.67 GB for Gemma 3 270M) zero tensor
    just to add a few rows into it. With ``sparse=True`` those rows are added in place. The
    gradient stays dense (the output layer's comes first in backward), so AdamW and clipping are
    unchanged. Untied embeddings are left alone (their gradient would stay sparse).
    """
    causal_lm = causal_lm_of(model)
    embedding = causal_lm.get_input_embeddings()
    if getattr(causal_lm, "lm_head", None) is not None and causal_lm.lm_head.weight is embedding.weight:
        embedding.sparse = True


def _check_trainable(data: PreparedDataset, spec: TrainingSpec) -> None:
    if data.total_count and data.dropped_share > spec.max_dropped_share:
        reasons = "; ".join(f"{reason} ({count})" for reason, count in data.dropped_reason_counts.items())
        raise TrainingFailed(
            f"{data.dropped_count} of {data.total_count} training examples were dropped "
            f"({data.dropped_share:.0%}, more than the {spec.max_dropped_share:.0%} allowed): {reasons}"
        )
    if not data.examples:
        raise TrainingFailed("the training dataset has no trainable example")


def _fused_kwargs() -> dict[str, bool]:
    """``fused=True`` for AdamW where this torch supports it on the CPU (one kernel per step)."""
    import inspect

    import torch

    return {"fused": True} if "fused" in inspect.signature(torch.optim.AdamW).parameters else {}


def _truncate_metrics(path: Path, last_epoch: int) -> None:
    """Drop metric lines of epochs after ``last_epoch`` (left by an interrupted run)."""
    if not path.is_file():
        return
    kept = [line for line in _lines(path) if int(json.loads(line).get("epoch", 0)) <= last_epoch]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _lines(path: Path) -> Iterator[str]:
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line.strip()


def _append_line(handle: Any, record: dict[str, Any]) -> None:
    handle.write(json.dumps(record) + "\n")
    handle.flush()


def _write_json(path: Path, payload: Any) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temp, path)
