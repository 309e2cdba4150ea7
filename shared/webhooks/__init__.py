"""Standard Webhooks for tunewire job events: payloads, signing, SSRF-safe URLs, delivery.

Logic only: no Firestore or Pub/Sub here. A sender does::

    event = event_type_for_state(job["state"])            # None: this state sends nothing
    body = encode_payload(build_payload(job, event))
    headers = sign_with_all(secrets, webhook_message_id(job["id"], event), time.time(), body)
    target = check_webhook_url(endpoint.url, allow_loopback=local)   # raises UnsafeWebhookUrl
    attempt = deliver(target, headers, body)              # delivered | failed | gone

``create_receiver_app`` (Flask) is imported on first use only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.webhooks.delivery import DeliveryAttempt, deliver, deliver_to_url
from shared.webhooks.endpoints import (
    Endpoint,
    LocalSecretStore,
    SecretManagerStore,
    SecretNotFound,
    SecretStore,
    SecretStoreUnavailable,
    endpoint_matches,
    rotate_secret,
)
from shared.webhooks.events import (
    EVENT_FOR_STATE,
    EVENT_TYPES,
    JOB_CANCELLED,
    JOB_FAILED,
    JOB_INVALID,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_VALIDATED,
    build_payload,
    encode_payload,
    event_type_for_state,
    webhook_message_id,
)
from shared.webhooks.signing import (
    SignatureVerificationError,
    generate_secret,
    sign,
    sign_with_all,
    verify,
)
from shared.webhooks.url_safety import ResolvedTarget, UnsafeWebhookUrl, check_webhook_url, classify_address

if TYPE_CHECKING:
    from shared.webhooks.receiver import create_receiver_app

__all__ = [
    "EVENT_FOR_STATE",
    "EVENT_TYPES",
    "JOB_CANCELLED",
    "JOB_FAILED",
    "JOB_INVALID",
    "JOB_RUNNING",
    "JOB_SUCCEEDED",
    "JOB_VALIDATED",
    "DeliveryAttempt",
    "Endpoint",
    "LocalSecretStore",
    "ResolvedTarget",
    "SecretManagerStore",
    "SecretNotFound",
    "SecretStore",
    "SecretStoreUnavailable",
    "SignatureVerificationError",
    "UnsafeWebhookUrl",
    "build_payload",
    "check_webhook_url",
    "classify_address",
    "create_receiver_app",
    "deliver",
    "deliver_to_url",
    "encode_payload",
    "endpoint_matches",
    "event_type_for_state",
    "generate_secret",
    "rotate_secret",
    "sign",
    "sign_with_all",
    "verify",
    "webhook_message_id",
]


def __getattr__(name: str) -> Any:
    if name == "create_receiver_app":  # keeps Flask out of processes that only send
        from shared.webhooks.receiver import create_receiver_app

        return create_receiver_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
