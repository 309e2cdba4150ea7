"""Leases in Firestore: one holder at a time, expiring so that a holder that died frees it.

A lease is a map `{holder, until}` at `leases.<name>` of some document: a job (`launch`: one
launcher per job) or a document of the `locks` collection (`poll`: one poll tick at a time).
Taking and releasing are transactions that read the current holder first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

LOCKS_COLLECTION = "locks"


def acquire(client: Any, ref: Any, name: str, *, seconds: float, holder: str, create: bool = False) -> bool:
    """Take `leases.<name>` on `ref` for `seconds` unless another holder has it unexpired.
    `create`: make the document if it does not exist (otherwise a missing document refuses)."""
    from google.cloud import firestore

    @firestore.transactional
    def take(transaction: Any) -> bool:
        snapshot = ref.get(transaction=transaction)
        if not snapshot.exists and not create:
            return False
        lease = ((snapshot.to_dict() or {}).get("leases") or {}).get(name) or {} if snapshot.exists else {}
        now = datetime.now(timezone.utc)
        if lease.get("holder") not in (None, holder) and lease.get("until") and lease["until"] > now:
            return False
        value = {"holder": holder, "until": now + timedelta(seconds=seconds)}
        if snapshot.exists:
            transaction.update(ref, {f"leases.{name}": value})
        else:
            transaction.set(ref, {"leases": {name: value}})
        return True

    return take(client.transaction())


def release(client: Any, ref: Any, name: str, *, holder: str) -> None:
    """Give `leases.<name>` back if `holder` still has it."""
    from google.cloud import firestore

    @firestore.transactional
    def give_back(transaction: Any) -> None:
        snapshot = ref.get(transaction=transaction)
        if snapshot.exists and (((snapshot.to_dict() or {}).get("leases") or {}).get(name) or {}).get("holder") == holder:
            transaction.update(ref, {f"leases.{name}": firestore.DELETE_FIELD})

    give_back(client.transaction())


@contextmanager
def held(client: Any, name: str, *, seconds: float) -> Iterator[bool]:
    """`with held(client, "poll", seconds=...) as mine:` — the named lock `locks/<name>` for the
    block if no one else holds it (`mine` says whether this caller got it); released after."""
    ref = client.collection(LOCKS_COLLECTION).document(name)
    holder = uuid.uuid4().hex
    mine = acquire(client, ref, name, seconds=seconds, holder=holder, create=True)
    try:
        yield mine
    finally:
        if mine:
            release(client, ref, name, holder=holder)
