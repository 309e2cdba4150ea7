"""Standard Webhooks signatures: ``whsec_`` secrets, signing (with key rotation) and verifying.

The HMAC itself comes from the ``standardwebhooks`` package; this module adds strict secret
parsing, several secrets at once (rotation: the sender signs with every live secret, the
receiver accepts any of its secrets), a configurable clock and tolerance, and errors that say
why a message was refused.

Signed content: ``f"{webhook-id}.{webhook-timestamp}.{body}"``; header
``webhook-signature: v1,<base64 HMAC-SHA256> [v1,<...> ...]``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hmac
import math
import re
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping
from typing import Final

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = 32
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64
DEFAULT_TOLERANCE_S: Final = 300
"""Receivers refuse timestamps more than five minutes away from their clock, either way."""

HEADER_ID: Final = "webhook-id"
HEADER_TIMESTAMP: Final = "webhook-timestamp"
HEADER_SIGNATURE: Final = "webhook-signature"

_MSG_ID = re.compile(r"[!-~]{1,256}")  # printable ASCII, no spaces: it travels in a header
_TIMESTAMP = re.compile(r"[0-9]{1,12}")

Timestamp = int | float | _dt.datetime
Body = bytes | str


class SignatureVerificationError(WebhookVerificationError):
    """A webhook that did not verify. ``reason`` is a short code (``missing_headers``,
    ``invalid_timestamp``, ``timestamp_too_old``, ``timestamp_too_new``, ``invalid_body``,
    ``no_matching_signature``); the message says more. Subclasses the package's
    ``WebhookVerificationError`` so either can be caught."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def generate_secret() -> str:
    """A new secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The key inside a ``whsec_<base64>`` secret; ValueError (never echoing the secret) when it
    lacks the prefix, is not base64 or is not 24 to 64 bytes long."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret must look like {SECRET_PREFIX}<base64>")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret must be {SECRET_PREFIX} followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"a webhook secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, this one holds {len(key)}")
    return key


def sign(secret: str, msg_id: str, timestamp: Timestamp, body: Body) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` signed with one secret."""
    return sign_with_all([secret], msg_id, timestamp, body)


def sign_with_all(secrets: Iterable[str], msg_id: str, timestamp: Timestamp, body: Body) -> dict[str, str]:
    """The three headers, ``webhook-signature`` holding one ``v1,`` signature per secret
    (space-separated) so a receiver holding any one of them verifies during a rotation."""
    keys = [secret_bytes(secret) for secret in secrets]
    if not keys:
        raise ValueError("sign_with_all needs at least one secret")
    if not isinstance(msg_id, str) or not _MSG_ID.fullmatch(msg_id):
        raise ValueError("a webhook id must be 1 to 256 printable ASCII characters without spaces")
    seconds = _unix_seconds(timestamp)
    text = _body_text(body)
    if text is None:
        raise ValueError("a webhook body must be UTF-8")
    moment = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
    signatures = _unique(Webhook(key).sign(msg_id, moment, text) for key in keys)
    return {HEADER_ID: msg_id, HEADER_TIMESTAMP: str(seconds), HEADER_SIGNATURE: " ".join(signatures)}


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: Body,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: Timestamp | None = None,
) -> None:
    """Return None when ``body`` and ``headers`` carry a valid ``v1`` signature by any of
    ``secrets`` and a timestamp within ``tolerance_s`` of ``now`` (default: the clock); raise
    SignatureVerificationError otherwise. Header names are matched case-insensitively."""
    keys = [secret_bytes(secret) for secret in secrets]
    if not keys:
        raise ValueError("verify needs at least one secret")
    lowered = {str(name).lower(): value for name, value in headers.items()}
    msg_id = lowered.get(HEADER_ID)
    timestamp_text = lowered.get(HEADER_TIMESTAMP)
    signature_text = lowered.get(HEADER_SIGNATURE)
    if not (msg_id and timestamp_text and signature_text):
        missing = [name for name, value in ((HEADER_ID, msg_id), (HEADER_TIMESTAMP, timestamp_text), (HEADER_SIGNATURE, signature_text)) if not value]
        raise SignatureVerificationError("missing_headers", f"missing header(s): {', '.join(missing)}")
    timestamp_text = timestamp_text.strip()
    if not _TIMESTAMP.fullmatch(timestamp_text):
        raise SignatureVerificationError("invalid_timestamp", "webhook-timestamp must be whole unix seconds")
    sent = int(timestamp_text)
    clock = time.time() if now is None else _unix_seconds(now)
    if sent < clock - tolerance_s:
        raise SignatureVerificationError("timestamp_too_old", f"webhook-timestamp is {int(clock - sent)} s old; the limit is {int(tolerance_s)} s")
    if sent > clock + tolerance_s:
        raise SignatureVerificationError("timestamp_too_new", f"webhook-timestamp is {int(sent - clock)} s in the future; the limit is {int(tolerance_s)} s")
    text = _body_text(body)
    if text is None:
        raise SignatureVerificationError("invalid_body", "the body is not UTF-8")

    offered = []
    for entry in signature_text.split():
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            offered.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    moment = _dt.datetime.fromtimestamp(sent, _dt.timezone.utc)
    for key in keys:
        expected = base64.b64decode(Webhook(key).sign(msg_id, moment, text).partition(",")[2])
        # compare against every offered signature, no early exit on the first mismatch
        if any([hmac.compare_digest(expected, candidate) for candidate in offered]):
            return None
    raise SignatureVerificationError("no_matching_signature", "no v1 signature matches any of the receiver's secrets")


def _unix_seconds(timestamp: Timestamp) -> int:
    if isinstance(timestamp, _dt.datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=_dt.timezone.utc)
        return math.floor(timestamp.timestamp())
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp) or timestamp < 0:
        raise ValueError("a webhook timestamp must be a datetime or non-negative unix seconds")
    return math.floor(timestamp)


def _body_text(body: Body) -> str | None:
    try:
        if isinstance(body, str):
            body.encode("utf-8")  # lone surrogates cannot be signed
            return body
        return bytes(body).decode("utf-8")
    except UnicodeError:
        return None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
