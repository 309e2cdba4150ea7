"""Jobs in Firestore: `jobs/{id}` documents, whose state changes only by compare-and-set.

Every state change goes through `transition`, which reads the document, checks the one
transition table, appends to `history` and writes only if no one changed the document since the
read (shared/documents.py; a lost race reads and checks again). Redelivered events therefore find the
state already moved and change nothing (`TransitionResult.changed` is False); side effects are
for the caller to perform after a commit that reports `changed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from shared import leases
from shared.documents import Decision, change_document
from shared.jobs.states import NOTIFIED_STATES, VERTEX_ACTIVE_STATES, JobState, can_transition

MAX_HISTORY = 200


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class TransitionResult:
    changed: bool
    before: JobState | None  # None when the job does not exist
    document: dict[str, Any] | None
    refused: str | None = None  # why nothing changed when the move was not allowed


def history_entry(state: JobState, reason: str, at: datetime) -> dict[str, Any]:
    return {"state": state.value, "at": at, "reason": reason[:1000]}


def last_entry(job: dict[str, Any], state: str) -> dict[str, Any] | None:
    """The history entry of the job's latest move into `state` (None if it never entered it)."""
    for entry in reversed(job.get("history") or []):
        if entry.get("state") == state:
            return entry
    return None


class JobStore:
    """Firestore-backed job documents. `client` is a google.cloud.firestore.Client."""

    def __init__(self, client: Any, collection: str = "jobs") -> None:
        self._client = client
        self._collection = client.collection(collection)

    def reference(self, job_id: str) -> Any:
        return self._collection.document(job_id)

    def create_if_absent(self, job_id: str, document: dict[str, Any], *, reason: str) -> tuple[dict[str, Any], bool]:
        """Create `jobs/{job_id}` in RECEIVED unless it exists; returns (document, created)."""

        def create(document_now: dict[str, Any] | None) -> Decision[tuple[dict[str, Any], bool]]:
            if document_now is not None:
                return (document_now, False), None
            now = utc_now()
            fresh = {
                **document,
                "id": job_id,
                "state": JobState.RECEIVED.value,
                "history": [history_entry(JobState.RECEIVED, reason, now)],
                "created_at": now,
                "updated_at": now,
            }
            return (fresh, True), fresh

        return change_document(self.reference(job_id), create)

    def get(self, job_id: str) -> dict[str, Any] | None:
        snapshot = self.reference(job_id).get()
        return snapshot.to_dict() if snapshot.exists else None

    def transition(
        self,
        job_id: str,
        wanted: JobState,
        *,
        reason: str,
        updates: dict[str, Any] | None = None,
        only_from: Iterable[JobState] | None = None,
    ) -> TransitionResult:
        """Move the job to `wanted` if the table (and `only_from`, when given) allows it."""
        allowed_from = frozenset(only_from) if only_from is not None else None

        def move(document: dict[str, Any] | None) -> Decision[TransitionResult]:
            if document is None:
                return TransitionResult(False, None, None, refused="no such job"), None
            current = JobState(document["state"])
            if current is wanted:
                return TransitionResult(False, current, document, refused=f"already {wanted.value}"), None
            if allowed_from is not None and current not in allowed_from:
                return TransitionResult(False, current, document, refused=f"job is {current.value}"), None
            if not can_transition(current, wanted):
                return TransitionResult(False, current, document, refused=f"{current.value} cannot move to {wanted.value}"), None
            now = utc_now()
            history = list(document.get("history", []))[-(MAX_HISTORY - 1):]
            history.append(history_entry(wanted, reason, now))
            changes = {**(updates or {}), "state": wanted.value, "history": history, "updated_at": now}
            if wanted in NOTIFIED_STATES:
                changes["outbox"] = sorted({*(document.get("outbox") or []), wanted.value})
            return TransitionResult(True, current, {**document, **changes}), changes

        return change_document(self.reference(job_id), move)

    def update(self, job_id: str, updates: dict[str, Any]) -> None:
        """Change fields that are not the state (progress, delivery logs); never the state."""
        if "state" in updates or "history" in updates:
            raise ValueError("state and history change only through transition()")
        self.reference(job_id).update({**updates, "updated_at": utc_now()})

    def event_received(self, job_id: str, state: JobState) -> None:
        """Notify has the event for `state`: take it out of the job's outbox."""
        from google.cloud import firestore

        self.reference(job_id).update({"outbox": firestore.ArrayRemove([state.value])})

    def jobs_with_unsent_events(self, limit: int = 500) -> list[dict[str, Any]]:
        """Jobs whose outbox holds an event notify has not received (query: outbox
        array-contains-any the notified states; index: the automatic one on outbox)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        states = sorted(state.value for state in NOTIFIED_STATES)
        query = self._collection.where(filter=FieldFilter("outbox", "array_contains_any", states)).limit(limit)
        return [snapshot.to_dict() for snapshot in query.stream()]

    def jobs_untouched_since(self, states: Iterable[JobState], before: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """Jobs in `states` whose last change is older than `before` (query: state IN [...] and
        updated_at < before; index: state + updated_at, the one in shared/jobs/indexes.py)."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("state", "in", sorted(state.value for state in states)))
            .where(filter=FieldFilter("updated_at", "<", before))
            .order_by("updated_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [snapshot.to_dict() for snapshot in query.stream()]

    def acquire_lease(self, job_id: str, name: str, *, seconds: float, holder: str) -> bool:
        """Take `leases.<name>` on the job for `seconds` unless another holder has it."""
        return leases.acquire(self.reference(job_id), name, seconds=seconds, holder=holder)

    def release_lease(self, job_id: str, name: str, *, holder: str) -> None:
        leases.release(self.reference(job_id), name, holder=holder)

    def active_jobs(self, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every job that may have a Vertex job to poll, page by page in document-id order
        (query: state IN [...] ordered by id, cursor after the last id; index: the automatic
        single-field one on state). No cap: a tick that saw only the first N would never poll
        the rest while those stay active."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("state", "in", sorted(state.value for state in VERTEX_ACTIVE_STATES)))
            .order_by("__name__")
            .limit(page_size)
        )
        cursor = None
        while True:
            page = list((query.start_after(cursor) if cursor is not None else query).stream())
            for snapshot in page:
                yield snapshot.to_dict()
            if len(page) < page_size:
                return
            cursor = page[-1]

    def jobs_in_state(self, state: JobState, limit: int = 100) -> list[dict[str, Any]]:
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("state", "==", state.value))
            .order_by("updated_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [snapshot.to_dict() for snapshot in query.stream()]

    def recent_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recently updated jobs, newest first (query: order by updated_at desc;
        index: the automatic single-field index on updated_at)."""
        from google.cloud import firestore

        query = self._collection.order_by("updated_at", direction=firestore.Query.DESCENDING).limit(limit)
        return [snapshot.to_dict() for snapshot in query.stream()]

    def jobs_with_source_prefix(
        self, prefix: str, limit: int = 50, *, state: JobState | None = None, scan_limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Jobs whose `source.name` starts with `prefix` (optionally in `state`), newest first.

        Query: `source.name >= prefix` and `< prefix + "\\uf8ff"`, ordered by `source.name`
        (Firestore orders a range query by its field first); index: the automatic single-field
        index on source.name, no composite one. At most `scan_limit` matches are read; `state`
        is filtered and `updated_at` sorted here, so with more matches than that the newest may
        be missed.
        """
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("source.name", ">=", prefix))
            .where(filter=FieldFilter("source.name", "<", prefix + "\uf8ff"))
            .order_by("source.name")
            .limit(max(limit, scan_limit))
        )
        jobs = [snapshot.to_dict() for snapshot in query.stream()]
        if state is not None:
            jobs = [job for job in jobs if job.get("state") == state.value]
        oldest = datetime.min.replace(tzinfo=timezone.utc)
        jobs.sort(key=lambda job: job.get("updated_at") or oldest, reverse=True)
        return jobs[:limit]
