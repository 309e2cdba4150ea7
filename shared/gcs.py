"""Cloud Storage access shared by the validator, the functions and the local stack.

The same code talks to real GCS and to the storage emulator: when STORAGE_EMULATOR_HOST is set,
google-cloud-storage sends every request there, and no credentials are needed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any


class InvalidGcsUri(ValueError):
    pass


def split_uri(uri: str) -> tuple[str, str]:
    """("bucket", "object") for gs://bucket/object; raises InvalidGcsUri otherwise."""
    if not uri.startswith("gs://"):
        raise InvalidGcsUri(f"not a gs:// URI: {uri!r}")
    bucket, _, name = uri[5:].partition("/")
    if not bucket or not name:
        raise InvalidGcsUri(f"a gs:// URI needs a bucket and an object name: {uri!r}")
    return bucket, name


@lru_cache(maxsize=4)
def _cached_client(project: str | None, emulator: str | None) -> Any:
    from google.cloud import storage

    if emulator:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "local", credentials=AnonymousCredentials())
    return storage.Client(project=project)


def gcs_client() -> Any:
    """A google.cloud.storage.Client for this environment (one per project/emulator pair)."""
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
    return _cached_client(project, os.environ.get("STORAGE_EMULATOR_HOST"))
