"""Endpoint prefix filters and the signing-secret stores (local file; Secret Manager faked)."""

from __future__ import annotations

import json
import stat
import sys
from types import SimpleNamespace

import pytest

from shared.webhooks import (
    Endpoint,
    LocalSecretStore,
    SecretManagerStore,
    SecretNotFound,
    SecretStore,
    SecretStoreUnavailable,
    endpoint_matches,
    generate_secret,
    rotate_secret,
)

# --- endpoints -----------------------------------------------------------------------------


def test_an_endpoint_without_a_prefix_matches_every_upload():
    assert endpoint_matches(Endpoint(id="e1", url="https://hooks.example.com/"), "any/thing.jsonl")


def test_an_endpoint_matches_only_uploads_under_its_prefix():
    endpoint = Endpoint(id="e1", url="https://hooks.example.com/", prefix="team-a/")
    assert endpoint_matches(endpoint, "team-a/train.jsonl")
    assert not endpoint_matches(endpoint, "team-b/train.jsonl")
    assert not endpoint_matches(endpoint, "team-a")


def test_a_disabled_endpoint_matches_nothing():
    endpoint = Endpoint(id="e1", url="https://hooks.example.com/", enabled=False, disabled_reason="gone")
    assert not endpoint_matches(endpoint, "team-a/train.jsonl")


def test_an_endpoint_round_trips_through_its_record():
    endpoint = Endpoint(id="e1", url="https://hooks.example.com/", prefix="p/", enabled=False, disabled_reason="gone")
    assert Endpoint.from_dict({**endpoint.to_dict(), "extra": 1}) == endpoint
    assert Endpoint.from_dict({"id": "e2", "url": "https://x.example.com/"}).enabled is True


# --- the local store -----------------------------------------------------------------------


def test_the_local_store_keeps_secrets_per_endpoint(tmp_path):
    store = LocalSecretStore(tmp_path / "secrets" / "webhooks.json")
    first, second = generate_secret(), generate_secret()
    store.put_secrets("e1", [first])
    store.put_secrets("e2", [second])
    assert store.get_secrets("e1") == [first]
    assert LocalSecretStore(tmp_path / "secrets" / "webhooks.json").get_secrets("e2") == [second]
    assert isinstance(store, SecretStore)


def test_the_local_file_is_json_readable_only_by_its_owner(tmp_path):
    path = tmp_path / "webhooks.json"
    store = LocalSecretStore(path)
    secret = generate_secret()
    store.put_secrets("e1", [secret])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"e1": [secret]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webhooks.json", "webhooks.json.lock"]  # no temporary left


def test_an_unknown_endpoint_has_no_secrets(tmp_path):
    store = LocalSecretStore(tmp_path / "webhooks.json")
    with pytest.raises(SecretNotFound):
        store.get_secrets("nobody")
    store.delete_secrets("nobody")


def test_deleted_secrets_are_gone(tmp_path):
    store = LocalSecretStore(tmp_path / "webhooks.json")
    store.put_secrets("e1", [generate_secret()])
    store.delete_secrets("e1")
    with pytest.raises(SecretNotFound):
        store.get_secrets("e1")


@pytest.mark.parametrize("secrets", [[], ["not-a-secret"], ["whsec_c2hvcnQ="]])
def test_malformed_secrets_are_not_stored(tmp_path, secrets):
    store = LocalSecretStore(tmp_path / "webhooks.json")
    with pytest.raises(ValueError):
        store.put_secrets("e1", secrets)
    assert not (tmp_path / "webhooks.json").exists()


def test_a_rotation_puts_the_new_secret_first_and_keeps_the_previous_one(tmp_path):
    store = LocalSecretStore(tmp_path / "webhooks.json")
    first = rotate_secret(store, "e1")
    second = rotate_secret(store, "e1")
    third = rotate_secret(store, "e1")
    assert store.get_secrets("e1") == [third, second]
    assert first not in store.get_secrets("e1")


# --- Secret Manager ------------------------------------------------------------------------


class FakeSecretManager:
    """The four SecretManagerServiceClient calls the store makes, in memory."""

    def __init__(self) -> None:
        from google.api_core import exceptions

        self.exceptions = exceptions
        self.secrets: dict[str, list[SimpleNamespace]] = {}

    def create_secret(self, request):
        name = f"{request['parent']}/secrets/{request['secret_id']}"
        if name in self.secrets:
            raise self.exceptions.AlreadyExists(name)
        self.secrets[name] = []

    def add_secret_version(self, request):
        versions = self.secrets[request["parent"]]
        version = SimpleNamespace(name=f"{request['parent']}/versions/{len(versions) + 1}", data=request["payload"]["data"], state="ENABLED")
        versions.append(version)
        return version

    def list_secret_versions(self, request):
        return [v for v in self.secrets[request["parent"]] if v.state == "ENABLED"]

    def disable_secret_version(self, request):
        for versions in self.secrets.values():
            for version in versions:
                if version.name == request["name"]:
                    version.state = "DISABLED"

    def access_secret_version(self, request):
        secret = request["name"].rsplit("/versions/", 1)[0]
        enabled = [v for v in self.secrets.get(secret, []) if v.state == "ENABLED"]
        if not enabled:
            raise self.exceptions.NotFound(request["name"])
        return SimpleNamespace(payload=SimpleNamespace(data=enabled[-1].data))

    def delete_secret(self, request):
        if self.secrets.pop(request["name"], None) is None:
            raise self.exceptions.NotFound(request["name"])


def test_secret_manager_store_keeps_one_secret_per_endpoint_with_the_latest_version_live():
    fake = FakeSecretManager()
    store = SecretManagerStore("proj", "tunewire-webhook-", client=fake)
    old, new = generate_secret(), generate_secret()
    store.put_secrets("e1", [old])
    store.put_secrets("e1", [new, old])
    assert store.get_secrets("e1") == [new, old]
    versions = fake.secrets["projects/proj/secrets/tunewire-webhook-e1"]
    assert [v.state for v in versions] == ["DISABLED", "ENABLED"]
    store.delete_secrets("e1")
    store.delete_secrets("e1")
    with pytest.raises(SecretNotFound):
        store.get_secrets("e1")


def test_secret_manager_store_names_a_missing_library_clearly(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.cloud.secretmanager", None)  # import fails as if absent
    store = SecretManagerStore("proj", "tunewire-webhook-")
    with pytest.raises(SecretStoreUnavailable, match="google-cloud-secret-manager"):
        store.get_secrets("e1")


def test_secret_manager_ids_are_checked():
    store = SecretManagerStore("proj", "tunewire-webhook-", client=FakeSecretManager())
    with pytest.raises(ValueError):
        store.secret_id("../other")
    with pytest.raises(ValueError):
        SecretManagerStore("proj", "bad/prefix")
