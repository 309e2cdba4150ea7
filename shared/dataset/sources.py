"""Streaming a dataset from a local path, file:// or gs:// URI, line by line, in flat memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK_BYTES = 4 * 1024 * 1024


class SourceError(Exception):
    """The dataset cannot be read at all (missing object, permission, bad URI): an I/O problem."""


@dataclass
class DatasetSource:
    """An opened dataset: its size and an iterator of raw byte chunks."""

    uri: str
    size: int
    chunks: Iterator[bytes]
    generation: int | None = None


def open_dataset(uri: str, *, storage_client: Any = None, max_bytes: int | None = None) -> DatasetSource:
    """Open a local path, `file://` URI or `gs://bucket/object` for streaming.

    `max_bytes` stops reading after that many bytes (a file over Vertex's size limit is scanned
    only up to the limit).
    """
    if uri.startswith("gs://"):
        return _open_gcs(uri, storage_client=storage_client, max_bytes=max_bytes)
    path = Path(uri[len("file://"):] if uri.startswith("file://") else uri)
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        raise SourceError(f"cannot read {uri}: {exc.strerror or exc}") from exc
    if path.is_dir():
        handle.close()
        raise SourceError(f"{uri} is a directory, not a JSONL file")
    return DatasetSource(uri=uri, size=size, chunks=_file_chunks(handle, max_bytes))


def _file_chunks(handle: Any, max_bytes: int | None) -> Iterator[bytes]:
    remaining = max_bytes
    with handle:
        while True:
            size = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
            if size <= 0:
                return
            chunk = handle.read(size)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _open_gcs(uri: str, *, storage_client: Any, max_bytes: int | None) -> DatasetSource:
    from shared.gcs import gcs_client, split_uri

    bucket_name, object_name = split_uri(uri)
    client = storage_client or gcs_client()
    from google.api_core import exceptions as gexc

    try:
        blob = client.bucket(bucket_name).get_blob(object_name)
    except (gexc.NotFound, gexc.Forbidden, gexc.BadRequest) as exc:
        raise SourceError(f"cannot read {uri}: {exc.message}") from exc
    # other API errors (429, 5xx, timeouts) are transient: they propagate so the caller retries
    if blob is None:
        raise SourceError(f"cannot read {uri}: no such object")
    return DatasetSource(
        uri=uri,
        size=int(blob.size or 0),
        chunks=_gcs_chunks(blob, max_bytes),
        generation=int(blob.generation) if blob.generation else None,
    )


def _gcs_chunks(blob: Any, max_bytes: int | None) -> Iterator[bytes]:
    # Pin the generation: a concurrent overwrite must fail the read, not mix two versions in one scan.
    with blob.open("rb", chunk_size=CHUNK_BYTES, if_generation_match=blob.generation) as reader:
        yield from _file_chunks(reader, max_bytes)


@dataclass(slots=True)
class RawLine:
    number: int  # 1-based
    data: bytes | None  # None when the line was longer than the cap (its bytes were discarded)
    length: int


def iter_lines(chunks: Iterator[bytes], *, max_line_bytes: int) -> Iterator[RawLine]:
    """Split byte chunks into lines (without the newline), never holding more than one capped line.

    A line longer than `max_line_bytes` is yielded with `data=None` and its true length, so a
    100 MB line costs no more memory than the cap.
    """
    number = 0
    pending: list[bytes] = []
    pending_len = 0
    overflow = False
    for chunk in chunks:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                piece = chunk[start:]
                if piece:
                    pending_len += len(piece)
                    if overflow or pending_len > max_line_bytes:
                        overflow = True
                        pending.clear()
                    else:
                        pending.append(piece)
                break
            piece = chunk[start:newline]
            number += 1
            total = pending_len + len(piece)
            if overflow or total > max_line_bytes:
                yield RawLine(number, None, total)
            elif pending:
                pending.append(piece)
                yield RawLine(number, b"".join(pending), total)
            else:
                yield RawLine(number, piece, total)
            pending.clear()
            pending_len = 0
            overflow = False
            start = newline + 1
    if pending_len:
        number += 1
        yield RawLine(number, None if overflow else b"".join(pending), pending_len)


def describe_size(size: int) -> str:
    """1536 -> "1.5 KB"; whole bytes below 1 KB."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"
