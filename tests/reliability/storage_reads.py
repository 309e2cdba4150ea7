"""Which Cloud Storage objects the local stack read, from fake-gcs-server's request log.

Every component (the functions, the Vertex twin) reaches storage through fake-gcs-server, which
logs one line per request (`"GET /download/storage/v1/b/<bucket>/o/<object>?alt=media HTTP/1.1"`).
Reading that log is the one way to prove a negative such as "nothing outside the datasets bucket
was read": a job document only says what the pipeline meant to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

_READ = re.compile(r"\b(GET|HEAD) (/\S*) HTTP/")
_OBJECT_PATH = re.compile(r"/b/([^/?]+)(?:/o/([^?]*))?")


@dataclass(frozen=True)
class StorageRead:
    method: str
    bucket: str
    name: str | None  # None for bucket-level requests (listing, bucket metadata)


def storage_reads(log_path: Path) -> list[StorageRead]:
    """Every GET or HEAD fake-gcs-server logged that names a bucket, in order."""
    reads = []
    for method, path in _READ.findall(log_path.read_text(errors="replace")):
        found = _OBJECT_PATH.search(path)
        if found:
            name = found.group(2)
            reads.append(StorageRead(method, unquote(found.group(1)), unquote(name) if name is not None else None))
    return reads


def object_reads_outside(log_path: Path, bucket: str) -> list[StorageRead]:
    """Reads of objects (content or metadata) in any other bucket. Bucket-level requests are
    left out: writing a report first reads the reports bucket's own metadata."""
    return [read for read in storage_reads(log_path) if read.bucket != bucket and read.name is not None]
