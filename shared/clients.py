"""The clients a process needs, built lazily from one Settings and kept for the process's life.

Each property imports its library on first use, so a function pays only for what it touches at
cold start (validate and notify never import aiplatform). Functions and the CLI share this.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from shared.config import Settings


class Clients:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def firestore(self) -> Any:
        from google.cloud import firestore

        return firestore.Client(project=self.settings.project or None)

    @cached_property
    def jobs(self) -> Any:
        from shared.jobs.store import JobStore

        return JobStore(self.firestore, self.settings.jobs_collection)

    @cached_property
    def storage(self) -> Any:
        from shared.gcs import gcs_client

        return gcs_client()

    @cached_property
    def bus(self) -> Any:
        from shared.bus import EventBus

        return EventBus(self.settings)

    @cached_property
    def vertex(self) -> Any:
        from shared.vertex import VertexTuning

        return VertexTuning(self.settings)

    @cached_property
    def endpoints(self) -> Any:
        from shared.webhooks.registry import EndpointRegistry, secret_store_for

        return EndpointRegistry(self.firestore, self.settings, secret_store_for(self.settings))

    @cached_property
    def deliveries(self) -> Any:
        return self.firestore.collection(self.settings.deliveries_collection)
