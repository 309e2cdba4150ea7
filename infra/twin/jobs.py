"""The twin's record of one tuning job, and its Vertex TuningJob JSON.

A :class:`JobRecord` holds what the public resource shows plus what only the twin needs (the
local base it really trains, the resolved LoRA rank, checkpoint folders, a sequence number for
newest-first ordering). ``to_json``/``from_json`` persist it; ``to_wire`` renders the TuningJob
in camelCase proto3 JSON with enum names and int64 as strings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from infra.twin.engine import DataStats, TrainingSpec
from infra.twin.wire import ADAPTER_SIZE_RANK, RANK_ADAPTER_SIZE, TERMINAL_STATES, snake_to_camel

__all__ = [
    "CheckpointRecord",
    "DEFAULT_EPOCH_COUNT",
    "DEFAULT_LEARNING_RATE_MULTIPLIER",
    "DEFAULT_LORA_RANK",
    "JobRecord",
    "data_stats_to_wire",
    "lora_rank_for",
]


def _spec_default(name: str) -> Any:
    """A TrainingSpec field default: the engine's contract is the one place these numbers live."""
    for spec_field in dataclasses.fields(TrainingSpec):
        if spec_field.name == name:
            return spec_field.default
    raise KeyError(name)


DEFAULT_EPOCH_COUNT: int = _spec_default("epochs")
DEFAULT_LORA_RANK: int = _spec_default("lora_rank")
DEFAULT_LEARNING_RATE_MULTIPLIER: float = _spec_default("learning_rate_multiplier")


def lora_rank_for(adapter_size: str | None) -> int:
    """LoRA rank for an AdapterSize name (ONE->1 ... THIRTY_TWO->32); None/UNSPECIFIED -> default."""
    if adapter_size is None or adapter_size not in ADAPTER_SIZE_RANK:
        return DEFAULT_LORA_RANK
    return ADAPTER_SIZE_RANK[adapter_size]


@dataclass
class CheckpointRecord:
    """One checkpoint the engine reported; ``endpoint_id`` is assigned when the job succeeds."""

    checkpoint_id: str
    epoch: int
    step: int
    path: str  # relative to the job folder when inside it, else absolute
    validation_loss: float | None = None
    endpoint_id: str | None = None


@dataclass
class JobRecord:
    """Everything the twin knows about one tuning job (persisted as job.json)."""

    job_id: str
    project: str
    location: str
    seq: int
    api_version: str  # the surface it was created on: "v1" or "v1beta1"
    base_model: str  # as requested
    base_model_canonical: str
    local_base: str  # LocalBase value the twin really trains
    full_tuning: bool
    lora_rank: int
    epochs: int
    learning_rate_multiplier: float
    training_dataset_uri: str
    validation_dataset_uri: str | None = None
    adapter_size: str | None = None  # requested AdapterSize name
    tuning_mode: str | None = None  # requested TuningMode name (v1beta1)
    batch_size: int | None = None
    export_last_checkpoint_only: bool | None = None
    tuned_model_display_name: str = ""
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    service_account: str = ""
    encryption_spec: dict[str, Any] | None = None
    state: str = "JOB_STATE_PENDING"
    create_time: str = ""
    update_time: str = ""
    start_time: str | None = None
    end_time: str | None = None
    error: dict[str, Any] | None = None  # google.rpc.Status {code, message}
    data_stats: dict[str, Any] | None = None  # supervisedTuningDataStats, wire shape
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    model_id: str | None = None
    attempts: int = 0  # times training started (restarts included)
    resumed_from: list[str] = field(default_factory=list)  # checkpoint ids training resumed from

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/tuningJobs/{self.job_id}"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def endpoint_name(self, endpoint_id: str) -> str:
        return f"{self.parent}/endpoints/{endpoint_id}"

    def exported_checkpoints(self) -> list[CheckpointRecord]:
        """The checkpoints a succeeded job exposes (only the last with exportLastCheckpointOnly)."""
        if self.export_last_checkpoint_only and self.checkpoints:
            return self.checkpoints[-1:]
        return list(self.checkpoints)

    # -- persistence -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["checkpoints"] = [CheckpointRecord(**c) for c in data.get("checkpoints", [])]
        return cls(**values)

    # -- the public resource -----------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        """The TuningJob as Vertex returns it (camelCase, enum names, int64 as strings)."""
        hyper: dict[str, Any] = {
            "epochCount": str(self.epochs),
            "learningRateMultiplier": self.learning_rate_multiplier,
        }
        if not self.full_tuning:
            hyper["adapterSize"] = self.adapter_size or RANK_ADAPTER_SIZE.get(self.lora_rank, "ADAPTER_SIZE_UNSPECIFIED")
        if self.batch_size is not None:
            hyper["batchSize"] = str(self.batch_size)
        spec: dict[str, Any] = {"trainingDatasetUri": self.training_dataset_uri, "hyperParameters": hyper}
        if self.validation_dataset_uri:
            spec["validationDatasetUri"] = self.validation_dataset_uri
        if self.export_last_checkpoint_only is not None:
            spec["exportLastCheckpointOnly"] = self.export_last_checkpoint_only
        if self.api_version != "v1" and self.tuning_mode:
            spec["tuningMode"] = self.tuning_mode
        job: dict[str, Any] = {
            "name": self.name,
            "baseModel": self.base_model,
            "supervisedTuningSpec": spec,
            "state": self.state,
            "createTime": self.create_time,
            "updateTime": self.update_time,
        }
        optional = {
            "tunedModelDisplayName": self.tuned_model_display_name,
            "description": self.description,
            "labels": dict(self.labels),
            "serviceAccount": self.service_account,
            "encryptionSpec": self.encryption_spec,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "error": self.error,
        }
        job.update({key: value for key, value in optional.items() if value})
        if self.data_stats:
            job["tuningDataStats"] = {"supervisedTuningDataStats": self.data_stats}
        if self.state == "JOB_STATE_SUCCEEDED" and self.model_id:
            job["tunedModel"] = self._tuned_model()
        return job

    def _tuned_model(self) -> dict[str, Any]:
        exported = self.exported_checkpoints()
        checkpoints = [
            {
                "checkpointId": c.checkpoint_id,
                "epoch": str(c.epoch),
                "step": str(c.step),
                "endpoint": self.endpoint_name(c.endpoint_id),
            }
            for c in exported
            if c.endpoint_id
        ]
        tuned: dict[str, Any] = {"model": f"{self.parent}/models/{self.model_id}@1"}
        if checkpoints:
            tuned["endpoint"] = checkpoints[-1]["endpoint"]
            tuned["checkpoints"] = checkpoints
        return tuned


_DISTRIBUTION_INT64_KEYS = frozenset({"sum", "billable_sum", "billableSum"})


def _distribution_to_wire(distribution: dict[str, Any]) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for key, value in distribution.items():
        name = snake_to_camel(key.rstrip("_"))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            wire[name] = value  # e.g. buckets: already in wire shape
        else:
            wire[name] = str(int(value)) if key in _DISTRIBUTION_INT64_KEYS else float(value)
    return wire


def data_stats_to_wire(stats: DataStats) -> dict[str, Any]:
    """The engine's DataStats as Vertex's supervisedTuningDataStats (int64 as strings)."""
    wire: dict[str, Any] = {
        "tuningDatasetExampleCount": str(stats.example_count),
        "totalBillableTokenCount": str(stats.total_billable_token_count),
        "tuningStepCount": str(stats.tuning_step_count),
        "totalTruncatedExampleCount": str(stats.total_truncated_example_count),
    }
    if stats.truncated_example_indices:
        wire["truncatedExampleIndices"] = [str(i) for i in stats.truncated_example_indices]
    if stats.dropped_example_reasons:
        wire["droppedExampleReasons"] = list(stats.dropped_example_reasons)
    if stats.user_input_token_distribution:
        wire["userInputTokenDistribution"] = _distribution_to_wire(stats.user_input_token_distribution)
    if stats.user_output_token_distribution:
        wire["userOutputTokenDistribution"] = _distribution_to_wire(stats.user_output_token_distribution)
    return wire
