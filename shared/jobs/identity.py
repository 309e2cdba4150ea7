"""Job ids derived from the upload, so every redelivery of one upload names the same job.

The id doubles as a Vertex AI label value (`labels.tunewire-job`): lowercase letters, digits,
`-` and `_`, at most 63 characters, starting with a letter.
"""

from __future__ import annotations

import hashlib
import re

MAX_ID_LENGTH = 63
_HASH_CHARS = 16
_NOT_LABEL_SAFE = re.compile(r"[^a-z0-9]+")


def job_id_for_upload(bucket: str, object_name: str, generation: int | str) -> str:
    """`<readable stem>-<16 hex of sha256(bucket/object#generation)>`, stable and label-safe."""
    digest = hashlib.sha256(f"{bucket}/{object_name}#{generation}".encode("utf-8", "surrogatepass")).hexdigest()
    stem = object_name.rsplit("/", 1)[-1]
    for suffix in (".jsonl", ".tunewire.json", ".json"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    slug = _NOT_LABEL_SAFE.sub("-", stem.lower()).strip("-")
    room = MAX_ID_LENGTH - _HASH_CHARS - 1
    slug = slug[:room].rstrip("-")
    if not slug or not slug[0].isalpha():
        slug = f"j{slug}"[:room].rstrip("-")
    return f"{slug}-{digest[:_HASH_CHARS]}"
