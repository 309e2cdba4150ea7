"""Validate a CreateTuningJob body as Vertex does, into a typed request or a precise 400.

Checks, in order (the first failure answers 400 INVALID_ARGUMENT): a JSON object; field types
(int64 as string or number, enums as name or number); ``baseModel``; a ``supervisedTuningSpec``
with a ``trainingDatasetUri``; dataset URI schemes (``gs://`` or, on the twin, ``file://``); the
base model against ``shared.model_catalog`` (unknown, discontinued, region); ``tuningMode`` (a
v1beta1-only field; FULL only for open models); the adapter size against the model's sizes;
``epochCount >= 1``; ``learningRateMultiplier > 0``; labels; display name length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.twin.engine import LocalBase
from infra.twin.errors import ApiError
from infra.twin.model_mapping import ResolvedBase, UnknownBaseModel, resolve_base_model, supported_model_names
from infra.twin.wire import ADAPTER_SIZE, ADAPTER_SIZE_RANK, TUNING_MODE, WireValueError, parse_bool, parse_double, parse_int64
from shared.gcs import InvalidGcsUri, split_uri

__all__ = [
    "MAX_DISPLAY_NAME_CHARS",
    "MAX_LABELS",
    "TuningRequest",
    "label_problem",
    "parse_create_request",
    "validate_dataset_uri",
    "validate_labels",
]

MAX_LABELS = 64
MAX_LABEL_CHARS = 64
MAX_DISPLAY_NAME_CHARS = 128
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]*")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]*")
_JOB = "tuning_job"
_SPEC = "tuning_job.supervised_tuning_spec"
_HYPER = "tuning_job.supervised_tuning_spec.hyper_parameters"


@dataclass(frozen=True)
class TuningRequest:
    """A validated CreateTuningJob request (fields absent from the body are None)."""

    base: ResolvedBase
    training_dataset_uri: str
    validation_dataset_uri: str | None = None
    epoch_count: int | None = None
    learning_rate_multiplier: float | None = None
    adapter_size: str | None = None  # AdapterSize name; None when absent or UNSPECIFIED
    tuning_mode: str | None = None  # TuningMode name (v1beta1 only); None when absent or UNSPECIFIED
    batch_size: int | None = None  # v1beta1 hyperParameters.batchSize
    export_last_checkpoint_only: bool | None = None
    tuned_model_display_name: str = ""
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    service_account: str = ""
    encryption_spec: dict[str, Any] | None = None

    @property
    def full_tuning(self) -> bool:
        return self.tuning_mode == "TUNING_MODE_FULL"


def _invalid(message: str) -> ApiError:
    return ApiError.invalid_argument(message)


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(f"Invalid value at '{path}': expected a JSON object.")
    return value


def _string(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"Invalid value at '{path}' (TYPE_STRING), {value!r}")
    return value


def validate_dataset_uri(uri: str, what: str) -> None:
    """Raise a 400 unless ``uri`` is ``gs://bucket/object`` or an absolute ``file://`` path."""
    if uri.startswith("gs://"):
        try:
            split_uri(uri)
        except InvalidGcsUri as exc:
            raise _invalid(f"{what} {uri!r} is not a valid Cloud Storage URI: it needs a bucket and an object name.") from exc
        return
    if uri.startswith("file://"):
        if not uri[len("file://") :].startswith("/"):
            raise _invalid(f"{what} {uri!r} must be an absolute file:///path URI.")
        return
    raise _invalid(f"{what} {uri!r} must be a Cloud Storage URI (gs://bucket/object); the twin also accepts file:// URIs.")


def label_problem(key: Any, value: Any) -> str | None:
    """Why a label is invalid, or None. Keys: 1-64 chars, a lowercase letter first, then
    lowercase letters, digits, ``_`` and ``-``; values: 0-64 chars of the same set."""
    if not isinstance(key, str) or not isinstance(value, str):
        return f"Label {key!r}: keys and values must be strings."
    if not key:
        return "Label keys must not be empty."
    if len(key) > MAX_LABEL_CHARS:
        return f"Label key {key!r} is longer than {MAX_LABEL_CHARS} characters."
    if not _LABEL_KEY.fullmatch(key):
        return (
            f"Label key {key!r} is invalid: keys must start with a lowercase letter and contain only "
            "lowercase letters, digits, underscores and dashes."
        )
    if len(value) > MAX_LABEL_CHARS:
        return f"Label value for key {key!r} is longer than {MAX_LABEL_CHARS} characters."
    if not _LABEL_VALUE.fullmatch(value):
        return (
            f"Label value {value!r} for key {key!r} is invalid: values may contain only lowercase letters, "
            "digits, underscores and dashes."
        )
    return None


def validate_labels(labels: Any) -> dict[str, str]:
    """The labels as a dict, or a 400 naming the first invalid label."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise _invalid("Invalid value at 'tuning_job.labels': expected a map of strings.")
    if len(labels) > MAX_LABELS:
        raise _invalid(f"A TuningJob can have at most {MAX_LABELS} labels; got {len(labels)}.")
    for key, value in labels.items():
        problem = label_problem(key, value)
        if problem:
            raise _invalid(problem)
    return dict(labels)


def _resolve(base_model: str, local_model: LocalBase, location: str) -> ResolvedBase:
    try:
        base = resolve_base_model(base_model, local_model)
    except UnknownBaseModel:
        raise _invalid(
            f"Base model {base_model!r} is not supported for tuning. Supported base models: "
            f"{', '.join(supported_model_names())}."
        ) from None
    if base.rules.discontinued:
        note = f" ({base.rules.note})" if base.rules.note else ""
        raise _invalid(f"Base model {base.canonical!r} is discontinued and can no longer be tuned{note}.")
    if base.regions and location not in base.regions:
        raise _invalid(f"Base model {base.canonical!r} cannot be tuned in location {location!r}.")
    return base


def parse_create_request(
    body: Any, *, api_version: str, location: str, local_model: LocalBase
) -> TuningRequest:
    """Validate a CreateTuningJob body (a TuningJob) for ``api_version`` ("v1" or "v1beta1")."""
    if not isinstance(body, Mapping):
        raise _invalid("Invalid JSON payload received: the request body must be a TuningJob JSON object.")
    try:
        return _parse(body, api_version=api_version, location=location, local_model=local_model)
    except WireValueError as exc:
        raise _invalid(f"Invalid JSON payload received. {exc}") from None


def _parse(body: Mapping[str, Any], *, api_version: str, location: str, local_model: LocalBase) -> TuningRequest:
    if body.get("preTunedModel"):
        raise _invalid("preTunedModel (continuous tuning) is not supported by the twin; set baseModel.")
    for other in ("preferenceOptimizationSpec", "distillationSpec", "reinforcementTuningSpec"):
        if body.get(other):
            raise _invalid(f"{other} is not supported by the twin; only supervisedTuningSpec is.")
    base_model = _string(body.get("baseModel"), f"{_JOB}.base_model").strip()
    if not base_model:
        raise _invalid("baseModel is required.")
    spec = _object(body.get("supervisedTuningSpec"), _SPEC)
    if not spec:
        raise _invalid("supervisedTuningSpec is required.")
    hyper = _object(spec.get("hyperParameters"), _HYPER)

    training_uri = _string(spec.get("trainingDatasetUri"), f"{_SPEC}.training_dataset_uri").strip()
    if not training_uri:
        raise _invalid("supervisedTuningSpec.trainingDatasetUri is required.")
    validate_dataset_uri(training_uri, "Training dataset URI")
    validation_uri = _string(spec.get("validationDatasetUri"), f"{_SPEC}.validation_dataset_uri").strip() or None
    if validation_uri is not None:
        validate_dataset_uri(validation_uri, "Validation dataset URI")

    epoch_count = parse_int64(hyper["epochCount"], f"{_HYPER}.epoch_count") if hyper.get("epochCount") is not None else None
    multiplier = (
        parse_double(hyper["learningRateMultiplier"], f"{_HYPER}.learning_rate_multiplier")
        if hyper.get("learningRateMultiplier") is not None
        else None
    )
    adapter = ADAPTER_SIZE.parse(hyper["adapterSize"], f"{_HYPER}.adapter_size") if hyper.get("adapterSize") is not None else None
    if adapter == ADAPTER_SIZE.unspecified:
        adapter = None
    export_last = (
        parse_bool(spec["exportLastCheckpointOnly"], f"{_SPEC}.export_last_checkpoint_only")
        if spec.get("exportLastCheckpointOnly") is not None
        else None
    )
    batch_size: int | None = None
    tuning_mode: str | None = None
    if api_version == "v1":
        for beta_only in ("tuningMode",):
            if beta_only in spec:
                raise _invalid(
                    f"Invalid JSON payload received. Unknown name \"{beta_only}\" at '{_SPEC}': Cannot find field. "
                    "tuningMode (TUNING_MODE_FULL) is only available on the v1beta1 API."
                )
        for beta_only in ("batchSize", "learningRate"):
            if beta_only in hyper:
                raise _invalid(
                    f"Invalid JSON payload received. Unknown name \"{beta_only}\" at '{_HYPER}': Cannot find field."
                )
    else:
        if spec.get("tuningMode") is not None:
            tuning_mode = TUNING_MODE.parse(spec["tuningMode"], f"{_SPEC}.tuning_mode")
            if tuning_mode == TUNING_MODE.unspecified:
                tuning_mode = None
        if hyper.get("batchSize") is not None:
            batch_size = parse_int64(hyper["batchSize"], f"{_HYPER}.batch_size")
        if hyper.get("learningRate") is not None:
            raise _invalid("hyperParameters.learningRate is not supported by the twin; use learningRateMultiplier.")

    base = _resolve(base_model, local_model, location)

    if tuning_mode == "TUNING_MODE_FULL":
        if not base.supports_full:
            raise _invalid(
                f"TUNING_MODE_FULL is not supported for base model {base.canonical!r}: Gemini models tune "
                "adapters only (TUNING_MODE_PEFT_ADAPTER); full tuning is for open models."
            )
        if adapter is not None:
            raise _invalid("adapterSize applies only to TUNING_MODE_PEFT_ADAPTER; remove it for TUNING_MODE_FULL.")
    if adapter is not None and ADAPTER_SIZE_RANK[adapter] not in base.adapter_ranks:
        allowed = ", ".join(name for name, rank in ADAPTER_SIZE_RANK.items() if rank in base.adapter_ranks)
        raise _invalid(f"Adapter size {adapter} is not supported for base model {base.canonical!r}. Supported adapter sizes: {allowed}.")
    if epoch_count is not None and epoch_count < 1:
        raise _invalid(f"hyperParameters.epochCount must be at least 1; got {epoch_count}.")
    if multiplier is not None and not multiplier > 0:
        raise _invalid(f"hyperParameters.learningRateMultiplier must be greater than 0; got {multiplier}.")
    if batch_size is not None and batch_size < 1:
        raise _invalid(f"hyperParameters.batchSize must be at least 1; got {batch_size}.")

    labels = validate_labels(body.get("labels"))
    display_name = _string(body.get("tunedModelDisplayName"), f"{_JOB}.tuned_model_display_name")
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise _invalid(f"tunedModelDisplayName is longer than {MAX_DISPLAY_NAME_CHARS} characters.")
    encryption = body.get("encryptionSpec")
    return TuningRequest(
        base=base,
        training_dataset_uri=training_uri,
        validation_dataset_uri=validation_uri,
        epoch_count=epoch_count,
        learning_rate_multiplier=multiplier,
        adapter_size=adapter,
        tuning_mode=tuning_mode,
        batch_size=batch_size,
        export_last_checkpoint_only=export_last,
        tuned_model_display_name=display_name,
        description=_string(body.get("description"), f"{_JOB}.description"),
        labels=labels,
        service_account=_string(body.get("serviceAccount"), f"{_JOB}.service_account"),
        encryption_spec=dict(encryption) if isinstance(encryption, Mapping) else None,
    )
