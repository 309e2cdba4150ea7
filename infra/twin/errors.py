"""Google API error shape for every error the twin returns.

Both official clients turn ``{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}``
into their typed exceptions (``google.api_core.exceptions.NotFound``, ``BadRequest``,
``TooManyRequests``...; ``google.genai.errors.ClientError``/``ServerError``), keyed on the HTTP
status. Unknown routes, wrong methods and unexpected exceptions get the same shape.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

__all__ = ["ApiError", "STATUS_FOR_HTTP", "error_body", "install_error_handlers"]

_log = logging.getLogger(__name__)

STATUS_FOR_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    411: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""The google.rpc.Code name written for an HTTP status when the raiser did not name one."""


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "status"}}`` with HTTP ``code``."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    @classmethod
    def invalid_argument(cls, message: str) -> ApiError:
        return cls(400, "INVALID_ARGUMENT", message)

    @classmethod
    def failed_precondition(cls, message: str) -> ApiError:
        return cls(400, "FAILED_PRECONDITION", message)

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        return cls(404, "NOT_FOUND", message)

    @classmethod
    def permission_denied(cls, message: str) -> ApiError:
        return cls(403, "PERMISSION_DENIED", message)

    @classmethod
    def resource_exhausted(cls, message: str) -> ApiError:
        return cls(429, "RESOURCE_EXHAUSTED", message)

    def body(self) -> dict[str, dict[str, object]]:
        return error_body(self.code, self.status, self.message)


def error_body(code: int, status: str, message: str) -> dict[str, dict[str, object]]:
    return {"error": {"code": code, "message": message, "status": status}}


def _render(code: int, status: str, message: str) -> Response:
    response = jsonify(error_body(code, status, message))
    response.status_code = code
    return response


def install_error_handlers(app: Flask) -> None:
    """Render ApiError, every werkzeug HTTP error (404, 405...) and any other exception (500)."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return _render(error.code, error.status, error.message)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        code = error.code or 500
        status = STATUS_FOR_HTTP.get(code, "UNKNOWN")
        if code == 404:
            message = "The requested URL was not found on this server."
        elif code == 405:
            allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or []))
            message = f"Method not allowed for this resource (allowed: {allowed or 'none'})."
        else:
            message = error.description or error.name
        response = _render(code, status, message)
        if code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods or []))
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        _log.exception("unhandled error")
        return _render(500, "INTERNAL", f"Internal error encountered: {type(error).__name__}: {error}")
