"""The Pub/Sub topology tunewire runs on — the same on the local stack as in Terraform.

Four topics, each with a `<topic>-dlq` dead-letter topic, and one push subscription per topic to
the function that consumes it (retry policy + dead-letter policy), plus a pull subscription on
each dead-letter topic so dead letters can be listed and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.topics import dead_letter_subscription, dead_letter_topic, pipeline_topics, push_subscription

__all__ = ["DeliveryPolicy", "Route", "create_subscriptions", "create_topics", "dead_letter_subscription",
           "dead_letter_topic", "push_subscription", "routes"]


@dataclass(frozen=True)
class Route:
    topic: str
    function: str  # the functions/main.py entry point consuming the topic


CONSUMERS = ("validate_dataset", "launch_tuning", "poll_jobs", "notify")
"""The functions/main.py entry point consuming each topic, in pipeline order."""


def routes(settings: Settings) -> tuple[Route, ...]:
    return tuple(Route(topic, function) for topic, function in zip(pipeline_topics(settings), CONSUMERS, strict=True))


@dataclass(frozen=True)
class DeliveryPolicy:
    ack_deadline_s: int = 600
    min_backoff_s: int = 1
    max_backoff_s: int = 10
    max_delivery_attempts: int = 5
    copies: int = 1  # > 1 only in tests: N push subscriptions per topic deliver every message N times


def create_topics(settings: Settings, publisher: Any) -> None:
    """Every topic and its dead-letter topic (idempotent)."""
    from google.api_core.exceptions import AlreadyExists

    for route in routes(settings):
        for topic in (route.topic, dead_letter_topic(route.topic)):
            try:
                publisher.create_topic(name=publisher.topic_path(settings.project, topic))
            except AlreadyExists:
                pass


def create_subscriptions(settings: Settings, subscriber: Any, function_urls: dict[str, str], policy: DeliveryPolicy) -> None:
    """Push subscriptions to each function's URL (path names the topic, as functions-framework
    expects) and pull subscriptions on the dead-letter topics."""
    from google.api_core.exceptions import AlreadyExists
    from google.protobuf import duration_pb2

    project = settings.project
    for route, copy in ((route, copy) for route in routes(settings) for copy in range(policy.copies)):
        topic_path = f"projects/{project}/topics/{route.topic}"
        dlq_path = f"projects/{project}/topics/{dead_letter_topic(route.topic)}"
        name = push_subscription(route.topic) + (f"-copy{copy}" if copy else "")
        request = {
            "name": subscriber.subscription_path(project, name),
            "topic": topic_path,
            "push_config": {"push_endpoint": f"{function_urls[route.function]}/projects/{project}/topics/{route.topic}"},
            "ack_deadline_seconds": policy.ack_deadline_s,
            "retry_policy": {
                "minimum_backoff": duration_pb2.Duration(seconds=policy.min_backoff_s),
                "maximum_backoff": duration_pb2.Duration(seconds=policy.max_backoff_s),
            },
            "dead_letter_policy": {"dead_letter_topic": dlq_path, "max_delivery_attempts": policy.max_delivery_attempts},
        }
        for subscription in (
            request,
            {"name": subscriber.subscription_path(project, dead_letter_subscription(route.topic)), "topic": dlq_path,
             "ack_deadline_seconds": 60},
        ):
            try:
                subscriber.create_subscription(request=subscription)
            except AlreadyExists:
                pass
