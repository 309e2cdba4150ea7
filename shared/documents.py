"""Read-modify-write of one Firestore document, by compare-and-set: every such change in tunewire
(job transitions, job creation, leases, delivery claims) goes through `change_document`.

The document is read, `decide` says what to write, and the write carries a precondition: the
document's update time as read (or, for a document that did not exist, that it still does not).
A writer that lost the race reads again and decides again, after a short random wait; exactly
one of any set of concurrent writers wins each round, and no one waits on a lock.

Why not Firestore transactions: the emulator locks pessimistically. Two transactions that read one
document and then both write it wait 2 s on each other, then the emulator aborts one of them, or
both when the document is new; the client retries at once, in step. Two copies of one poll tick
(Pub/Sub delivers at least once) taking the poll lock every second: with transactions 119 of 120
ticks failed, with compare-and-set none did (benchmarks/firestore_writes_bench.py). Preconditions
are answered at once, by the emulator and by Firestore.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

Decision = tuple[T, dict[str, Any] | None]
"""What `decide` returns: the caller's result, and the write (None: write nothing). For a missing
document the write is the whole new document; for an existing one, a Firestore update (field
paths, DELETE_FIELD and transforms allowed)."""

ATTEMPTS = 12
"""Rounds before giving up. Every round has a winner, so this many writers racing at once all finish."""


class LostRace(RuntimeError):
    """Another writer changed the document between this read and this write."""


def change_document(ref: Any, decide: Callable[[dict[str, Any] | None], Decision[T]], *, attempts: int = ATTEMPTS) -> T:
    """Run `decide(current document or None)` and apply its write if the document is unchanged since
    the read; on a lost race, read and decide again. `decide` must have no other side effects.
    Raises LostRace after `attempts` lost rounds."""
    # Imported here, as the Google clients are: a function's entry stays cheap (cold start).
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    for attempt in Retrying(
        retry=retry_if_exception_type(LostRace),
        wait=wait_random_exponential(multiplier=0.02, max=0.5),
        stop=stop_after_attempt(attempts),
        reraise=True,
    ):
        with attempt:
            return _one_round(ref, decide)
    raise AssertionError("unreachable: Retrying returns or raises")  # pragma: no cover


def _one_round(ref: Any, decide: Callable[[dict[str, Any] | None], Decision[T]]) -> T:
    from google.api_core import exceptions
    from google.cloud import firestore

    snapshot = ref.get()
    result, write = decide(snapshot.to_dict() if snapshot.exists else None)
    if write is None:
        return result
    try:
        if snapshot.exists:
            ref.update(write, option=firestore.Client.write_option(last_update_time=snapshot.update_time))
        else:
            ref.create(write)
    except (exceptions.FailedPrecondition, exceptions.AlreadyExists, exceptions.Conflict, exceptions.NotFound) as exc:
        raise LostRace(f"{ref.path} changed while it was being updated") from exc
    return result
