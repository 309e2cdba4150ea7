"""The one table of base models tunewire knows, and every rule keyed by base model.

Validation (limits, token budget, cost), the launcher (adapter sizes, regions, lifecycle) and the
local tuning twin all read this table; no other module hard-codes a per-model number.

Sources: Vertex AI "About supervised fine-tuning for Gemini models" and "Supported tuning
regions" pages, and the Vertex AI generative AI pricing page, as read on PRICES_TAKEN_ON. Prices
change: update them here, with the date, and nowhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PRICES_TAKEN_ON = "2026-11-01"
"""Date the training prices below were read from the Vertex AI pricing page."""


class Lifecycle(str, enum.Enum):
    GA = "ga"
    PREVIEW = "preview"
    DISCONTINUED = "discontinued"


class TuningMode(str, enum.Enum):
    ADAPTER = "adapter"
    FULL = "full"


# Regions listed by Vertex AI for Gemini supervised tuning jobs.
GEMINI_TUNING_REGIONS: tuple[str, ...] = (
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west4",
    "northamerica-northeast1", "southamerica-east1",
    "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6",
    "europe-west8", "europe-west9", "europe-north1", "europe-central2", "europe-southwest1",
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast3", "asia-south1",
    "asia-southeast1", "australia-southeast1", "me-central1", "me-west1",
)


@dataclass(frozen=True)
class DatasetLimits:
    """Dataset limits Vertex AI enforces for one family of base models."""

    max_example_tokens: int = 131_072
    max_training_file_bytes: int = 1024**3
    max_text_examples: int = 10_000_000
    max_multimodal_examples: int = 300_000
    max_validation_examples: int = 5_000
    max_validation_share_of_training: float = 0.30
    recommended_min_examples: int = 100

    def max_validation_examples_for(self, training_examples: int) -> int:
        """5,000 examples, or 30 % of the training examples when that is larger."""
        share = int(training_examples * self.max_validation_share_of_training)
        return max(self.max_validation_examples, share)


GEMINI_LIMITS = DatasetLimits()


@dataclass(frozen=True)
class BaseModel:
    """One row of the table: everything tunewire needs to know about a tunable base model."""

    name: str
    display_name: str
    family: str  # "gemini" or "gemma"
    lifecycle: Lifecycle
    adapter_sizes: tuple[int, ...]
    regions: tuple[str, ...]
    tuning_modes: tuple[TuningMode, ...]
    limits: DatasetLimits
    training_usd_per_million_tokens: float | None
    aliases: tuple[str, ...] = ()
    note: str = ""

    @property
    def discontinued(self) -> bool:
        return self.lifecycle is Lifecycle.DISCONTINUED

    def supports_mode(self, mode: TuningMode) -> bool:
        return mode in self.tuning_modes


_ADAPTER_ONLY = (TuningMode.ADAPTER,)

BASE_MODELS: tuple[BaseModel, ...] = (
    BaseModel(
        name="gemini-2.5-pro",
        display_name="Gemini 2.5 Pro",
        family="gemini",
        lifecycle=Lifecycle.GA,
        adapter_sizes=(1, 2, 4, 8),
        regions=GEMINI_TUNING_REGIONS,
        tuning_modes=_ADAPTER_ONLY,
        limits=GEMINI_LIMITS,
        training_usd_per_million_tokens=25.0,
    ),
    BaseModel(
        name="gemini-2.5-flash",
        display_name="Gemini 2.5 Flash",
        family="gemini",
        lifecycle=Lifecycle.GA,
        adapter_sizes=(1, 2, 4, 8, 16),
        regions=GEMINI_TUNING_REGIONS,
        tuning_modes=_ADAPTER_ONLY,
        limits=GEMINI_LIMITS,
        training_usd_per_million_tokens=5.0,
    ),
    BaseModel(
        name="gemini-2.5-flash-lite",
        display_name="Gemini 2.5 Flash-Lite",
        family="gemini",
        lifecycle=Lifecycle.GA,
        adapter_sizes=(1, 2, 4, 8, 16),
        regions=GEMINI_TUNING_REGIONS,
        tuning_modes=_ADAPTER_ONLY,
        limits=GEMINI_LIMITS,
        training_usd_per_million_tokens=1.5,
    ),
    BaseModel(
        name="gemini-3.1-flash-lite",
        display_name="Gemini 3.1 Flash-Lite",
        family="gemini",
        lifecycle=Lifecycle.PREVIEW,
        adapter_sizes=(1, 2, 4, 8, 16),
        regions=("us-central1", "europe-west4"),
        tuning_modes=_ADAPTER_ONLY,
        limits=GEMINI_LIMITS,
        training_usd_per_million_tokens=None,
        note="no published training price on record; cost is not estimated",
    ),
    BaseModel(
        name="gemini-2.0-flash-001",
        display_name="Gemini 2.0 Flash",
        family="gemini",
        lifecycle=Lifecycle.DISCONTINUED,
        adapter_sizes=(1, 2, 4, 8),
        regions=GEMINI_TUNING_REGIONS,
        tuning_modes=_ADAPTER_ONLY,
        limits=GEMINI_LIMITS,
        training_usd_per_million_tokens=3.0,
        aliases=("gemini-2.0-flash",),
        note="discontinued on 2026-06-01; choose gemini-2.5-flash",
    ),
    BaseModel(
        name="gemini-2.0-flash-lite-001",
        display_name="Gemini 2.0 Flash-Lite",
        family="gemini",
        lifecycle=Lifecycle.DISCONTINUED,
        adapter_sizes=(1, 2, 4, 8),
        regions=GEMINI_TUNING_REGIONS,
        tuning_modes=_ADAPTER_ONLY,
        limits=GEMINI_LIMITS,
        training_usd_per_million_tokens=1.0,
        aliases=("gemini-2.0-flash-lite",),
        note="discontinued on 2026-06-01; choose gemini-2.5-flash-lite",
    ),
)

GEMMA_270M_LIMITS = DatasetLimits(max_example_tokens=32_768)

OPEN_MODELS: tuple[BaseModel, ...] = (
    BaseModel(
        name="gemma-3-270m",
        display_name="Gemma 3 270M (open model)",
        family="gemma",
        lifecycle=Lifecycle.GA,
        adapter_sizes=(1, 2, 4, 8, 16, 32),
        regions=GEMINI_TUNING_REGIONS,
        tuning_modes=(TuningMode.ADAPTER, TuningMode.FULL),
        limits=GEMMA_270M_LIMITS,
        training_usd_per_million_tokens=None,
        note="open model: tuning is billed by compute time, not tokens; the local twin trains it for real",
    ),
)
"""Open models accept full fine-tuning as well as adapters (Vertex v1beta1 `tuningMode`)."""

DEFAULT_BASE_MODEL = "gemini-2.5-flash"

_PUBLISHER_PREFIX = "publishers/google/models/"


def canonical_model_name(name: str) -> str:
    """Strip resource prefixes (`projects/../publishers/google/models/`) and normalise case."""
    name = name.strip().lower()
    if _PUBLISHER_PREFIX in name:
        name = name.split(_PUBLISHER_PREFIX, 1)[1]
    return name


def find_base_model(name: str) -> BaseModel | None:
    """The table row for a base model name or alias, or None when tunewire does not know it."""
    wanted = canonical_model_name(name)
    for model in BASE_MODELS + OPEN_MODELS:
        if wanted == model.name or wanted in model.aliases:
            return model
    return None


def known_model_names() -> list[str]:
    return [model.name for model in BASE_MODELS + OPEN_MODELS]
