"""Configuration: one settings object read from the environment.

The cloud and the local stack run the same code; only these values differ. Terraform sets them on
each function; `tunewire env` prints them for the local stack. Reading is cheap (no imports beyond
the standard library) because every function reads it at cold start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Mapping

from shared.model_catalog import DEFAULT_BASE_MODEL

ENV_PREFIX = "TUNEWIRE_"


class ConfigError(ValueError):
    """A setting is missing or malformed: the deployment is wrong, not the user's upload."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"expected a boolean, got {value!r}")


@dataclass(frozen=True)
class Settings:
    """Every setting tunewire reads. Field `x` comes from env `TUNEWIRE_X` unless noted."""

    project: str = ""  # GOOGLE_CLOUD_PROJECT
    region: str = "us-central1"
    vertex_endpoint: str = ""  # default: https://{region}-aiplatform.googleapis.com
    datasets_bucket: str = ""
    reports_bucket: str = ""
    jobs_collection: str = "jobs"
    endpoints_collection: str = "webhook_endpoints"
    deliveries_collection: str = "webhook_deliveries"
    topic_dataset_uploads: str = "dataset-uploads"
    topic_tuning_requests: str = "tuning-requests"
    topic_poll_ticks: str = "poll-ticks"
    topic_job_events: str = "job-events"
    default_base_model: str = DEFAULT_BASE_MODEL
    default_epochs: int = 0  # 0: leave it to the service
    default_adapter_size: int = 0  # 0: leave it to the service
    allow_discontinued_models: bool = False
    tuning_service_account: str = ""
    local: bool = False  # the local stack: loopback webhook URLs allowed
    webhook_allowed_hosts: str = ""  # comma-separated; empty: any public host
    webhook_secrets_file: str = ""  # local stack: JSON file of signing secrets
    webhook_secret_prefix: str = "tunewire-webhook-"  # cloud: Secret Manager secret name prefix
    webhook_timeout_s: float = 10.0  # one delivery attempt, connect to response headers
    max_event_age_s: int = 86_400
    poll_concurrency: int = 8
    vertex_timeout_s: float = 30.0
    reconcile_after_s: int = 120  # a state event or a VALIDATED job untouched this long is re-driven
    validation_stale_s: int = 1_200  # a RECEIVED/VALIDATING job untouched this long is re-driven
    max_validation_attempts: int = 3  # then it ends INVALID (the validator keeps crashing on it)
    pending_alert_s: int = 3_600  # a job PENDING longer than this is reported as stuck

    @property
    def lease_s(self) -> float:
        """How long a launch (a find and a create) or a poll tick may hold its lease: a holder
        that dies frees it after this long."""
        return 2 * self.vertex_timeout_s + 30

    @property
    def vertex_api_endpoint(self) -> str:
        return self.vertex_endpoint or f"https://{self.region}-aiplatform.googleapis.com"

    @property
    def allowed_webhook_hosts(self) -> tuple[str, ...]:
        return tuple(host.strip() for host in self.webhook_allowed_hosts.split(",") if host.strip())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            name = "GOOGLE_CLOUD_PROJECT" if field.name == "project" else ENV_PREFIX + field.name.upper()
            raw = env.get(name)
            if raw is None and field.name == "project":
                raw = env.get("GCLOUD_PROJECT")
            if raw is None:
                continue
            try:
                if field.type == "bool":
                    values[field.name] = _bool(raw)
                elif field.type == "int":
                    values[field.name] = int(raw)
                elif field.type == "float":
                    values[field.name] = float(raw)
                else:
                    values[field.name] = raw
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from exc
        return cls(**values)  # type: ignore[arg-type]

    @staticmethod
    def env_names() -> list[str]:
        """Every environment variable `from_env` reads (Terraform tests check each is set)."""
        return ["GOOGLE_CLOUD_PROJECT" if f.name == "project" else ENV_PREFIX + f.name.upper() for f in fields(Settings)]
