"""shared/dead_letters.py with Pub/Sub's client mocked: what a listing shows, that it removes
nothing, and that a replay acknowledges a dead letter only after its publish succeeded."""

from __future__ import annotations

import base64
import datetime as dt
from collections import defaultdict
from typing import Any

import orjson
import pytest
from google.api_core.exceptions import DeadlineExceeded, ServiceUnavailable
from google.pubsub_v1 import types

from infra.topology import routes
from shared.bus import PUBLISH_TIMEOUT_S
from shared.config import Settings
from shared.dead_letters import (
    EXCERPT_CHARS,
    MAX_JSON_BODY_BYTES,
    REPLAYED_FROM,
    UnknownTopic,
    decode_body,
    job_id_of,
    list_dead_letters,
    replay_dead_letters,
    source_topics,
)
from shared.jobs.identity import job_id_for_upload

SETTINGS = Settings(project="proj")
DEAD_LETTERED_AT = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)
PUBSUB_BOOKKEEPING = {
    "CloudPubSubDeadLetterSourceDeliveryCount": "5",
    "CloudPubSubDeadLetterSourceSubscription": "job-events-push",
    "CloudPubSubDeadLetterSourceSubscriptionProject": "proj",
    "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-03-04T05:06:00Z",
}


def job_event(job_id: str, message_id: str = "1") -> types.ReceivedMessage:
    data = orjson.dumps({"type": "job.state_changed", "job_id": job_id, "state": "INVALID"})
    attributes = {"type": "job.state_changed", "job_id": job_id, "state": "INVALID", **PUBSUB_BOOKKEEPING}
    return received(data, attributes, message_id)


def received(data: bytes, attributes: dict[str, str] | None = None, message_id: str = "1", ack_id: str | None = None,
             delivery_attempt: int = 0) -> types.ReceivedMessage:
    return types.ReceivedMessage(
        ack_id=ack_id or f"ack-{message_id}",
        message=types.PubsubMessage(data=data, attributes=attributes or {}, message_id=message_id, publish_time=DEAD_LETTERED_AT),
        delivery_attempt=delivery_attempt,
    )


class Subscriptions:
    """A mocked SubscriberClient whose pulls answer from per-subscription queues of batches."""

    def __init__(self, mocker: Any, batches: dict[str, list[list[types.ReceivedMessage]]]) -> None:
        self.batches = defaultdict(list, {f"projects/proj/subscriptions/{name}": list(queue) for name, queue in batches.items()})
        self.client = mocker.Mock(name="subscriber")
        self.client.subscription_path.side_effect = lambda project, name: f"projects/{project}/subscriptions/{name}"
        self.client.pull.side_effect = self._pull

    def _pull(self, *, subscription: str, max_messages: int, timeout: float) -> types.PullResponse:
        queue = self.batches[subscription]
        return types.PullResponse(received_messages=queue.pop(0) if queue else [])

    def acked(self) -> list[str]:
        return [ack_id for call in self.client.acknowledge.call_args_list for ack_id in call.kwargs["ack_ids"]]

    def released(self) -> list[str]:
        calls = self.client.modify_ack_deadline.call_args_list
        assert all(call.kwargs["ack_deadline_seconds"] == 0 for call in calls)
        return [ack_id for call in calls for ack_id in call.kwargs["ack_ids"]]


def publisher_answering(mocker: Any, *message_ids: str) -> Any:
    publisher = mocker.Mock(name="publisher")
    publisher.topic_path.side_effect = lambda project, topic: f"projects/{project}/topics/{topic}"
    publisher.futures = [mocker.Mock(result=mocker.Mock(return_value=message_id)) for message_id in message_ids]
    publisher.publish.side_effect = publisher.futures
    return publisher


# ------------------------------------------------------------------ listing


def test_listing_hands_every_pulled_message_back_and_acknowledges_none(mocker):
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [[job_event("a", "1"), job_event("b", "2")], [job_event("c", "3")]]})
    found = list_dead_letters(SETTINGS, topic="job-events", subscriber=subscriptions.client)
    assert [letter.job_id for letter in found] == ["a", "b", "c"]
    assert subscriptions.acked() == []
    assert sorted(subscriptions.released()) == ["ack-1", "ack-2", "ack-3"]


def test_a_listed_dead_letter_carries_topic_id_time_attempts_attributes_json_body_and_job(mocker):
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [[job_event("job-1", "42")]]})
    (letter,) = list_dead_letters(SETTINGS, topic="job-events", subscriber=subscriptions.client)
    assert (letter.topic, letter.message_id, letter.publish_time, letter.delivery_attempts) == ("job-events", "42", DEAD_LETTERED_AT, 5)
    assert letter.attributes["job_id"] == "job-1" and letter.attributes["CloudPubSubDeadLetterSourceSubscription"] == "job-events-push"
    assert (letter.body_format, letter.job_id) == ("json", "job-1")
    assert letter.body == {"type": "job.state_changed", "job_id": "job-1", "state": "INVALID"}
    assert letter.to_dict()["publish_time"] == "2026-03-04T05:06:07Z" and letter.to_dict()["dead_letter_topic"] == "job-events-dlq"


def test_without_pubsubs_delivery_count_attribute_the_subscriptions_delivery_attempt_is_used(mocker):
    subscriptions = Subscriptions(mocker, {"poll-ticks-dlq-sub": [[received(b"{}", delivery_attempt=3)]]})
    (letter,) = list_dead_letters(SETTINGS, topic="poll-ticks", subscriber=subscriptions.client)
    assert letter.delivery_attempts == 3
    subscriptions = Subscriptions(mocker, {"poll-ticks-dlq-sub": [[received(b"{}")]]})
    assert list_dead_letters(SETTINGS, topic="poll-ticks", subscriber=subscriptions.client)[0].delivery_attempts is None


def test_a_storage_notification_names_the_job_its_upload_creates():
    attributes = {"bucketId": "datasets", "objectId": "team/train.jsonl", "objectGeneration": "17", "eventType": "OBJECT_FINALIZE"}
    data = orjson.dumps({"kind": "storage#object", "bucket": "datasets", "name": "team/train.jsonl", "generation": "17"})
    assert job_id_of(data, attributes) == job_id_for_upload("datasets", "team/train.jsonl", 17)


@pytest.mark.parametrize(
    ("data", "attributes"),
    [
        (orjson.dumps({"type": "poll.tick", "job_id": "scheduler"}), {"type": "poll.tick", "job_id": "scheduler"}),
        (b"{}", {"bucketId": "datasets", "objectId": "notes.txt", "objectGeneration": "1"}),
        (b"{}", {"bucketId": "datasets", "objectId": "train.jsonl"}),  # no generation: malformed
        (b"\xff\xfe", {}),
        (orjson.dumps({"type": "job.state_changed", "job_id": 7}), {}),
    ],
    ids=["poll-tick", "ignored-object", "malformed-notification", "undecodable", "job-id-not-a-string"],
)
def test_messages_that_name_no_job_have_none(data, attributes):
    assert job_id_of(data, attributes) is None


def test_an_undecodable_job_message_still_names_the_job_its_attributes_carry():
    assert job_id_of(b"\xff", {"type": "tuning.requested", "job_id": "job-9"}) == "job-9"


def test_bodies_are_json_when_they_parse_else_a_bounded_text_or_hex_excerpt():
    assert decode_body(b'{"a": [1, 2]}') == ("json", {"a": [1, 2]})
    assert decode_body(b"") == ("empty", None)
    assert decode_body(b"plain words") == ("text", "plain words")
    text_format, text = decode_body(b"x" * (EXCERPT_CHARS + 50))
    assert text_format == "text" and text == "x" * EXCERPT_CHARS + "…"
    hex_format, excerpt = decode_body(b"\xff\x00" * EXCERPT_CHARS)
    assert hex_format == "hex" and excerpt == ("ff00" * EXCERPT_CHARS)[: 2 * EXCERPT_CHARS] + "…"
    huge = orjson.dumps({"pad": "y" * MAX_JSON_BODY_BYTES})
    assert decode_body(huge)[0] == "text" and len(decode_body(huge)[1]) == EXCERPT_CHARS + 1


def test_listing_filters_by_job_and_stops_at_the_limit_handing_everything_back(mocker):
    letters = [job_event("a", "1"), job_event("b", "2"), job_event("a", "3"), job_event("a", "4")]
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [letters]})
    found = list_dead_letters(SETTINGS, topic="job-events", job_id="a", limit=2, subscriber=subscriptions.client)
    assert [letter.message_id for letter in found] == ["1", "3"]
    assert subscriptions.acked() == [] and sorted(subscriptions.released()) == ["ack-1", "ack-2", "ack-3", "ack-4"]


def test_a_message_pulled_again_during_a_scan_is_listed_once_and_released_by_its_newest_ack_id(mocker):
    again = received(job_event("a", "1").message.data, message_id="1", ack_id="ack-1-again")
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [[job_event("a", "1")], [again]]})
    found = list_dead_letters(SETTINGS, topic="job-events", subscriber=subscriptions.client)
    assert [letter.message_id for letter in found] == ["1"]
    assert subscriptions.released() == ["ack-1-again"]


def test_listing_every_topic_reads_each_topics_dead_letter_subscription(mocker):
    subscriptions = Subscriptions(mocker, {
        "dataset-uploads-dlq-sub": [[received(b"\xff", message_id="u")]],
        "tuning-requests-dlq-sub": [[received(b'{"type": "tuning.requested", "job_id": "t"}', message_id="t")]],
        "poll-ticks-dlq-sub": [[received(b"{}", message_id="p")]],
        "job-events-dlq-sub": [[job_event("e", "e")]],
    })
    found = list_dead_letters(SETTINGS, subscriber=subscriptions.client)
    assert [(letter.topic, letter.message_id, letter.job_id) for letter in found] == [
        ("dataset-uploads", "u", None), ("tuning-requests", "t", "t"), ("poll-ticks", "p", None), ("job-events", "e", "e")]
    pulled = {call.kwargs["subscription"] for call in subscriptions.client.pull.call_args_list}
    assert pulled == {f"projects/proj/subscriptions/{topic}-dlq-sub" for topic in source_topics(SETTINGS)}


def test_a_pull_that_times_out_empty_ends_the_scan(mocker):
    subscriber = mocker.Mock()
    subscriber.pull.side_effect = [types.PullResponse(received_messages=[job_event("a")]), DeadlineExceeded("nothing came")]
    assert [letter.job_id for letter in list_dead_letters(SETTINGS, topic="job-events", subscriber=subscriber)] == ["a"]
    assert subscriber.modify_ack_deadline.call_count == 1


def test_an_unknown_topic_is_refused_naming_the_topics_and_a_dlq_name_means_its_topic():
    with pytest.raises(UnknownTopic, match="dataset-uploads, tuning-requests, poll-ticks, job-events"):
        source_topics(SETTINGS, "jobs")
    assert source_topics(SETTINGS, "job-events-dlq") == ["job-events"]


def test_dlq_scans_the_topics_the_stack_routes_in_pipeline_order():
    assert source_topics(SETTINGS) == [route.topic for route in routes(SETTINGS)]


# ------------------------------------------------------------------ replay


def test_replay_publishes_the_exact_data_and_publisher_attributes_then_acks_after_the_publish_resolved(mocker):
    letter = job_event("job-1", "42")
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [[letter]]})
    publisher = publisher_answering(mocker, "900")
    order = mocker.Mock()
    order.attach_mock(publisher.publish, "publish")
    order.attach_mock(publisher.futures[0].result, "publish_result")
    order.attach_mock(subscriptions.client.acknowledge, "acknowledge")
    future = publisher.futures[0]

    report = replay_dead_letters(SETTINGS, topic="job-events", subscriber=subscriptions.client, publisher=publisher)

    assert [(item.dead_letter.message_id, item.new_message_id) for item in report.replayed] == [("42", "900")] and not report.failed
    (call,) = publisher.publish.call_args_list
    assert call.args == ("projects/proj/topics/job-events", bytes(letter.message.data))
    assert call.kwargs == {"type": "job.state_changed", "job_id": "job-1", "state": "INVALID", REPLAYED_FROM: "job-events-dlq/42"}
    assert [name for name, _, _ in order.mock_calls] == ["publish", "publish_result", "acknowledge"]
    assert future.result.call_args.kwargs == {"timeout": PUBLISH_TIMEOUT_S}
    assert subscriptions.acked() == ["ack-42"] and subscriptions.released() == []


def test_a_failed_publish_acks_nothing_and_hands_the_dead_letter_back(mocker):
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [[job_event("job-1", "42")]]})
    publisher = publisher_answering(mocker, "unused")
    publisher.publish.side_effect = [mocker.Mock(result=mocker.Mock(side_effect=ServiceUnavailable("pubsub down")))]
    report = replay_dead_letters(SETTINGS, topic="job-events", subscriber=subscriptions.client, publisher=publisher)
    assert report.replayed == [] and [failure.dead_letter.message_id for failure in report.failed] == ["42"]
    assert "ServiceUnavailable" in report.failed[0].error and report.failed[0].published_as is None
    assert subscriptions.acked() == [] and subscriptions.released() == ["ack-42"]


def test_an_ack_failing_after_the_publish_is_reported_with_the_published_message_id(mocker):
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [[job_event("job-1", "42")]]})
    subscriptions.client.acknowledge.side_effect = ServiceUnavailable("ack lost")
    publisher = publisher_answering(mocker, "901")
    report = replay_dead_letters(SETTINGS, topic="job-events", subscriber=subscriptions.client, publisher=publisher)
    (failure,) = report.failed
    assert failure.published_as == "901" and "the ack failed" in failure.error and report.replayed == []


def test_a_dry_run_publishes_and_acks_nothing_and_hands_every_dead_letter_back(mocker):
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [[job_event("a", "1"), job_event("b", "2")]]})
    publisher = publisher_answering(mocker)
    report = replay_dead_letters(SETTINGS, topic="job-events", dry_run=True, subscriber=subscriptions.client, publisher=publisher)
    assert report.dry_run and [(item.dead_letter.job_id, item.new_message_id) for item in report.replayed] == [("a", None), ("b", None)]
    assert publisher.publish.call_count == 0 and subscriptions.acked() == []
    assert sorted(subscriptions.released()) == ["ack-1", "ack-2"]


def test_replay_of_one_job_acks_only_its_dead_letters_and_hands_the_others_back(mocker):
    subscriptions = Subscriptions(mocker, {"job-events-dlq-sub": [[job_event("a", "1"), job_event("b", "2"), job_event("a", "3")]]})
    publisher = publisher_answering(mocker, "901", "903")
    report = replay_dead_letters(SETTINGS, topic="job-events", job_id="a", subscriber=subscriptions.client, publisher=publisher)
    assert [item.dead_letter.message_id for item in report.replayed] == ["1", "3"]
    assert subscriptions.acked() == ["ack-1", "ack-3"] and subscriptions.released() == ["ack-2"]


def test_the_replay_limit_counts_across_topics(mocker):
    subscriptions = Subscriptions(mocker, {
        "tuning-requests-dlq-sub": [[received(b'{"type": "tuning.requested", "job_id": "t"}', message_id="t1")]],
        "job-events-dlq-sub": [[job_event("a", "e1"), job_event("b", "e2")]],
    })
    report = replay_dead_letters(SETTINGS, limit=2, subscriber=subscriptions.client, publisher=publisher_answering(mocker, "n1", "n2"))
    replayed = [(item.dead_letter.topic, item.dead_letter.message_id) for item in report.replayed]
    assert replayed == [("tuning-requests", "t1"), ("job-events", "e1")]
    assert subscriptions.acked() == ["ack-t1", "ack-e1"] and subscriptions.released() == ["ack-e2"]


def test_a_replayed_storage_notification_keeps_its_object_attributes_and_bytes(mocker):
    attributes = {"bucketId": "datasets", "objectId": "team/train.jsonl", "objectGeneration": "17", "eventType": "OBJECT_FINALIZE",
                  "payloadFormat": "JSON_API_V1", "CloudPubSubDeadLetterSourceDeliveryCount": "5"}
    data = base64.b64decode(base64.b64encode(orjson.dumps({"kind": "storage#object", "name": "team/train.jsonl"})))
    subscriptions = Subscriptions(mocker, {"dataset-uploads-dlq-sub": [[received(data, attributes, "7")]]})
    publisher = publisher_answering(mocker, "70")
    replay_dead_letters(SETTINGS, topic="dataset-uploads", subscriber=subscriptions.client, publisher=publisher)
    (call,) = publisher.publish.call_args_list
    assert call.args[1] == data
    assert call.kwargs == {key: value for key, value in attributes.items() if not key.startswith("CloudPubSub")} | {
        REPLAYED_FROM: "dataset-uploads-dlq/7"}
