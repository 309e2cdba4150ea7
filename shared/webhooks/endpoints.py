"""Webhook endpoints and where their signing secrets live.

Endpoint records themselves are stored elsewhere (Firestore); this module gives their shape
(``Endpoint``), the prefix filter (``endpoint_matches``) and the secret stores:

* ``LocalSecretStore``: one JSON file ``{endpoint_id: [secret, ...]}`` for the local stack,
  rewritten atomically with 0600 permissions;
* ``SecretManagerStore``: Google Secret Manager, one secret per endpoint whose latest version
  holds the JSON list. Needs ``google-cloud-secret-manager``, imported only when first used.

A list holds the live secrets, newest first: the sender signs with all of them, so a receiver
can switch to the new secret whenever it likes during a rotation (``rotate_secret``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from shared.webhooks.signing import generate_secret, secret_bytes

try:  # POSIX advisory locks keep two local processes from losing each other's updates
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Endpoint:
    """A receiver of webhooks. ``prefix`` filters on the uploaded object's name ("" = all);
    ``disabled_reason`` says why ``enabled`` went False (``"gone"`` after a 410, ...)."""

    id: str
    url: str
    prefix: str = ""
    enabled: bool = True
    created_at: _dt.datetime | None = None
    disabled_reason: str | None = None

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Endpoint:
        """From a stored record; unknown keys are ignored, missing optional ones defaulted."""
        return cls(
            id=str(record["id"]),
            url=str(record["url"]),
            prefix=str(record.get("prefix") or ""),
            enabled=bool(record.get("enabled", True)),
            created_at=record.get("created_at"),
            disabled_reason=record.get("disabled_reason"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "prefix": self.prefix,
            "enabled": self.enabled,
            "created_at": self.created_at,
            "disabled_reason": self.disabled_reason,
        }


def endpoint_matches(endpoint: Endpoint, object_name: str) -> bool:
    """Whether ``endpoint`` wants events for uploads named ``object_name``: it is enabled and
    the name starts with its prefix (a plain string prefix; "" matches everything)."""
    return endpoint.enabled and object_name.startswith(endpoint.prefix)


class SecretNotFound(KeyError):
    """No secrets are stored for this endpoint."""


class SecretStoreUnavailable(RuntimeError):
    """The backing service's client library is not installed."""


@runtime_checkable
class SecretStore(Protocol):
    """Where an endpoint's signing secrets live (newest first)."""

    def get_secrets(self, endpoint_id: str) -> list[str]:
        """The live secrets, newest first; SecretNotFound when none are stored."""
        ...

    def put_secrets(self, endpoint_id: str, secrets: list[str]) -> None:
        """Replace the endpoint's secrets (each must be a valid ``whsec_`` secret)."""
        ...

    def delete_secrets(self, endpoint_id: str) -> None:
        """Forget the endpoint's secrets; no error when there are none."""
        ...


def rotate_secret(store: SecretStore, endpoint_id: str, *, keep: int = 1) -> str:
    """Generate a new secret for ``endpoint_id`` and put it first, keeping the ``keep`` newest
    old ones so receivers still holding them verify until they switch. Returns the new secret."""
    try:
        old = store.get_secrets(endpoint_id)
    except SecretNotFound:
        old = []
    new = generate_secret()
    store.put_secrets(endpoint_id, [new, *old[: max(keep, 0)]])
    return new


def _checked(secrets: list[str]) -> list[str]:
    if not secrets:
        raise ValueError("an endpoint needs at least one secret")
    for secret in secrets:
        secret_bytes(secret)  # raises ValueError for a malformed secret
    return list(secrets)


_ENDPOINT_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


def _check_endpoint_id(endpoint_id: str) -> str:
    if not isinstance(endpoint_id, str) or not _ENDPOINT_ID.fullmatch(endpoint_id):
        raise ValueError("an endpoint id is 1 to 200 letters, digits, '-' or '_'")
    return endpoint_id


class LocalSecretStore:
    """Secrets in one local JSON file (the local stack). Every write replaces the file
    atomically (temporary file in the same folder, fsync, rename) with mode 0600; a lock file
    beside it serializes read-modify-write across processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def get_secrets(self, endpoint_id: str) -> list[str]:
        secrets = self._read().get(endpoint_id)
        if not secrets:
            raise SecretNotFound(endpoint_id)
        return list(secrets)

    def put_secrets(self, endpoint_id: str, secrets: list[str]) -> None:
        checked = _checked(secrets)
        with self._locked():
            data = self._read()
            data[_check_endpoint_id(endpoint_id)] = checked
            self._write(data)

    def delete_secrets(self, endpoint_id: str) -> None:
        with self._locked():
            data = self._read()
            if data.pop(endpoint_id, None) is not None:
                self._write(data)

    def endpoint_ids(self) -> list[str]:
        return sorted(self._read())

    def _read(self) -> dict[str, list[str]]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ValueError(f"{self.path} is not a {{endpoint_id: [secrets]}} JSON object")
        return data

    def _write(self, data: Mapping[str, list[str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            os.fchmod(descriptor, 0o600)  # mkstemp already makes it 0600; be explicit
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if fcntl is None:  # pragma: no cover
                yield
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                yield
            finally:
                os.close(descriptor)  # releases the lock


class SecretManagerStore:
    """Secrets in Google Secret Manager: secret ``{secret_name_prefix}{endpoint_id}`` in
    ``project``; its latest version holds the JSON list. Older versions are disabled when a
    new one is added. ``client`` (a ``SecretManagerServiceClient``) may be passed in; otherwise
    one is made on first use, which needs the ``google-cloud-secret-manager`` package."""

    def __init__(self, project: str, secret_name_prefix: str = "tunewire-webhook-", *, client: Any = None) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]*", secret_name_prefix):
            raise ValueError("a Secret Manager name prefix holds only letters, digits, '-' and '_'")
        self.project = project
        self.secret_name_prefix = secret_name_prefix
        self._client = client

    def secret_id(self, endpoint_id: str) -> str:
        secret_id = f"{self.secret_name_prefix}{_check_endpoint_id(endpoint_id)}"
        if len(secret_id) > 255:
            raise ValueError("the Secret Manager secret id would exceed 255 characters")
        return secret_id

    def get_secrets(self, endpoint_id: str) -> list[str]:
        not_found = _google_exception("NotFound")
        name = f"{self._secret_path(endpoint_id)}/versions/latest"
        try:
            response = self.client.access_secret_version(request={"name": name})
        except not_found:
            raise SecretNotFound(endpoint_id) from None
        secrets = json.loads(response.payload.data.decode("utf-8"))
        if not isinstance(secrets, list) or not secrets:
            raise SecretNotFound(endpoint_id)
        return [str(secret) for secret in secrets]

    def put_secrets(self, endpoint_id: str, secrets: list[str]) -> None:
        checked = _checked(secrets)
        already_exists = _google_exception("AlreadyExists")
        parent = f"projects/{self.project}"
        secret_path = self._secret_path(endpoint_id)
        with contextlib.suppress(already_exists):
            self.client.create_secret(
                request={
                    "parent": parent,
                    "secret_id": self.secret_id(endpoint_id),
                    "secret": {"replication": {"automatic": {}}, "labels": {"app": "tunewire"}},
                }
            )
        added = self.client.add_secret_version(
            request={"parent": secret_path, "payload": {"data": json.dumps(checked).encode("utf-8")}}
        )
        for version in self.client.list_secret_versions(request={"parent": secret_path, "filter": "state:ENABLED"}):
            if version.name != added.name:
                self.client.disable_secret_version(request={"name": version.name})

    def delete_secrets(self, endpoint_id: str) -> None:
        not_found = _google_exception("NotFound")
        with contextlib.suppress(not_found):
            self.client.delete_secret(request={"name": self._secret_path(endpoint_id)})

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                from google.cloud import secretmanager  # type: ignore[attr-defined,import-untyped,unused-ignore]
            except ImportError as error:
                raise SecretStoreUnavailable(
                    "SecretManagerStore needs the google-cloud-secret-manager package "
                    "(pip install google-cloud-secret-manager); the local stack uses LocalSecretStore"
                ) from error
            self._client = secretmanager.SecretManagerServiceClient()
        return self._client

    def _secret_path(self, endpoint_id: str) -> str:
        return f"projects/{self.project}/secrets/{self.secret_id(endpoint_id)}"


def _google_exception(name: str) -> type[BaseException]:
    """google.api_core.exceptions.<name> (installed with every google-cloud client)."""
    from google.api_core import exceptions

    exception: type[BaseException] = getattr(exceptions, name)
    return exception
