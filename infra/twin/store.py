"""The persistent job store: one folder per job under ``<data_dir>/jobs/<job id>/``.

Layout of a job folder::

    job.json          the JobRecord, replaced atomically (temp file + fsync + rename) on every change
    data/train.jsonl  the downloaded copy of the training dataset
    data/validation.jsonl  the validation dataset copy, when one was given
    output/           the engine's output_dir: checkpoints/, its own metrics and stats
    progress.jsonl    the twin's progress log (steps, checkpoints, resumes) behind the :metrics extension

Records live in memory behind one re-entrant lock (``store.lock``); callers mutate a record while
holding it and then call ``save``. Listing is newest first, paginated with opaque page tokens
that stay valid while new jobs are created.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from infra.twin.errors import ApiError
from infra.twin.jobs import CheckpointRecord, JobRecord

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "JobStore", "write_json_atomic"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_log = logging.getLogger(__name__)


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to ``path`` so that readers (and a crash) see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class JobStore:
    """Job records on disk and in memory, plus the endpoint index of succeeded jobs."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._jobs: dict[str, JobRecord] = {}
        self._endpoints: dict[str, tuple[str, str]] = {}  # endpoint id -> (job id, checkpoint id)
        self._taken_ids: set[str] = set()
        self._seq = 0
        self._load()

    # -- folders -----------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def output_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "output"

    def dataset_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "data"

    def progress_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "progress.jsonl"

    def checkpoint_path(self, record: JobRecord, checkpoint: CheckpointRecord) -> Path:
        path = Path(checkpoint.path)
        return path if path.is_absolute() else self.job_dir(record.job_id) / path

    # -- records -----------------------------------------------------------------------------

    def _load(self) -> None:
        for job_file in sorted(self.jobs_dir.glob("*/job.json")):
            for stale in job_file.parent.glob(".job.json.*.tmp"):
                stale.unlink(missing_ok=True)
            try:
                record = JobRecord.from_json(json.loads(job_file.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                _log.error("skipping unreadable job record %s: %s", job_file, exc)
                continue
            self._jobs[record.job_id] = record
            self._taken_ids.add(record.job_id)
            self._seq = max(self._seq, record.seq)
            self._index(record)

    def _index(self, record: JobRecord) -> None:
        if record.model_id:
            self._taken_ids.add(record.model_id)
        for checkpoint in record.checkpoints:
            if checkpoint.endpoint_id:
                self._taken_ids.add(checkpoint.endpoint_id)
                if record.state == "JOB_STATE_SUCCEEDED":
                    self._endpoints[checkpoint.endpoint_id] = (record.job_id, checkpoint.checkpoint_id)

    def new_id(self) -> str:
        """A fresh numeric resource id (19 digits, like Vertex's), unique among jobs, models, endpoints."""
        with self.lock:
            while True:
                candidate = str(secrets.randbelow(9 * 10**18) + 10**18)
                if candidate not in self._taken_ids:
                    self._taken_ids.add(candidate)
                    return candidate

    def next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    def add(self, record: JobRecord) -> None:
        with self.lock:
            self._jobs[record.job_id] = record
            self._taken_ids.add(record.job_id)
            self.save(record)

    def save(self, record: JobRecord) -> None:
        """Persist ``record`` atomically and refresh the endpoint index."""
        with self.lock:
            write_json_atomic(self.job_dir(record.job_id) / "job.json", record.to_json())
            self._index(record)

    def get(self, job_id: str) -> JobRecord | None:
        with self.lock:
            return self._jobs.get(job_id)

    def find(self, project: str, location: str, job_id: str) -> JobRecord:
        """The record of ``projects/{project}/locations/{location}/tuningJobs/{job_id}`` or a 404."""
        with self.lock:
            record = self._jobs.get(job_id)
            if record is None or record.project != project or record.location != location:
                raise ApiError.not_found(f"TuningJob projects/{project}/locations/{location}/tuningJobs/{job_id} not found.")
            return record

    def all(self) -> list[JobRecord]:
        """Every record, oldest first."""
        with self.lock:
            return sorted(self._jobs.values(), key=lambda record: record.seq)

    def find_endpoint(self, project: str, location: str, endpoint_id: str) -> tuple[JobRecord, CheckpointRecord]:
        """The succeeded job and checkpoint behind an endpoint, or a 404."""
        with self.lock:
            entry = self._endpoints.get(endpoint_id)
            record = self._jobs.get(entry[0]) if entry else None
            if entry is None or record is None or record.project != project or record.location != location:
                raise ApiError.not_found(f"Endpoint projects/{project}/locations/{location}/endpoints/{endpoint_id} not found.")
            checkpoint = next(c for c in record.checkpoints if c.checkpoint_id == entry[1])
            return record, checkpoint

    # -- listing -----------------------------------------------------------------------------

    def list(
        self,
        project: str,
        location: str,
        predicate: Callable[[JobRecord], bool],
        *,
        page_size: int | None,
        page_token: str | None,
        filter_text: str = "",
    ) -> tuple[list[JobRecord], str | None]:
        """One page of matching jobs, newest first, and the token of the next page (or None)."""
        if page_size is None or page_size == 0:
            page_size = DEFAULT_PAGE_SIZE
        if page_size < 0:
            raise ApiError.invalid_argument(f"pageSize must not be negative; got {page_size}.")
        page_size = min(page_size, MAX_PAGE_SIZE)
        fingerprint = hashlib.sha256(f"{project}/{location}?{filter_text}".encode()).hexdigest()[:12]
        before = self._decode_token(page_token, fingerprint) if page_token else None
        with self.lock:
            newest_first = sorted(self._jobs.values(), key=lambda record: record.seq, reverse=True)
            matching = [
                record
                for record in newest_first
                if record.project == project
                and record.location == location
                and (before is None or record.seq < before)
                and predicate(record)
            ]
        page = matching[:page_size]
        more = len(matching) > page_size
        return page, (self._encode_token(page[-1].seq, fingerprint) if more else None)

    @staticmethod
    def _encode_token(seq: int, fingerprint: str) -> str:
        raw = json.dumps({"before": seq, "query": fingerprint}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str, fingerprint: str) -> int:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            seq = int(data["before"])
            query = data["query"]
        except (ValueError, KeyError, TypeError):
            raise ApiError.invalid_argument("Invalid pageToken.") from None
        if query != fingerprint:
            raise ApiError.invalid_argument("The pageToken does not belong to this list request (parent or filter changed).")
        return seq
