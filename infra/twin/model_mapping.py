"""Which local base model trains a requested Vertex base model, and which rules apply to it.

* Gemini names (catalog rows of family ``gemini``, with or without the
  ``projects/../publishers/google/models/`` prefix) all map to the one configured local base
  (``--local-model``, default ``tiny``).
* The open model ``gemma-3-270m`` (a catalog row of family ``gemma``) maps to itself.
* ``tiny`` — a randomly initialised miniature Gemma 3 that exists only in the twin — maps to
  itself and follows the rules of the ``gemma-3-270m`` catalog row.

Every rule (adapter sizes, tuning modes, regions, lifecycle) comes from ``shared.model_catalog``;
this module holds no per-model numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.twin.engine import LocalBase
from shared.model_catalog import BaseModel, TuningMode, canonical_model_name, find_base_model, known_model_names

__all__ = ["ResolvedBase", "UnknownBaseModel", "resolve_base_model", "supported_model_names"]

_TINY_RULES_FROM = LocalBase.GEMMA_3_270M.value
"""The catalog row whose rules the twin-only ``tiny`` model follows (both are Gemma 3 text models)."""


class UnknownBaseModel(LookupError):
    """The requested base model is neither in the catalog nor a local open model."""


@dataclass(frozen=True)
class ResolvedBase:
    """A requested base model, the catalog row that rules it and the local base the twin trains."""

    requested: str  # as sent in TuningJob.baseModel
    canonical: str  # "gemini-2.5-flash", "gemma-3-270m", "tiny"
    local_base: LocalBase
    rules: BaseModel  # the catalog row for adapter sizes, tuning modes, regions and lifecycle

    @property
    def is_open_model(self) -> bool:
        """True for models Vertex tunes as open models (not Gemini): full tuning is possible."""
        return self.rules.family != "gemini"

    @property
    def adapter_ranks(self) -> tuple[int, ...]:
        return self.rules.adapter_sizes

    @property
    def supports_full(self) -> bool:
        return self.rules.supports_mode(TuningMode.FULL)

    @property
    def regions(self) -> tuple[str, ...]:
        return self.rules.regions


def resolve_base_model(name: str, local_model: LocalBase) -> ResolvedBase:
    """Map a requested base model to its catalog rules and the local base that trains it.

    Raises UnknownBaseModel for names the catalog does not know (``tiny`` aside).
    """
    canonical = canonical_model_name(name)
    if canonical == LocalBase.TINY.value:
        rules = find_base_model(_TINY_RULES_FROM)
        if rules is None:  # the catalog lost its Gemma row: tiny has no rules to follow
            raise UnknownBaseModel(name)
        return ResolvedBase(requested=name, canonical=LocalBase.TINY.value, local_base=LocalBase.TINY, rules=rules)
    row = find_base_model(name)
    if row is None:
        raise UnknownBaseModel(name)
    if row.family == "gemini":
        local = LocalBase(local_model)
    else:
        try:
            local = LocalBase(row.name)
        except ValueError as exc:  # an open model in the catalog the twin cannot train locally
            raise UnknownBaseModel(name) from exc
    return ResolvedBase(requested=name, canonical=row.name, local_base=local, rules=row)


def supported_model_names() -> list[str]:
    """Names the twin tunes: the catalog's models that are not discontinued, then ``tiny``."""
    names = [name for name in known_model_names() if not _discontinued(name)]
    return names + [LocalBase.TINY.value]


def _discontinued(name: str) -> bool:
    row = find_base_model(name)
    return row is not None and row.discontinued
