"""A small Flask receiver for people wiring up their own endpoint (``tunewire webhooks listen``).

It verifies the Standard Webhooks signature (401 with a reason on failure), drops messages it
has already seen by ``webhook-id`` (200 with ``{"duplicate": true}``), and hands each new
payload to ``on_event(payload, headers)``. When ``on_event`` raises, the answer is 500 and the
id is forgotten, so the sender's retry is processed again.

Duplicates are remembered in memory only (the most recent ``max_remembered`` ids), which
covers retries within one process's life; a receiver that must survive restarts should dedupe
on ``webhook-id`` in its own storage.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, jsonify, request

from shared.webhooks.signing import DEFAULT_TOLERANCE_S, HEADER_ID, SignatureVerificationError, secret_bytes, verify

EventHandler = Callable[[dict[str, Any], dict[str, str]], object]
MAX_BODY_BYTES = 1024 * 1024


class _SeenIds:
    """A bounded, thread-safe set of webhook ids, oldest forgotten first."""

    def __init__(self, limit: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, msg_id: str) -> bool:
        """True when ``msg_id`` is new (and now remembered), False when already seen."""
        with self._lock:
            if msg_id in self._ids:
                return False
            self._ids[msg_id] = None
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)
            return True

    def discard(self, msg_id: str) -> None:
        with self._lock:
            self._ids.pop(msg_id, None)


def create_receiver_app(
    secrets: Iterable[str],
    on_event: EventHandler,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    path: str = "/",
    max_remembered: int = 10_000,
) -> Flask:
    """A Flask app that accepts signed webhooks with POST at ``path``.

    ``secrets`` are the endpoint's ``whsec_`` secrets (any one verifies, for rotation);
    ``tolerance_s`` how far ``webhook-timestamp`` may be from the receiver's clock.
    Answers: 200 ``{"received": id, "duplicate": false}``; 200 ``{"duplicate": true}`` for an id
    already processed; 401 ``{"error": "invalid_signature", "reason": ...}``; 400 for a body
    that is not a JSON object; 413 over 1 MiB; 500 when ``on_event`` raised.
    """
    keys = list(secrets)
    if not keys:
        raise ValueError("the receiver needs at least one secret")
    for secret in keys:
        secret_bytes(secret)  # fail at start-up, not on the first request
    seen = _SeenIds(max_remembered)

    app = Flask("tunewire_webhook_receiver")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    def receive() -> tuple[Response, int]:
        body = request.get_data(cache=False)
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            verify(keys, headers, body, tolerance_s=tolerance_s)
        except SignatureVerificationError as error:
            return jsonify(error="invalid_signature", reason=error.reason, message=error.message), 401
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return jsonify(error="invalid_payload", message="the body is not a JSON object"), 400
        msg_id = headers[HEADER_ID]
        if not seen.add(msg_id):
            return jsonify(duplicate=True, received=msg_id), 200
        try:
            on_event(payload, headers)
        except Exception:
            seen.discard(msg_id)
            app.logger.exception("webhook handler failed for %s", msg_id)
            return jsonify(error="handler_failed", received=msg_id), 500
        return jsonify(duplicate=False, received=msg_id), 200

    app.add_url_rule(path, "receive", receive, methods=["POST"])
    return app

