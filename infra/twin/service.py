"""The GenAiTuningService operations of the twin, independent of HTTP routing.

Each method takes already-routed parameters and returns the JSON body to answer (or raises
:class:`~infra.twin.errors.ApiError`). The Flask routes in ``infra.twin.routes`` are thin.
"""

from __future__ import annotations

import threading
from typing import Any

from infra.twin.config import TwinConfig
from infra.twin.engine import LocalBase
from infra.twin.engine_loader import EngineHolder
from infra.twin.errors import ApiError
from infra.twin.filters import parse_filter
from infra.twin.generation import generation_response, parse_generation_request
from infra.twin.jobs import DEFAULT_EPOCH_COUNT, DEFAULT_LEARNING_RATE_MULTIPLIER, JobRecord, lora_rank_for
from infra.twin.model_mapping import UnknownBaseModel, resolve_base_model
from infra.twin.progress import ProgressLog, metrics_response
from infra.twin.store import JobStore
from infra.twin.validation import parse_create_request
from infra.twin.wire import format_time, utc_now
from infra.twin.worker import CANCELLED_ERROR, Worker

__all__ = ["TuningService"]


class TuningService:
    """Create, get, list and cancel tuning jobs; generate from tuned endpoints; report progress."""

    def __init__(self, config: TwinConfig) -> None:
        self.config = config
        self.store = JobStore(config.data_dir)
        self.engines = EngineHolder(config)
        self.worker = Worker(self.store, self.engines, config)
        self._generate_lock = threading.Lock()  # the engine need not be re-entrant for inference

    def start(self) -> None:
        """Re-queue unfinished jobs from the data dir and start the worker threads."""
        self.worker.recover()
        self.worker.start()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self.worker.shutdown(timeout_s)

    # -- scope -------------------------------------------------------------------------------

    def check_parent(self, project: str, location: str) -> None:
        if self.config.projects is not None and project not in self.config.projects:
            raise ApiError.permission_denied(f"Permission denied on resource project {project} (not served by this twin).")
        if self.config.locations is not None and location not in self.config.locations:
            raise ApiError.invalid_argument(f"Location {location!r} is not supported by this twin.")

    # -- tuning jobs -------------------------------------------------------------------------

    def create(self, api_version: str, project: str, location: str, body: Any) -> dict[str, Any]:
        self.check_parent(project, location)
        request = parse_create_request(
            body, api_version=api_version, location=location, local_model=LocalBase(self.config.local_model)
        )
        now = format_time(utc_now())
        with self.store.lock:
            if self.config.quota_mode == "error":
                active = sum(1 for record in self.store.all() if not record.terminal)
                if active >= self.config.max_concurrent_jobs:
                    raise ApiError.resource_exhausted(
                        "Quota exceeded for aiplatform.googleapis.com/concurrent_tuning_jobs: "
                        f"{active} tuning job(s) already active; the limit is {self.config.max_concurrent_jobs}."
                    )
            record = JobRecord(
                job_id=self.store.new_id(),
                project=project,
                location=location,
                seq=self.store.next_seq(),
                api_version=api_version,
                base_model=request.base.requested,
                base_model_canonical=request.base.canonical,
                local_base=request.base.local_base.value,
                full_tuning=request.full_tuning,
                lora_rank=lora_rank_for(request.adapter_size),
                epochs=request.epoch_count or DEFAULT_EPOCH_COUNT,
                learning_rate_multiplier=(
                    request.learning_rate_multiplier
                    if request.learning_rate_multiplier is not None
                    else DEFAULT_LEARNING_RATE_MULTIPLIER
                ),
                training_dataset_uri=request.training_dataset_uri,
                validation_dataset_uri=request.validation_dataset_uri,
                adapter_size=request.adapter_size,
                tuning_mode=request.tuning_mode,
                batch_size=request.batch_size,
                export_last_checkpoint_only=request.export_last_checkpoint_only,
                tuned_model_display_name=request.tuned_model_display_name,
                description=request.description,
                labels=request.labels,
                service_account=request.service_account,
                encryption_spec=request.encryption_spec,
                state="JOB_STATE_PENDING",
                create_time=now,
                update_time=now,
            )
            self.store.add(record)
            wire = record.to_wire()
        self.worker.submit(record.job_id)
        return wire

    def get(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        self.check_parent(project, location)
        with self.store.lock:
            return self.store.find(project, location, job_id).to_wire()

    def local_base(self, project: str, location: str, job_id: str) -> str:
        with self.store.lock:
            return self.store.find(project, location, job_id).local_base

    def list(
        self, project: str, location: str, *, page_size: int | None, page_token: str | None, filter_text: str | None
    ) -> dict[str, Any]:
        self.check_parent(project, location)
        predicate = parse_filter(filter_text)
        with self.store.lock:
            page, next_token = self.store.list(
                project, location, predicate, page_size=page_size, page_token=page_token, filter_text=filter_text or ""
            )
            body: dict[str, Any] = {"tuningJobs": [record.to_wire() for record in page]}
        if next_token:
            body["nextPageToken"] = next_token
        return body

    def cancel(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        """Queued jobs end CANCELLED at once; running ones go CANCELLING until the engine stops."""
        self.check_parent(project, location)
        with self.store.lock:
            record = self.store.find(project, location, job_id)
            now = format_time(utc_now())
            if record.state in ("JOB_STATE_PENDING", "JOB_STATE_QUEUED"):
                record.state = "JOB_STATE_CANCELLED"
                record.error = dict(CANCELLED_ERROR)
                record.end_time = now
            elif record.state == "JOB_STATE_RUNNING":
                record.state = "JOB_STATE_CANCELLING"
            elif record.state == "JOB_STATE_CANCELLING":
                return {}
            else:
                raise ApiError.failed_precondition(f"TuningJob {record.name} is in state {record.state} and cannot be cancelled.")
            record.update_time = now
            self.store.save(record)
        return {}

    def metrics(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        """The twin extension ``GET .../tuningJobs/{id}:metrics``."""
        self.check_parent(project, location)
        with self.store.lock:
            record = self.store.find(project, location, job_id)
            local_base, state = record.local_base, record.state
        events = ProgressLog(self.store.progress_path(job_id)).read()
        return metrics_response(events, local_base=local_base, state=state)

    # -- endpoints ---------------------------------------------------------------------------

    def generate_with_base_model(self, project: str, location: str, model: str, body: Any) -> dict[str, Any]:
        """`publishers/google/models/{model}:generateContent`: the untuned local base that `model` maps to."""
        self.check_parent(project, location)
        try:
            resolved = resolve_base_model(model, LocalBase(self.config.local_model))
        except UnknownBaseModel as exc:
            raise ApiError.not_found(f"Publisher model {model} is not served by the twin.") from exc
        request = parse_generation_request(body)
        engine = self.engines.get()
        with self._generate_lock:
            result = engine.generate(None, resolved.local_base, request)
        return generation_response(result, model_version=resolved.canonical)

    def generate(self, project: str, location: str, endpoint_id: str, body: Any) -> dict[str, Any]:
        self.check_parent(project, location)
        record, checkpoint = self.store.find_endpoint(project, location, endpoint_id)
        request = parse_generation_request(body)
        path = self.store.checkpoint_path(record, checkpoint)
        engine = self.engines.get()
        with self._generate_lock:
            result = engine.generate(path, LocalBase(record.local_base), request)
        return generation_response(result, model_version=record.base_model_canonical)
