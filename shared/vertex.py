"""Vertex AI tuning jobs through Google's own client (REST transport), for the cloud and the twin.

Only launch_tuning and poll_jobs import this module (aiplatform_v1 costs about a second to import).
Every call carries a timeout. Reads and cancels (idempotent) are retried here, with exponential
backoff, on the answers Vertex gives when it is briefly unwell (429, 500, 503, 504, timeouts,
dropped connections); a create is never retried here: its retry is Pub/Sub's redelivery of the
tuning request, which looks for the labelled job before creating again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.model_catalog import TuningMode

JOB_LABEL = "tunewire-job"

_ADAPTER_WORDS = {1: "ONE", 2: "TWO", 4: "FOUR", 8: "EIGHT", 16: "SIXTEEN", 32: "THIRTY_TWO"}

# Vertex JobState name -> is it finished?
ENDED_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


class QuotaExhausted(Exception):
    """Vertex refused for quota (429 / RESOURCE_EXHAUSTED): wait and try again, never fail the job."""


class PermanentVertexError(Exception):
    """Vertex refused the request for good (400, 403, 404, ...): the job fails with this message."""


@dataclass(frozen=True)
class VertexJob:
    """The parts of a TuningJob tunewire records (plain values, no proto objects)."""

    name: str
    state: str  # JOB_STATE_* name
    error_code: int | None = None
    error_message: str | None = None
    tuned_model: str | None = None
    endpoint: str | None = None
    checkpoints: tuple[dict[str, Any], ...] = ()
    data_stats: dict[str, Any] | None = None
    create_time: str | None = None
    end_time: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES


def _client(settings: Settings, *, beta: bool) -> Any:
    endpoint = settings.vertex_api_endpoint
    options = {"api_endpoint": endpoint}
    kwargs: dict[str, Any] = {"transport": "rest", "client_options": options}
    if endpoint.startswith("http://"):  # the local twin: no credentials needed or sent
        from google.auth.credentials import AnonymousCredentials

        kwargs["credentials"] = AnonymousCredentials()
    if beta:
        from google.cloud import aiplatform_v1beta1 as aiplatform

        return aiplatform, aiplatform.GenAiTuningServiceClient(**kwargs)
    from google.cloud import aiplatform_v1 as aiplatform

    return aiplatform, aiplatform.GenAiTuningServiceClient(**kwargs)


def transient_retry(settings: Settings) -> Any:
    """The retry for idempotent calls: 0.5 s, 1 s, 2 s, 4 s... within twice the call timeout."""
    import requests
    from google.api_core import exceptions as gexc
    from google.api_core import retry

    transient = retry.if_exception_type(
        gexc.TooManyRequests, gexc.ResourceExhausted, gexc.InternalServerError, gexc.ServiceUnavailable,
        gexc.GatewayTimeout, gexc.DeadlineExceeded, requests.exceptions.ConnectionError, requests.exceptions.Timeout,
    )  # fmt: skip
    return retry.Retry(predicate=transient, initial=0.5, maximum=4.0, multiplier=2.0, timeout=2 * settings.vertex_timeout_s)


def _translate(exc: Exception) -> Exception:
    from google.api_core import exceptions as gexc

    if isinstance(exc, (gexc.ResourceExhausted, gexc.TooManyRequests)):
        return QuotaExhausted(str(exc.message if hasattr(exc, "message") else exc))
    if isinstance(exc, (gexc.BadRequest, gexc.InvalidArgument, gexc.NotFound, gexc.PermissionDenied, gexc.FailedPrecondition, gexc.Forbidden)):
        return PermanentVertexError(f"{exc.code}: {exc.message}")
    return exc


class VertexTuning:
    """Create, find, get and cancel tuning jobs in one project and region."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._parent = f"projects/{settings.project}/locations/{settings.region}"
        self._v1: tuple[Any, Any] | None = None
        self._beta: tuple[Any, Any] | None = None
        self._retry: Any = None

    def _api(self, beta: bool = False) -> tuple[Any, Any]:
        if beta:
            self._beta = self._beta or _client(self._settings, beta=True)
            return self._beta
        self._v1 = self._v1 or _client(self._settings, beta=False)
        return self._v1

    @property
    def _transient_retry(self) -> Any:
        if self._retry is None:
            self._retry = transient_retry(self._settings)
        return self._retry

    def create(self, *, job_id: str, job_settings: dict[str, Any], training_uri: str) -> VertexJob:
        """CreateTuningJob labelled with our job id; full tuning goes through v1beta1."""
        mode = TuningMode(job_settings.get("tuning_mode") or TuningMode.ADAPTER.value)
        aiplatform, client = self._api(beta=mode is TuningMode.FULL)
        hyper: dict[str, Any] = {}
        if job_settings.get("epochs"):
            hyper["epoch_count"] = int(job_settings["epochs"])
        if job_settings.get("learning_rate_multiplier"):
            hyper["learning_rate_multiplier"] = float(job_settings["learning_rate_multiplier"])
        if job_settings.get("adapter_size"):
            word = _ADAPTER_WORDS[int(job_settings["adapter_size"])]
            hyper["adapter_size"] = aiplatform.SupervisedHyperParameters.AdapterSize[f"ADAPTER_SIZE_{word}"]
        spec: dict[str, Any] = {
            "training_dataset_uri": training_uri,
            "hyper_parameters": aiplatform.SupervisedHyperParameters(**hyper),
        }
        if job_settings.get("validation_uri"):
            spec["validation_dataset_uri"] = job_settings["validation_uri"]
        if mode is TuningMode.FULL:
            spec["tuning_mode"] = aiplatform.SupervisedTuningSpec.TuningMode.TUNING_MODE_FULL
        tuning_job = aiplatform.TuningJob(
            base_model=job_settings["base_model"],
            supervised_tuning_spec=aiplatform.SupervisedTuningSpec(**spec),
            tuned_model_display_name=(job_settings.get("display_name") or job_id)[:128],
            labels={JOB_LABEL: job_id},
            service_account=self._settings.tuning_service_account or None,
        )
        try:
            created = client.create_tuning_job(parent=self._parent, tuning_job=tuning_job, timeout=self._settings.vertex_timeout_s)
        except Exception as exc:  # noqa: BLE001 - translated, then re-raised
            raise _translate(exc) from exc
        return _to_vertex_job(created)

    def find_by_label(self, job_id: str) -> VertexJob | None:
        """The Vertex job carrying `labels.tunewire-job=<job_id>`, if a create already happened."""
        _, client = self._api()
        try:
            pages = client.list_tuning_jobs(
                request={"parent": self._parent, "filter": f'labels.{JOB_LABEL}="{job_id}"', "page_size": 10},
                timeout=self._settings.vertex_timeout_s,
                retry=self._transient_retry,
            )
            for job in pages:
                if job.labels.get(JOB_LABEL) == job_id:
                    return _to_vertex_job(job)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc
        return None

    def get(self, name: str) -> VertexJob:
        _, client = self._api()
        try:
            return _to_vertex_job(client.get_tuning_job(name=name, timeout=self._settings.vertex_timeout_s,
                                                        retry=self._transient_retry))
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc

    def cancel(self, name: str) -> None:
        _, client = self._api()
        try:
            client.cancel_tuning_job(name=name, timeout=self._settings.vertex_timeout_s, retry=self._transient_retry)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc


def _to_vertex_job(job: Any) -> VertexJob:
    from google.protobuf.json_format import MessageToDict

    document = MessageToDict(type(job).pb(job), preserving_proto_field_name=False)
    tuned = document.get("tunedModel") or {}
    error = document.get("error") or {}
    stats = (document.get("tuningDataStats") or {}).get("supervisedTuningDataStats")
    return VertexJob(
        name=document["name"],
        state=document.get("state", "JOB_STATE_UNSPECIFIED"),
        error_code=error.get("code"),
        error_message=error.get("message"),
        tuned_model=tuned.get("model"),
        endpoint=tuned.get("endpoint"),
        checkpoints=tuple(tuned.get("checkpoints") or ()),
        data_stats=stats,
        create_time=document.get("createTime"),
        end_time=document.get("endTime"),
    )
