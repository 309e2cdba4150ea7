"""Copy a job's datasets (``gs://`` or ``file://``) into its folder before training.

``gs://`` objects are read through ``shared.gcs.gcs_client()``, so ``STORAGE_EMULATOR_HOST``
points the twin at the storage emulator exactly as it points the rest of tunewire there.
Copies are written to a temporary name and renamed, so a copy that exists is complete; a job
resumed after a restart reuses it.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from pathlib import Path

from shared.gcs import gcs_client, split_uri

__all__ = ["DatasetUnavailable", "fetch_dataset"]


class DatasetUnavailable(Exception):
    """The dataset could not be read (missing object or file, no access); the job fails with code 3."""


def fetch_dataset(uri: str, destination: Path) -> Path:
    """Copy ``uri`` to ``destination`` unless a complete copy is already there; return the path."""
    if destination.exists():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        if uri.startswith("gs://"):
            _download_gcs(uri, partial)
        elif uri.startswith("file://"):
            _copy_file(uri, partial)
        else:
            raise DatasetUnavailable(f"unsupported dataset URI {uri!r}")
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination


def _download_gcs(uri: str, target: Path) -> None:
    from google.api_core import exceptions as gexc

    bucket_name, object_name = split_uri(uri)
    try:
        blob = gcs_client().bucket(bucket_name).blob(object_name)
        blob.download_to_filename(str(target))
    except gexc.NotFound:
        raise DatasetUnavailable(f"Dataset {uri} does not exist or is not readable.") from None
    except gexc.GoogleAPICallError as exc:
        raise DatasetUnavailable(f"Dataset {uri} could not be read: {exc.message}") from None


def _copy_file(uri: str, target: Path) -> None:
    source = Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    if not source.is_file():
        raise DatasetUnavailable(f"Dataset {uri} does not exist or is not a file.")
    try:
        shutil.copyfile(source, target)
    except OSError as exc:
        raise DatasetUnavailable(f"Dataset {uri} could not be read: {exc.strerror or exc}") from None
