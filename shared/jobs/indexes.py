"""Every Firestore composite index a query in code or docs needs: Terraform declares exactly
these (the emulator needs none, production refuses a query without its index)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CompositeIndex:
    collection: str
    fields: tuple[tuple[str, str], ...]  # (field path, "ASCENDING" | "DESCENDING")
    used_by: str


COMPOSITE_INDEXES: tuple[CompositeIndex, ...] = (
    CompositeIndex(
        collection="jobs",
        fields=(("state", "ASCENDING"), ("updated_at", "DESCENDING")),
        used_by="JobStore.jobs_in_state, JobStore.jobs_untouched_since (the reconciler), tunewire jobs --state, examples/firestore/queries.py (jobs_in_state, recent_failures)",
    ),
)
