"""The Firestore queries docs/data-model.md shows, as runnable functions (tests run every one
against the Firestore emulator; shared/jobs/indexes.py lists the composite index each needs).

    from google.cloud import firestore
    db = firestore.Client(project="my-project")
    for job in active_jobs(db): print(job["id"], job["state"])
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

ACTIVE = ["LAUNCHING", "PENDING", "RUNNING", "CANCELLING"]


def job(db: firestore.Client, job_id: str) -> dict[str, Any] | None:
    """One job by id (the id is in every webhook and in `tunewire submit`'s output)."""
    snapshot = db.collection("jobs").document(job_id).get()
    return snapshot.to_dict() if snapshot.exists else None


def active_jobs(db: firestore.Client) -> list[dict[str, Any]]:
    """Jobs with a Vertex AI job in flight (single-field index; no composite index needed)."""
    query = db.collection("jobs").where(filter=FieldFilter("state", "in", ACTIVE))
    return [snapshot.to_dict() for snapshot in query.stream()]


def jobs_in_state(db: firestore.Client, state: str, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first. Composite index: jobs (state ASC, updated_at DESC)."""
    query = (
        db.collection("jobs")
        .where(filter=FieldFilter("state", "==", state))
        .order_by("updated_at", direction=firestore.Query.DESCENDING)
        .limit(limit)
    )
    return [snapshot.to_dict() for snapshot in query.stream()]


def jobs_under_prefix(db: firestore.Client, prefix: str, limit: int = 50) -> list[dict[str, Any]]:
    """Jobs for uploads whose object name starts with `prefix` (single-field range on source.name)."""
    query = (
        db.collection("jobs")
        .where(filter=FieldFilter("source.name", ">=", prefix))
        .where(filter=FieldFilter("source.name", "<", prefix + "\uf8ff"))
        .order_by("source.name")
        .limit(limit)
    )
    return [snapshot.to_dict() for snapshot in query.stream()]


def recent_failures(db: firestore.Client, days: int = 7) -> list[dict[str, Any]]:
    """FAILED and INVALID jobs of the last `days` days, newest first.
    Composite index: jobs (state ASC, updated_at DESC)."""
    since = datetime.now(timezone.utc) - timedelta(days=days)
    query = (
        db.collection("jobs")
        .where(filter=FieldFilter("state", "in", ["FAILED", "INVALID"]))
        .where(filter=FieldFilter("updated_at", ">=", since))
        .order_by("updated_at", direction=firestore.Query.DESCENDING)
    )
    return [snapshot.to_dict() for snapshot in query.stream()]


def deliveries_for_job(db: firestore.Client, job_id: str) -> list[dict[str, Any]]:
    """Every webhook delivery record of one job (single-field index on job_id)."""
    query = db.collection("webhook_deliveries").where(filter=FieldFilter("job_id", "==", job_id))
    return [snapshot.to_dict() for snapshot in query.stream()]


def stuck_jobs(db: firestore.Client) -> list[dict[str, Any]]:
    """Jobs reported held PENDING past the limit and still PENDING (equality filters only: the
    single-field indexes serve it, no composite index)."""
    query = (
        db.collection("jobs")
        .where(filter=FieldFilter("state", "==", "PENDING"))
        .where(filter=FieldFilter("stuck.state", "==", "PENDING"))
    )
    return [snapshot.to_dict() for snapshot in query.stream()]
