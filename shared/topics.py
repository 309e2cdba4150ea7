"""The names of tunewire's Pub/Sub topics and subscriptions: one place for the naming rule.

infra/topology.py (the local stack), shared/dead_letters.py (`tunewire dlq`, which also runs in
the cloud, where infra/ is not shipped) and the Terraform checks all read these.
"""

from __future__ import annotations

from shared.config import Settings


def pipeline_topics(settings: Settings) -> list[str]:
    """The four topics, in pipeline order."""
    return [settings.topic_dataset_uploads, settings.topic_tuning_requests, settings.topic_poll_ticks, settings.topic_job_events]


def dead_letter_topic(topic: str) -> str:
    return f"{topic}-dlq"


def push_subscription(topic: str) -> str:
    return f"{topic}-push"


def dead_letter_subscription(topic: str) -> str:
    """The pull subscription on a topic's dead-letter topic (listed and replayed by `tunewire dlq`)."""
    return f"{dead_letter_topic(topic)}-sub"
