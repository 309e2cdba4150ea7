"""HTTP routes of the twin: Vertex AI REST paths on both ``v1`` and ``v1beta1``.

Vertex routes::

    POST /{v}/projects/{p}/locations/{l}/tuningJobs                   create (body: TuningJob)
    GET  /{v}/projects/{p}/locations/{l}/tuningJobs                   list (pageSize, pageToken, filter)
    GET  /{v}/projects/{p}/locations/{l}/tuningJobs/{id}              get
    POST /{v}/projects/{p}/locations/{l}/tuningJobs/{id}:cancel       cancel (body {} or empty)
    POST /{v}/projects/{p}/locations/{l}/endpoints/{id}:generateContent

Twin extensions (not part of Vertex)::

    GET  /{v}/projects/{p}/locations/{l}/tuningJobs/{id}:metrics      training progress
    GET  /healthz                                                     liveness

Query parameters the clients add (``$alt=json;enum-encoding=int``) are accepted and ignored:
responses always carry enum names, which both clients parse.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from infra.twin.errors import ApiError
from infra.twin.service import TuningService

__all__ = ["SERVICE_KEY", "blueprint"]

SERVICE_KEY = "tunewire_twin"
blueprint = Blueprint("twin", __name__)
_PARENT = "/<any(v1, v1beta1):version>/projects/<project>/locations/<location>"


def _service() -> TuningService:
    service: TuningService = current_app.extensions[SERVICE_KEY]
    return service


def _json_body(*, required: bool) -> Any:
    raw = request.get_data(cache=False)
    if not raw.strip():
        if required:
            raise ApiError.invalid_argument("Invalid JSON payload received: the request body is empty.")
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError.invalid_argument(f"Invalid JSON payload received. {exc}") from None


def _split_verb(ref: str) -> tuple[str, str]:
    resource_id, _, verb = ref.partition(":")
    return resource_id, verb


def _ok(body: dict[str, Any]) -> Response:
    return jsonify(body)


@blueprint.get("/healthz")
def healthz() -> Response:
    service = _service()
    return _ok({"status": "ok", "localModel": service.config.local_model.value, "engine": service.config.engine})


@blueprint.route(f"{_PARENT}/tuningJobs", methods=["GET", "POST"])
def tuning_jobs(version: str, project: str, location: str) -> Response:
    service = _service()
    if request.method == "POST":
        return _ok(service.create(version, project, location, _json_body(required=True)))
    raw_size = request.args.get("pageSize") or request.args.get("page_size")
    try:
        page_size = int(raw_size) if raw_size else None
    except ValueError:
        raise ApiError.invalid_argument(f"Invalid value for pageSize: {raw_size!r}.") from None
    return _ok(
        service.list(
            project,
            location,
            page_size=page_size,
            page_token=request.args.get("pageToken") or request.args.get("page_token"),
            filter_text=request.args.get("filter"),
        )
    )


@blueprint.route(f"{_PARENT}/tuningJobs/<job_ref>", methods=["GET", "POST"])
def tuning_job(version: str, project: str, location: str, job_ref: str) -> Response:
    service = _service()
    job_id, verb = _split_verb(job_ref)
    if request.method == "GET" and verb == "":
        return _ok(service.get(project, location, job_id))
    if request.method == "GET" and verb == "metrics":
        return _ok(service.metrics(project, location, job_id))
    if request.method == "POST" and verb == "cancel":
        _json_body(required=False)
        return _ok(service.cancel(project, location, job_id))
    if verb in ("", "metrics", "cancel"):
        allowed = "POST" if verb == "cancel" else "GET"
        raise ApiError(405, "UNIMPLEMENTED", f"Method {request.method} is not allowed here (allowed: {allowed}).")
    raise ApiError.not_found(f"Unknown method :{verb} on tuning jobs.")


@blueprint.route(f"{_PARENT}/endpoints/<endpoint_ref>", methods=["POST"])
def endpoint(version: str, project: str, location: str, endpoint_ref: str) -> Response:
    service = _service()
    endpoint_id, verb = _split_verb(endpoint_ref)
    if verb != "generateContent":
        raise ApiError.not_found(f"Unknown method :{verb or '(none)'} on endpoints; the twin serves :generateContent.")
    return _ok(service.generate(project, location, endpoint_id, _json_body(required=True)))


@blueprint.route(f"{_PARENT}/publishers/google/models/<model_ref>", methods=["POST"])
def publisher_model(version: str, project: str, location: str, model_ref: str) -> Response:
    """The untuned base model, as Vertex serves `publishers/google/models/{model}:generateContent`."""
    model, verb = _split_verb(model_ref)
    if verb != "generateContent":
        raise ApiError.not_found(f"Unknown method :{verb or '(none)'} on publisher models; the twin serves :generateContent.")
    return _ok(_service().generate_with_base_model(project, location, model, _json_body(required=True)))
