"""Settings come from the environment, one object, typed."""

from __future__ import annotations

import pytest

from shared.config import ConfigError, Settings


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.jobs_collection == "jobs"
    assert settings.vertex_api_endpoint == "https://us-central1-aiplatform.googleapis.com"
    assert settings.local is False


def test_values_are_read_and_typed_from_tunewire_variables():
    settings = Settings.from_env(
        {
            "GOOGLE_CLOUD_PROJECT": "p",
            "TUNEWIRE_REGION": "europe-west4",
            "TUNEWIRE_LOCAL": "true",
            "TUNEWIRE_DEFAULT_EPOCHS": "3",
            "TUNEWIRE_VERTEX_TIMEOUT_S": "12.5",
            "TUNEWIRE_WEBHOOK_ALLOWED_HOSTS": "hooks.example.com, *.corp.example",
        }
    )
    assert settings.project == "p"
    assert settings.vertex_api_endpoint == "https://europe-west4-aiplatform.googleapis.com"
    assert settings.local is True and settings.default_epochs == 3 and settings.vertex_timeout_s == 12.5
    assert settings.allowed_webhook_hosts == ("hooks.example.com", "*.corp.example")


def test_an_explicit_vertex_endpoint_wins_over_the_regional_default():
    assert Settings.from_env({"TUNEWIRE_VERTEX_ENDPOINT": "http://127.0.0.1:9"}).vertex_api_endpoint == "http://127.0.0.1:9"


def test_a_malformed_value_names_the_variable():
    with pytest.raises(ConfigError, match="TUNEWIRE_DEFAULT_EPOCHS"):
        Settings.from_env({"TUNEWIRE_DEFAULT_EPOCHS": "three"})
    with pytest.raises(ConfigError, match="TUNEWIRE_LOCAL"):
        Settings.from_env({"TUNEWIRE_LOCAL": "maybe"})


def test_env_names_lists_every_variable_read():
    names = Settings.env_names()
    assert "GOOGLE_CLOUD_PROJECT" in names and "TUNEWIRE_JOBS_COLLECTION" in names
    assert len(names) == len(set(names))
