"""What happens when a dataset or manifest lands in the bucket: create the job, validate, record,
then (after the commit) publish.

Idempotent under redelivery: the job id comes from (bucket, object, generation); the job is
created once; a redelivery that finds the job VALIDATED or INVALID re-publishes (downstream is
idempotent) and a later state means there is nothing left to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.dataset import Code, ValidationOptions, ValidationReport, validate_dataset
from shared.faults import crash_point
from shared.jobs.identity import job_id_for_upload
from shared.jobs.states import JobState
from shared.jobs.store import JobStore
from shared.uploads.notification import ObjectKind, ObjectUpload
from shared.uploads.settings import (
    MAX_MANIFEST_BYTES,
    SettingProblem,
    TuningSettings,
    default_settings,
    is_data_only,
    parse_manifest,
    settings_from_metadata,
)

log = logging.getLogger("tunewire.validate")

FINALIZE = "OBJECT_FINALIZE"


@dataclass(frozen=True)
class UploadOutcome:
    action: str  # ignored | validated | invalid | republished | already_done
    job_id: str | None
    reason: str


@dataclass
class _ResolvedUpload:
    settings: TuningSettings
    training_uri: str | None
    problems: list[SettingProblem]


def handle_upload(
    upload: ObjectUpload,
    *,
    settings: Settings,
    store: JobStore,
    bus: Any,
    storage_client: Any,
    tokenizer: Any = None,
) -> UploadOutcome:
    """Turn one storage notification into a validated (or invalid) job."""
    ignored = _why_ignored(upload, settings)
    if ignored:
        return UploadOutcome("ignored", None, ignored)

    job_id = job_id_for_upload(upload.bucket, upload.name, upload.generation)
    source = {
        "bucket": upload.bucket,
        "name": upload.name,
        "generation": str(upload.generation),
        "uri": upload.uri,
        "kind": upload.kind.value,
        "size": upload.size,
    }
    document, _ = store.create_if_absent(job_id, {"source": source}, reason=f"{upload.kind.value} uploaded")
    state = JobState(document["state"])
    if state is JobState.RECEIVED:
        store.transition(job_id, JobState.VALIDATING, reason="validation started")
    elif state is not JobState.VALIDATING:
        return _republish(job_id, state, document, bus)
    attempts = int(document.get("validation_attempts") or 0)
    if attempts >= settings.max_validation_attempts:
        return _abandon(job_id, attempts, store, bus)
    store.update(job_id, {"validation_attempts": attempts + 1})

    resolved = _resolve_settings(upload, settings, storage_client)
    report = validate_dataset(
        resolved.training_uri,
        validation_uri=resolved.settings.validation_uri,
        options=ValidationOptions(
            model=resolved.settings.base_model,
            epochs=resolved.settings.epochs,
            adapter_size=resolved.settings.adapter_size,
            learning_rate_multiplier=resolved.settings.learning_rate_multiplier,
            tuning_mode=resolved.settings.tuning_mode,
            allow_discontinued=settings.allow_discontinued_models,
            unreadable_files_are_findings=True,
        ),
        tokenizer=tokenizer,
        storage_client=storage_client,
        preflight=[(Code(p.code), p.key, p.message) for p in resolved.problems],
    )
    report_uri = _write_report(job_id, report, settings, storage_client)
    wanted = JobState.VALIDATED if report.valid else JobState.INVALID
    reason = _verdict(report)
    result = store.transition(
        job_id,
        wanted,
        reason=reason,
        updates={
            "settings": resolved.settings.to_document(),
            "training_uri": resolved.training_uri,
            "validation": report.summary(),
            "report_uri": report_uri,
        },
        only_from=[JobState.VALIDATING],
    )
    if not result.changed:  # a concurrent delivery decided first; it publishes
        return UploadOutcome("already_done", job_id, result.refused or "decided elsewhere")
    crash_point("validate.after_verdict_commit")
    _publish(job_id, wanted, reason, bus)
    return UploadOutcome("validated" if report.valid else "invalid", job_id, reason)


VALIDATION_DID_NOT_FINISH = "VALIDATION_DID_NOT_FINISH"


def _abandon(job_id: str, attempts: int, store: JobStore, bus: Any) -> UploadOutcome:
    """Validation started `attempts` times and never finished (the function crashed or timed out
    on this upload each time): end the job INVALID with a coded reason instead of retrying forever."""
    reason = (f"{VALIDATION_DID_NOT_FINISH}: validation started {attempts} times and never finished "
              "(the function crashed or ran out of time on this upload); split or fix the file and upload it again")
    result = store.transition(job_id, JobState.INVALID, reason=reason,
                              updates={"error": {"code": VALIDATION_DID_NOT_FINISH, "message": reason}},
                              only_from=[JobState.VALIDATING])
    if result.changed:
        bus.job_state_changed(job_id, JobState.INVALID.value, reason)
    return UploadOutcome("invalid", job_id, reason)


def _why_ignored(upload: ObjectUpload, settings: Settings) -> str | None:
    if settings.datasets_bucket and upload.bucket != settings.datasets_bucket:
        return f"{upload.bucket} is not the datasets bucket ({settings.datasets_bucket})"
    if upload.event_type != FINALIZE:
        return f"{upload.event_type} events start no job"
    if upload.kind is ObjectKind.IGNORED:
        return f"{upload.name} is neither a dataset (*.jsonl) nor a manifest (*.tunewire.json)"
    if upload.kind is ObjectKind.DATASET and is_data_only(upload.metadata):
        return f"{upload.name} is marked tunewire-role=data (referenced by another upload)"
    return None


def _resolve_settings(upload: ObjectUpload, settings: Settings, storage_client: Any) -> _ResolvedUpload:
    """Deployment defaults, then the manifest (if this is one), then the object's own metadata."""
    current = default_settings(settings)
    problems: list[SettingProblem] = []
    training_uri: str | None = upload.uri
    if upload.kind is ObjectKind.MANIFEST:
        raw = _read_manifest(upload, storage_client)
        if raw is None:
            gone = SettingProblem("INVALID_MANIFEST", "manifest", f"{upload.uri} (generation {upload.generation}) no longer exists")
            return _ResolvedUpload(current, None, [gone])
        manifest, current, problems = parse_manifest(raw, bucket=upload.bucket, manifest_name=upload.name, base=current)
        training_uri = manifest.training_uri if manifest else None
    current, more = settings_from_metadata(upload.metadata, current)
    return _ResolvedUpload(current, training_uri, problems + more)


def _read_manifest(upload: ObjectUpload, storage_client: Any) -> bytes | None:
    """The manifest's bytes, or None when that generation no longer exists (a permanent fault:
    the job ends INVALID at once instead of being retried)."""
    from google.api_core.exceptions import NotFound

    blob = storage_client.bucket(upload.bucket).blob(upload.name, generation=upload.generation)
    try:
        # read one byte past the cap so an oversized manifest is recognised without reading it all
        return blob.download_as_bytes(start=0, end=MAX_MANIFEST_BYTES)
    except NotFound:
        return None


def _write_report(job_id: str, report: ValidationReport, settings: Settings, storage_client: Any) -> str:
    name = f"reports/{job_id}.json"
    blob = storage_client.bucket(settings.reports_bucket).blob(name)
    blob.upload_from_string(report.to_json(indent=True), content_type="application/json")
    return f"gs://{settings.reports_bucket}/{name}"


def _verdict(report: ValidationReport) -> str:
    if report.valid:
        return f"valid: {report.examples:,} examples, {report.tokens.total:,} tokens per epoch"
    first = report.errors[0] if report.errors else None
    where = f" (line {first['line']})" if first and first.get("line") else ""
    headline = f"{first['code']}{where}: {first['message']}" if first else "invalid"
    return f"{sum(report.error_counts.values()):,} errors; first {headline}"


def _publish(job_id: str, state: JobState, reason: str, bus: Any) -> None:
    if state is JobState.VALIDATED:
        bus.request_tuning(job_id)
    bus.job_state_changed(job_id, state.value, reason)


def _republish(job_id: str, state: JobState, document: dict[str, Any], bus: Any) -> UploadOutcome:
    if state in (JobState.VALIDATED, JobState.INVALID):
        reason = document.get("history", [{}])[-1].get("reason", "")
        _publish(job_id, state, reason, bus)
        return UploadOutcome("republished", job_id, f"job already {state.value}; messages published again")
    return UploadOutcome("already_done", job_id, f"job is {state.value}")
