"""Proof that no webhook signing secret was written where it must never be: a log line or a
Firestore document.

Secrets live only in the secret store (Secret Manager; a 0600 file on the local stack). Every
stack the tests start is scanned at teardown (tests/e2e/conftest.py) for every secret used with
it, in every form a careless line of code could write: the whole ``whsec_<base64>`` secret, its
base64 body (padded or not, standard or URL-safe alphabet) and the raw key bytes. A hit names the
file and line, or the document, and only the first characters of the secret — never the secret.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.webhooks.signing import secret_bytes

SHOWN_SECRET_CHARS = 10  # "whsec_" and the first 4 characters of the body


@dataclass(frozen=True)
class Needle:
    """One form of one secret to look for."""

    form: str
    value: bytes
    secret_prefix: str


@dataclass(frozen=True)
class SecretHit:
    where: str  # "log <file>:<line>" or "firestore <document path>"
    form: str
    secret_prefix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.form} of the secret {self.secret_prefix}..."


@dataclass
class ScanReport:
    """What was scanned and what was found; ``describe`` is safe to print."""

    secrets: int = 0
    log_files: int = 0
    log_lines: int = 0
    documents: int = 0
    collections: int = 0
    hits: list[SecretHit] = field(default_factory=list)
    file_names: list[str] = field(default_factory=list)  # relative to the scanned folder
    collection_paths: list[str] = field(default_factory=list)

    def merge(self, other: ScanReport) -> ScanReport:
        return ScanReport(
            secrets=max(self.secrets, other.secrets),
            log_files=self.log_files + other.log_files,
            log_lines=self.log_lines + other.log_lines,
            documents=self.documents + other.documents,
            collections=self.collections + other.collections,
            hits=[*self.hits, *other.hits],
            file_names=[*self.file_names, *other.file_names],
            collection_paths=[*self.collection_paths, *other.collection_paths],
        )

    def describe(self) -> str:
        scanned = (
            f"{self.secrets} secrets checked in {self.log_files} log files ({self.log_lines} lines) "
            f"and {self.documents} documents of {self.collections} collections"
        )
        if not self.hits:
            return f"no secret found: {scanned}"
        listed = "\n".join(f"  {hit}" for hit in self.hits[:50])
        return f"webhook signing secrets written where they must never be, {len(self.hits)} hit(s) ({scanned}):\n{listed}"


def well_formed(secrets: Iterable[str]) -> list[str]:
    """The distinct secrets that are real ``whsec_`` secrets (anything else is no key)."""
    kept = []
    for secret in dict.fromkeys(secrets):
        try:
            secret_bytes(secret)
        except ValueError:
            continue
        kept.append(secret)
    return kept


def needles_for(secrets: Iterable[str]) -> list[Needle]:
    """Every form of every secret worth looking for."""
    needles: list[Needle] = []
    for secret in well_formed(secrets):
        key = secret_bytes(secret)
        prefix = secret[:SHOWN_SECRET_CHARS]
        body = base64.b64encode(key).decode("ascii")
        forms = {"whole secret": secret, "base64 body": body.rstrip("=")}
        url_safe = base64.urlsafe_b64encode(key).decode("ascii").rstrip("=")
        if url_safe != forms["base64 body"]:
            forms["url-safe base64 body"] = url_safe
        needles.extend(Needle(form, text.encode("ascii"), prefix) for form, text in forms.items())
        needles.append(Needle("raw key", key, prefix))
    return needles


def secrets_in_file(path: Path) -> list[str]:
    """The secrets held by a local secret store file (``{endpoint_id: [secret, ...]}``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return []
    return [secret for secrets in data.values() for secret in secrets]


def _found(haystack: bytes, needles: list[Needle]) -> Iterator[tuple[Needle, int]]:
    seen: set[tuple[str, str]] = set()
    for needle in needles:
        at = haystack.find(needle.value)
        if at >= 0 and (needle.secret_prefix, needle.form) not in seen:
            seen.add((needle.secret_prefix, needle.form))
            yield needle, at


def scan_logs(folder: Path, secrets: Iterable[str]) -> ScanReport:
    """Every file under ``folder`` (every component's log), read as bytes."""
    secrets = well_formed(secrets)
    needles = needles_for(secrets)
    report = ScanReport(secrets=len(secrets))
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        report.log_files += 1
        report.file_names.append(str(path.relative_to(folder)))
        report.log_lines += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        for needle, at in _found(data, needles):
            line = data.count(b"\n", 0, at) + 1
            report.hits.append(SecretHit(f"log {path.relative_to(folder)}:{line}", needle.form, needle.secret_prefix))
    return report


def _pieces(value: Any) -> Iterator[bytes]:
    """Every string and bytes value (and key) inside a document's data, as bytes."""
    if isinstance(value, str):
        yield value.encode("utf-8", "surrogatepass")
    elif isinstance(value, (bytes, bytearray)):
        yield bytes(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key).encode("utf-8", "surrogatepass")
            yield from _pieces(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _pieces(item)
    elif value is not None and not isinstance(value, (bool, int, float)):
        yield str(value).encode("utf-8", "surrogatepass")  # timestamps, references, geo points


def _walk(collections: Iterable[Any], report: ScanReport, needles: list[Needle]) -> None:
    for collection in collections:
        report.collections += 1
        report.collection_paths.append(_collection_path(collection))
        for reference in collection.list_documents():
            snapshot = reference.get()
            if snapshot.exists:
                report.documents += 1
                haystack = b"\x00".join([reference.path.encode(), *_pieces(snapshot.to_dict())])
            else:  # a document that only holds subcollections: its id can still leak
                haystack = reference.path.encode()
            for needle, _ in _found(haystack, needles):
                report.hits.append(SecretHit(f"firestore {reference.path}", needle.form, needle.secret_prefix))
            _walk(reference.collections(), report, needles)


def _collection_path(collection: Any) -> str:
    parent = collection.parent  # the document holding a subcollection; None at the top
    return collection.id if parent is None else f"{parent.path}/{collection.id}"


def scan_firestore(client: Any, secrets: Iterable[str]) -> ScanReport:
    """Every document of every collection the client can list, subcollections included."""
    secrets = well_formed(secrets)
    needles = needles_for(secrets)
    report = ScanReport(secrets=len(secrets))
    _walk(client.collections(), report, needles)
    return report
