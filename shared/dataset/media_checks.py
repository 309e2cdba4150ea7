"""Existence and size checks of gs:// media through object metadata, with bounded concurrency.

Checks run on a small thread pool while the scan goes on; results are drained into the findings
on the scanning thread, so the collector is never touched from two threads.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shared.dataset.codes import Code
from shared.dataset.example_checks import MediaRef
from shared.dataset.findings import FindingCollector
from shared.dataset.media import MODALITY_LIMITS, is_http_uri
from shared.gcs import split_uri

CACHE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class ObjectStat:
    exists: bool
    size: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Pending:
    ref: MediaRef
    line: int
    file: str


class MediaChecker:
    """Checks gs:// references for existence and size; http(s) references become warnings."""

    def __init__(
        self,
        findings: FindingCollector,
        *,
        storage_client: Any = None,
        max_in_flight: int = 32,
        timeout_s: float = 30.0,
    ) -> None:
        self._findings = findings
        self._client = storage_client
        self._timeout_s = timeout_s
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._max_in_flight = max_in_flight
        self._done: queue.SimpleQueue[tuple[_Pending, ObjectStat]] = queue.SimpleQueue()
        self._cache: dict[str, ObjectStat] = {}
        self._submitted = 0
        self._drained = 0
        self.checked_objects = 0

    def check(self, ref: MediaRef, *, line: int, file: str) -> None:
        if is_http_uri(ref.uri):
            self._findings.add(Code.MEDIA_UNCHECKED, f"{ref.uri[:120]} is fetched by Vertex at tuning time", line=line, path=ref.path, file=file)
            return
        pending = _Pending(ref, line, file)
        cached = self._cache.get(ref.uri)
        if cached is not None:
            self._report(pending, cached)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._max_in_flight, thread_name_prefix="media-check")
            if self._client is None:
                from shared.gcs import gcs_client

                self._client = gcs_client()
        self._slots.acquire()
        self._submitted += 1
        self._pool.submit(self._stat_and_queue, pending)
        self.drain()

    def drain(self) -> None:
        """Report every finished check (call from the scanning thread)."""
        while True:
            try:
                pending, stat = self._done.get_nowait()
            except queue.Empty:
                return
            self._drained += 1
            if len(self._cache) < CACHE_LIMIT:
                self._cache[pending.ref.uri] = stat
            self._report(pending, stat)

    def finish(self) -> None:
        """Wait for every check in flight, report them, and stop the pool."""
        while self._drained < self._submitted:
            pending, stat = self._done.get()
            self._drained += 1
            self._report(pending, stat)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _stat_and_queue(self, pending: _Pending) -> None:
        try:
            stat = self._stat(pending.ref.uri)
        finally:
            self._slots.release()
        self._done.put((pending, stat))

    def _stat(self, uri: str) -> ObjectStat:
        bucket, name = split_uri(uri)
        try:
            blob = self._client.bucket(bucket).get_blob(name, timeout=self._timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure to read metadata is reported per reference
            return ObjectStat(exists=False, size=None, error=f"{type(exc).__name__}: {str(exc)[:200]}")
        if blob is None:
            return ObjectStat(exists=False, size=None)
        return ObjectStat(exists=True, size=int(blob.size or 0))

    def _report(self, pending: _Pending, stat: ObjectStat) -> None:
        self.checked_objects += 1
        ref = pending.ref
        where = {"line": pending.line, "path": ref.path, "file": pending.file}
        if not stat.exists:
            reason = f" ({stat.error})" if stat.error else ""
            self._findings.add(Code.MEDIA_NOT_FOUND, f"{ref.uri[:200]} cannot be found{reason}", **where)
            return
        limit = MODALITY_LIMITS[ref.modality].max_bytes
        if limit is not None and stat.size is not None and stat.size > limit:
            self._findings.add(
                Code.MEDIA_TOO_LARGE,
                f"{ref.uri[:200]} is {stat.size / 1024 / 1024:.1f} MB; {ref.modality.value} files may be at most {limit // 1024 // 1024} MB",
                **where,
            )
