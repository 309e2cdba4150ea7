"""shared/dead_letters.py against the real Pub/Sub emulator.

Each test builds tunewire's topology under topic names of its own: each topic with its `-dlq`
topic and `-dlq-sub` pull subscription, plus a pull subscription `<topic>-work` (dead-letter
policy, 5 attempts) standing in for the function. A message is dead-lettered for real by
nacking it five times on `-work`; the emulator then moves it, with its delivery count, to `-dlq`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import orjson
import pytest
from google.cloud import pubsub_v1

from infra.topology import create_topics, dead_letter_subscription, dead_letter_topic
from shared.config import Settings
from shared import dead_letters
from shared.dead_letters import REPLAYED_FROM, source_topics
from tests.integration.pipeline_helpers import PROJECT

pytestmark = pytest.mark.integration

MAX_DELIVERY_ATTEMPTS = 5
PULL_WAIT_S = 1.5
"""Short pulls keep the tests quick: the emulator holds an empty pull for its timeout less ~1 s,
and every message a test looks for is already queued when it pulls."""


def list_dead_letters(settings: Settings, **options: Any) -> list[dead_letters.DeadLetter]:
    return dead_letters.list_dead_letters(settings, wait_s=PULL_WAIT_S, **options)


def replay_dead_letters(settings: Settings, **options: Any) -> dead_letters.ReplayReport:
    return dead_letters.replay_dead_letters(settings, wait_s=PULL_WAIT_S, **options)


class Crash(BaseException):
    """The process dying between two calls (not an Exception: nothing may catch and go on)."""


@dataclass
class Topology:
    settings: Settings
    publisher: Any
    subscriber: Any

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        return self.publisher.publish(self.publisher.topic_path(PROJECT, topic), data, **attributes).result(timeout=30)

    def work(self, topic: str) -> str:
        return self.subscriber.subscription_path(PROJECT, f"{topic}-work")

    def dead_letter(self, topic: str, data: bytes, **attributes: str) -> str:
        """Publish, then nack on `-work` until Pub/Sub dead-letters it; the source message id."""
        message_id = self.publish(topic, data, **attributes)
        for _ in range(MAX_DELIVERY_ATTEMPTS):
            received = self.pull_work(topic, message_id)
            self.subscriber.modify_ack_deadline(subscription=self.work(topic), ack_ids=[received.ack_id], ack_deadline_seconds=0)
        # the emulator moves a message to the dead-letter topic when it would deliver it a sixth time
        assert self.work_is_empty(topic), "the message was delivered after its last allowed attempt"
        return message_id

    def pull_work(self, topic: str, message_id: str | None = None) -> Any:
        """The next message on `-work` (the one with `message_id`, when given); fails after 10 pulls."""
        for _ in range(10):
            for received in self.subscriber.pull(subscription=self.work(topic), max_messages=10, timeout=5).received_messages:
                if message_id is None or received.message.message_id == message_id:
                    return received
                self.subscriber.modify_ack_deadline(subscription=self.work(topic), ack_ids=[received.ack_id], ack_deadline_seconds=0)
        raise AssertionError(f"nothing arrived on {topic}-work")

    def work_is_empty(self, topic: str) -> bool:
        return not self.subscriber.pull(subscription=self.work(topic), max_messages=10, timeout=PULL_WAIT_S).received_messages


@pytest.fixture
def topology(pubsub_emulator) -> Iterator[Topology]:
    suffix = uuid.uuid4().hex[:8]
    base = Settings(project=PROJECT)
    settings = replace(base, **{name: f"{getattr(base, name)}-{suffix}" for name in
                                ("topic_dataset_uploads", "topic_tuning_requests", "topic_poll_ticks", "topic_job_events")})
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    create_topics(settings, publisher)
    for topic in source_topics(settings):
        dlq = publisher.topic_path(PROJECT, dead_letter_topic(topic))
        subscriber.create_subscription(request={"name": subscriber.subscription_path(PROJECT, dead_letter_subscription(topic)),
                                                "topic": dlq, "ack_deadline_seconds": 60})
        subscriber.create_subscription(request={
            "name": subscriber.subscription_path(PROJECT, f"{topic}-work"), "topic": publisher.topic_path(PROJECT, topic),
            "ack_deadline_seconds": 60,
            "dead_letter_policy": {"dead_letter_topic": dlq, "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS}})
    yield Topology(settings, publisher, subscriber)
    subscriber.close()


def job_event(job_id: str) -> tuple[bytes, dict[str, str]]:
    data = orjson.dumps({"type": "job.state_changed", "job_id": job_id, "state": "INVALID"})
    return data, {"type": "job.state_changed", "job_id": job_id, "state": "INVALID"}


def test_a_dead_lettered_message_is_listed_with_its_attempts_body_and_job_and_listing_removes_nothing(topology):
    events = topology.settings.topic_job_events
    data, attributes = job_event("job-listed")
    topology.dead_letter(events, data, **attributes)

    first = list_dead_letters(topology.settings, topic=events)
    again = list_dead_letters(topology.settings)

    assert [(letter.topic, letter.job_id, letter.delivery_attempts, letter.body_format) for letter in first] == [
        (events, "job-listed", MAX_DELIVERY_ATTEMPTS, "json")]
    assert first[0].body == orjson.loads(data) and first[0].publish_time is not None
    assert first[0].attributes["CloudPubSubDeadLetterSourceSubscription"] == f"{events}-work"
    assert [letter.message_id for letter in again] == [first[0].message_id]


def test_undecodable_bytes_are_listed_as_a_hex_excerpt(topology):
    uploads = topology.settings.topic_dataset_uploads
    topology.dead_letter(uploads, b"\xff\xfe\x00poison")
    (letter,) = list_dead_letters(topology.settings, topic=uploads)
    assert (letter.body_format, letter.body, letter.job_id, letter.size) == ("hex", b"\xff\xfe\x00poison".hex(), None, 9)


def test_replay_republishes_the_data_and_attributes_to_the_original_topic_and_empties_the_dead_letter_queue(topology):
    events = topology.settings.topic_job_events
    data, attributes = job_event("job-replayed")
    topology.dead_letter(events, data, **attributes)
    (letter,) = list_dead_letters(topology.settings, topic=events)

    report = replay_dead_letters(topology.settings, topic=events)

    assert [item.dead_letter.message_id for item in report.replayed] == [letter.message_id] and not report.failed
    arrived = topology.pull_work(events)
    assert arrived.message.message_id == report.replayed[0].new_message_id
    assert bytes(arrived.message.data) == data
    assert dict(arrived.message.attributes) == {**attributes, REPLAYED_FROM: f"{dead_letter_topic(events)}/{letter.message_id}"}
    assert list_dead_letters(topology.settings) == []


def test_the_replayed_message_is_on_the_topic_before_its_dead_letter_is_acknowledged(topology, mocker):
    events = topology.settings.topic_job_events
    data, attributes = job_event("job-ordered")
    topology.dead_letter(events, data, **attributes)
    subscriber = pubsub_v1.SubscriberClient()
    seen_at_ack: list[bytes] = []
    real_acknowledge = subscriber.acknowledge

    def acknowledge(**kwargs: Any) -> None:
        seen_at_ack.append(bytes(topology.pull_work(events).message.data))  # already published?
        real_acknowledge(**kwargs)

    mocker.patch.object(subscriber, "acknowledge", side_effect=acknowledge)
    report = replay_dead_letters(topology.settings, topic=events, subscriber=subscriber)

    assert len(report.replayed) == 1 and seen_at_ack == [data]
    assert list_dead_letters(topology.settings, topic=events) == []


def test_a_crash_between_publish_and_ack_loses_nothing_and_the_next_replay_finishes_it(topology, mocker):
    events = topology.settings.topic_job_events
    data, attributes = job_event("job-crashed")
    topology.dead_letter(events, data, **attributes)
    subscriber = pubsub_v1.SubscriberClient()
    mocker.patch.object(subscriber, "acknowledge", side_effect=Crash())

    with pytest.raises(Crash):
        replay_dead_letters(topology.settings, topic=events, subscriber=subscriber)

    assert bytes(topology.pull_work(events).message.data) == data  # published once
    assert [letter.job_id for letter in list_dead_letters(topology.settings, topic=events)] == ["job-crashed"]  # and still queued
    retry = replay_dead_letters(topology.settings, topic=events)
    assert len(retry.replayed) == 1 and list_dead_letters(topology.settings, topic=events) == []


def test_a_failed_publish_leaves_the_dead_letter_queued_and_publishes_nothing(topology, mocker):
    events = topology.settings.topic_job_events
    data, attributes = job_event("job-unpublished")
    topology.dead_letter(events, data, **attributes)
    publisher = pubsub_v1.PublisherClient()
    mocker.patch.object(publisher, "publish", side_effect=RuntimeError("publish refused"))

    report = replay_dead_letters(topology.settings, topic=events, publisher=publisher)

    assert report.replayed == [] and "publish refused" in report.failed[0].error
    assert [letter.job_id for letter in list_dead_letters(topology.settings, topic=events)] == ["job-unpublished"]
    assert topology.work_is_empty(events)


def test_a_dry_run_and_a_job_filter_replay_only_what_was_asked(topology):
    events = topology.settings.topic_job_events
    for job_id in ("job-a", "job-b"):
        data, attributes = job_event(job_id)
        topology.dead_letter(events, data, **attributes)

    dry = replay_dead_letters(topology.settings, topic=events, dry_run=True)
    assert sorted(item.dead_letter.job_id for item in dry.replayed) == ["job-a", "job-b"]
    assert topology.work_is_empty(events)

    only_a = replay_dead_letters(topology.settings, job_id="job-a")
    assert [item.dead_letter.job_id for item in only_a.replayed] == ["job-a"]
    assert orjson.loads(topology.pull_work(events).message.data)["job_id"] == "job-a"
    assert [letter.job_id for letter in list_dead_letters(topology.settings)] == ["job-b"]
