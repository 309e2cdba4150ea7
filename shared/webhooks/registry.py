"""Webhook endpoints in Firestore (`webhook_endpoints/{id}`) with their secrets kept elsewhere.

The signing secrets never touch Firestore: they live in Secret Manager in the cloud and in a
local file (0600) on the local stack; the record holds only the URL, prefix and status.
"""

from __future__ import annotations

import re
import secrets as random_secrets
from datetime import datetime, timezone
from typing import Any

from shared.config import Settings
from shared.webhooks.endpoints import Endpoint, LocalSecretStore, SecretManagerStore, SecretStore
from shared.webhooks.signing import generate_secret

DEFAULT_SECRET_ID = "default"
"""Signs deliveries to per-upload webhook URLs (`tunewire-webhook` metadata)."""

_SECRET_FORMAT = re.compile(r"^whsec_[A-Za-z0-9+/=]{16,}$")


def secret_store_for(settings: Settings) -> SecretStore:
    if settings.webhook_secrets_file:
        return LocalSecretStore(settings.webhook_secrets_file)
    return SecretManagerStore(settings.project, settings.webhook_secret_prefix)


class EndpointRegistry:
    def __init__(self, client: Any, settings: Settings, secrets: SecretStore) -> None:
        self._collection = client.collection(settings.endpoints_collection)
        self._secrets = secrets

    def add(self, url: str, *, prefix: str = "", secret: str | None = None) -> tuple[Endpoint, str]:
        """Register an endpoint; returns it and its signing secret (generated when not given)."""
        if secret is not None and not _SECRET_FORMAT.match(secret):
            raise ValueError("a signing secret looks like whsec_<base64>")
        endpoint = Endpoint(id=f"ep-{random_secrets.token_hex(6)}", url=url, prefix=prefix, created_at=datetime.now(timezone.utc))
        signing_secret = secret or generate_secret()
        self._secrets.put_secrets(endpoint.id, [signing_secret])
        self._collection.document(endpoint.id).set(endpoint.to_dict())
        return endpoint, signing_secret

    def list(self) -> list[Endpoint]:
        return [Endpoint.from_dict(snapshot.to_dict()) for snapshot in self._collection.stream()]

    def get(self, endpoint_id: str) -> Endpoint | None:
        snapshot = self._collection.document(endpoint_id).get()
        return Endpoint.from_dict(snapshot.to_dict()) if snapshot.exists else None

    def remove(self, endpoint_id: str) -> bool:
        reference = self._collection.document(endpoint_id)
        if not reference.get().exists:
            return False
        reference.delete()
        self._secrets.delete_secrets(endpoint_id)
        return True

    def disable(self, endpoint_id: str, reason: str) -> None:
        self._collection.document(endpoint_id).update({"enabled": False, "disabled_reason": reason})

    def secrets_for(self, endpoint_id: str) -> list[str]:
        return self._secrets.get_secrets(endpoint_id)

    def default_secrets(self) -> list[str]:
        """The deployment's signing secret for per-upload URLs, created on first use."""
        from shared.webhooks.endpoints import SecretNotFound

        try:
            return self._secrets.get_secrets(DEFAULT_SECRET_ID)
        except SecretNotFound:
            secret = generate_secret()
            self._secrets.put_secrets(DEFAULT_SECRET_ID, [secret])
            return [secret]
