"""Injected faults: the twin answering as a struggling Vertex AI does, on request (tests only).

A rule names an operation (`create`, `get`, `list`, `cancel`, or `any`), what to answer (an HTTP
status with Google's error body, or `timeout`: hold the request `delay_s` before answering), how
many times, and whether it strikes `before` the operation runs or `after` it (the job is created,
then the caller gets the error or the timeout: the case where a retry must not create twice).

Twin extension routes (not Vertex):

    POST   /twin/faults   {"operation", "answer": 429|500|503|400|"timeout", "times", "when", "delay_s"}
    GET    /twin/faults   the rules left and every fault injected so far
    DELETE /twin/faults   clear the rules (the log of injected faults stays)
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from infra.twin.errors import STATUS_FOR_HTTP, ApiError

OPERATIONS = ("create", "get", "list", "cancel", "any")
FAULTS_KEY = "tunewire_twin_faults"
_MESSAGES = {
    400: "Request contains an invalid argument: injected fault.",
    429: "Quota exceeded for aiplatform.googleapis.com/tuning_jobs: injected fault.",
    500: "Internal error encountered: injected fault.",
    503: "The service is currently unavailable: injected fault.",
}

blueprint = Blueprint("twin_faults", __name__)


@dataclass
class FaultRule:
    operation: str
    answer: int | str  # an HTTP status, or "timeout"
    times: int = 1
    when: str = "before"  # before | after the operation runs
    delay_s: float = 0.0  # for "timeout": how long to hold the request

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ApiError.invalid_argument(f"operation must be one of {', '.join(OPERATIONS)}")
        if self.answer != "timeout" and self.answer not in STATUS_FOR_HTTP:
            raise ApiError.invalid_argument(f"answer must be an HTTP error status or 'timeout', not {self.answer!r}")
        if self.when not in ("before", "after"):
            raise ApiError.invalid_argument("when must be 'before' or 'after'")
        if self.times < 1:
            raise ApiError.invalid_argument("times must be at least 1")


@dataclass
class FaultPlan:
    rules: list[FaultRule] = field(default_factory=list)
    injected: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, operation: str, when: str) -> FaultRule | None:
        """The first matching rule, used up by one; None when no fault is due."""
        with self.lock:
            for rule in self.rules:
                if rule.when == when and rule.operation in (operation, "any"):
                    rule.times -= 1
                    if rule.times == 0:
                        self.rules.remove(rule)
                    self.injected.append({"operation": operation, "answer": rule.answer, "when": when, "at": time.time()})
                    return rule
        return None


def operation_of(method: str, path: str) -> str | None:
    """Which Vertex operation a request is (None for the twin's own routes and endpoints)."""
    parts = path.strip("/").split("/")
    if len(parts) < 6 or parts[0] not in ("v1", "v1beta1") or parts[5] != "tuningJobs":
        return None
    if len(parts) == 6:
        return "create" if method == "POST" else "list"
    verb = parts[6].partition(":")[2]
    if verb == "cancel":
        return "cancel"
    return "get" if verb == "" and method == "GET" else None


def _plan() -> FaultPlan:
    plan: FaultPlan = current_app.extensions[FAULTS_KEY]
    return plan


def _strike(rule: FaultRule) -> Response | None:
    if rule.answer == "timeout":
        time.sleep(rule.delay_s)
        return None  # answer normally, too late for the caller
    code = int(rule.answer)
    raise ApiError(code, STATUS_FOR_HTTP[code], _MESSAGES.get(code, "Injected fault."))


def install_faults(app: Flask) -> None:
    """Register the fault routes and the hooks that apply the plan to Vertex routes."""
    app.extensions[FAULTS_KEY] = FaultPlan()
    app.register_blueprint(blueprint)

    @app.before_request
    def _before() -> None:
        operation = operation_of(request.method, request.path)
        if operation is not None:
            rule = _plan().take(operation, "before")
            if rule is not None:
                _strike(rule)

    @app.after_request
    def _after(response: Response) -> Response:
        operation = operation_of(request.method, request.path)
        if operation is None or response.status_code >= 400:
            return response
        rule = _plan().take(operation, "after")
        if rule is None:
            return response
        try:
            _strike(rule)
        except ApiError as error:
            failed = jsonify(error.body())
            failed.status_code = error.code
            return failed
        return response


@blueprint.route("/twin/faults", methods=["GET", "POST", "DELETE"])
def faults() -> Response:
    plan = _plan()
    if request.method == "POST":
        body = request.get_json(force=True, silent=True) or {}
        answer = body.get("answer")
        rule = FaultRule(
            operation=str(body.get("operation", "any")),
            answer=answer if answer == "timeout" else int(answer or 0),
            times=int(body.get("times", 1)),
            when=str(body.get("when", "before")),
            delay_s=float(body.get("delay_s", 0.0)),
        )
        with plan.lock:
            plan.rules.append(rule)
    elif request.method == "DELETE":
        with plan.lock:
            plan.rules.clear()
    with plan.lock:
        return jsonify({"rules": [asdict(rule) for rule in plan.rules], "injected": list(plan.injected)})
