"""Publishing to tunewire's topics (Pub/Sub, or the Pub/Sub emulator via PUBSUB_EMULATOR_HOST)."""

from __future__ import annotations

from typing import Any

from shared.config import Settings
from shared.messages import JOB_STATE_CHANGED, TUNING_REQUESTED, JobMessage

PUBLISH_TIMEOUT_S = 30.0


class EventBus:
    """Publishes job messages; every publish waits (bounded) for the server's ack, or raises."""

    def __init__(self, settings: Settings, publisher: Any = None) -> None:
        if publisher is None:
            from google.cloud import pubsub_v1

            publisher = pubsub_v1.PublisherClient()
        self._publisher = publisher
        self._settings = settings

    def _topic(self, name: str) -> str:
        return self._publisher.topic_path(self._settings.project, name)

    def publish(self, topic: str, message: JobMessage) -> str:
        future = self._publisher.publish(self._topic(topic), message.encode(), **message.attributes())
        return future.result(timeout=PUBLISH_TIMEOUT_S)

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        """Publish bytes as they are (a re-driven storage notification, a replayed dead letter)."""
        future = self._publisher.publish(self._topic(topic), data, **attributes)
        return future.result(timeout=PUBLISH_TIMEOUT_S)

    def request_tuning(self, job_id: str) -> str:
        return self.publish(self._settings.topic_tuning_requests, JobMessage(TUNING_REQUESTED, job_id))

    def job_state_changed(self, job_id: str, state: str, reason: str) -> str:
        return self.publish(
            self._settings.topic_job_events, JobMessage(JOB_STATE_CHANGED, job_id, state=state, reason=reason[:500])
        )
