"""`tunewire submit`: upload a dataset with its tuning settings as object metadata; the pipeline
does the rest (validate, launch, poll, notify).

Objects land at `<prefix>/<run id>/<file name>` in the datasets bucket; a validation file is
uploaded first, marked `tunewire-role: data` so it starts no job of its own, and the training
file's `tunewire-validation` points at it. The job id follows from (bucket, object,
generation), exactly as the pipeline computes it.

Exit codes: 0 submitted (or SUCCEEDED with --wait), 1 INVALID/FAILED/CANCELLED, 2 usage, I/O
or timeout.
"""

from __future__ import annotations

import mimetypes
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from shared.model_catalog import TuningMode
from shared.uploads.settings import METADATA_PREFIX, ROLE_DATA
from tunewire import job_common, job_live
from tunewire.console import console, err_console, fail


def run_id(now: datetime | None = None) -> str:
    """`20250102T030405Z-1a2b3c`: sortable by time, unique by its random tail."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def object_name(prefix: str, run: str, file_name: str) -> str:
    return "/".join(part for part in (prefix.strip("/"), run, file_name) if part)


def tuning_metadata(
    *,
    base_model: str | None,
    epochs: int | None,
    adapter_size: int | None,
    learning_rate_multiplier: float | None,
    display_name: str | None,
    tuning_mode: TuningMode | None,
    webhook: str | None,
    validation_uri: str | None,
) -> dict[str, str]:
    """The `tunewire-*` metadata for the options given (the deployment's defaults fill the rest)."""
    values: dict[str, Any] = {
        "base-model": base_model,
        "epochs": epochs,
        "adapter-size": adapter_size,
        "learning-rate-multiplier": learning_rate_multiplier,
        "display-name": display_name,
        "tuning-mode": tuning_mode.value if tuning_mode is not None else None,
        "webhook": webhook,
        "validation": validation_uri,
    }
    return {f"{METADATA_PREFIX}{key}": str(value) for key, value in values.items() if value is not None}


def _content_type(path: Path) -> str:
    if path.name.lower().endswith(".jsonl"):
        return "application/jsonl"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _readable_file(path: Path, what: str) -> Path:
    if not path.exists():
        fail(f"cannot read {what} {path}: no such file")
    if not path.is_file():
        fail(f"cannot read {what} {path}: not a file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror or exc}")
    return path


def _upload(storage: Any, bucket: str, name: str, path: Path, metadata: dict[str, str]) -> int:
    """Upload a new object (never overwriting one) and return its generation."""
    blob = storage.bucket(bucket).blob(name)
    blob.metadata = metadata
    blob.upload_from_filename(str(path), content_type=_content_type(path), if_generation_match=0)
    if blob.generation is None:
        blob.reload()
    return int(blob.generation)


def submit(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="Training dataset (JSONL) to upload.", show_default=False)],
    validation: Annotated[Optional[Path], typer.Option("--validation", help="Validation JSONL, uploaded beside it.")] = None,
    base_model: Annotated[Optional[str], typer.Option("--base-model", help="Base model (default: the deployment's).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="Epochs.")] = None,
    adapter_size: Annotated[Optional[int], typer.Option("--adapter-size", min=1, help="Adapter size (1, 2, 4, 8, 16, 32).")] = None,
    learning_rate_multiplier: Annotated[
        Optional[float], typer.Option("--learning-rate-multiplier", help="Learning-rate multiplier (above 0).")
    ] = None,
    display_name: Annotated[Optional[str], typer.Option("--display-name", help="Tuned model display name.")] = None,
    tuning_mode: Annotated[Optional[TuningMode], typer.Option("--tuning-mode", help="adapter (Gemini) or full (open models).")] = None,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="An http(s) URL told about this job's events.")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Folder for the upload (webhook endpoints filter on it).")] = "",
    bucket: Annotated[Optional[str], typer.Option("--bucket", help="Bucket (default: TUNEWIRE_DATASETS_BUCKET).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job until it ends.")] = False,
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=0, help="With --wait: give up after this many seconds (exit 2).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job document (or the submission) as JSON, nothing else.")] = False,
) -> None:
    """Upload a dataset with tuning settings; print the job id (and, with --wait, follow it)."""
    _readable_file(path, "the dataset")
    from shared.uploads.notification import ObjectKind, classify_object

    if classify_object(path.name) is ObjectKind.IGNORED:
        fail(f"{path.name}: tunewire starts jobs for *.jsonl datasets and *.tunewire.json manifests only")
    if validation is not None:
        _readable_file(validation, "the validation file")
    if webhook is not None and not webhook.lower().startswith(("http://", "https://")):
        fail(f"--webhook must be an http(s) URL, not {webhook!r}")
    if learning_rate_multiplier is not None and not 0 < learning_rate_multiplier < float("inf"):
        fail("--learning-rate-multiplier must be a positive number")
    if display_name is not None and not display_name.strip():
        fail("--display-name must not be empty")

    clients = job_common.load_clients()
    target = bucket or clients.settings.datasets_bucket
    if not target:
        fail("no datasets bucket: pass --bucket, set TUNEWIRE_DATASETS_BUCKET or start the local stack (`tunewire up --detach`)")
    run = run_id()
    name = object_name(prefix, run, path.name)

    from shared.jobs.identity import job_id_for_upload

    validation_uri = None
    storage = clients.storage
    if validation is not None:
        validation_name = object_name(prefix, run, validation.name if validation.name != path.name else f"validation-{validation.name}")
        with job_common.io_errors(f"uploading gs://{target}/{validation_name}"):
            _upload(storage, target, validation_name, validation, {f"{METADATA_PREFIX}role": ROLE_DATA})
        validation_uri = f"gs://{target}/{validation_name}"

    metadata = tuning_metadata(
        base_model=base_model,
        epochs=epochs,
        adapter_size=adapter_size,
        learning_rate_multiplier=learning_rate_multiplier,
        display_name=display_name,
        tuning_mode=tuning_mode,
        webhook=webhook,
        validation_uri=validation_uri,
    )
    with job_common.io_errors(f"uploading gs://{target}/{name}"):
        generation = _upload(storage, target, name, path, metadata)
    job_id = job_id_for_upload(target, name, generation)
    submission = {
        "id": job_id,
        "state": None,
        "source": {"bucket": target, "name": name, "generation": str(generation), "uri": f"gs://{target}/{name}"},
        "validation_uri": validation_uri,
        "metadata": metadata,
    }

    if as_json:
        err_console.print(f"submitted job {job_id} (gs://{target}/{name})", highlight=False, soft_wrap=True, markup=False)
    else:
        typer.echo(job_id)
        err_console.print(f"uploaded gs://{target}/{name}" + (f" with validation {validation_uri}" if validation_uri else ""),
                          highlight=False, soft_wrap=True, markup=False)
    if not wait:
        if as_json:
            job_common.print_json(submission)
        return

    result = job_live.follow(job_id, clients=clients, console=err_console if as_json else console, timeout_s=timeout)
    job_live.finish(result, console=console, as_json=as_json, timeout_s=timeout, fallback=submission)
