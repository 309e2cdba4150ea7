"""Leases in Firestore: one holder at a time, expiring so that a holder that died frees it.

A lease is a map `{holder, until}` at `leases.<name>` of some document: a job (`launch`: one
launcher per job) or a document of the `locks` collection (`poll`: one poll tick at a time).
Taking and giving back are compare-and-set changes (shared/documents.py) that read the current
holder first, so two callers racing for a free lease get one winner at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.documents import Decision, change_document

LOCKS_COLLECTION = "locks"


def acquire(ref: Any, name: str, *, seconds: float, holder: str, create: bool = False) -> bool:
    """Take `leases.<name>` on `ref` for `seconds` unless another holder has it unexpired.
    `create`: make the document if it does not exist (otherwise a missing document refuses)."""

    def take(document: dict[str, Any] | None) -> Decision[bool]:
        if document is None and not create:
            return False, None
        lease = ((document or {}).get("leases") or {}).get(name) or {}
        now = datetime.now(timezone.utc)
        if lease.get("holder") not in (None, holder) and lease.get("until") and lease["until"] > now:
            return False, None
        value = {"holder": holder, "until": now + timedelta(seconds=seconds)}
        return True, ({"leases": {name: value}} if document is None else {f"leases.{name}": value})

    return change_document(ref, take)


def release(ref: Any, name: str, *, holder: str) -> None:
    """Give `leases.<name>` back if `holder` still has it."""
    from google.cloud import firestore

    def give_back(document: dict[str, Any] | None) -> Decision[None]:
        lease = ((document or {}).get("leases") or {}).get(name) or {}
        return None, ({f"leases.{name}": firestore.DELETE_FIELD} if lease.get("holder") == holder else None)

    change_document(ref, give_back)


@contextmanager
def held(client: Any, name: str, *, seconds: float) -> Iterator[bool]:
    """`with held(client, "poll", seconds=...) as mine:` — the named lock `locks/<name>` for the
    block if no one else holds it (`mine` says whether this caller got it); released after."""
    ref = client.collection(LOCKS_COLLECTION).document(name)
    holder = uuid.uuid4().hex
    mine = acquire(ref, name, seconds=seconds, holder=holder, create=True)
    try:
        yield mine
    finally:
        if mine:
            release(ref, name, holder=holder)
