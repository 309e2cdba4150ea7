"""Dead letters: list what Pub/Sub gave up on, and replay it onto the topic it came from.

Every topic T has a dead-letter topic `T-dlq` and a pull subscription `T-dlq-sub` on it
(infra/topology.py; terraform/pubsub.tf creates the same). A message lands there when its push
subscription has failed `max_delivery_attempts` times: a handler kept raising, which by the
handlers' contract means a fault the pipeline took for transient (a webhook receiver down, an
API unavailable). Once the cause is fixed the message can be replayed.

Listing pulls and then hands every message back (modify-ack-deadline 0), so it removes nothing.
While a listing or replay runs it holds the messages it has pulled (the subscription's 60 s ack
deadline), so two of them at once each see part of the queue; run one at a time.

Replay publishes the message's data and attributes unchanged to the original topic, adding
`tunewire-replayed-from` (`<dead-letter topic>/<message id>`) and dropping only the
`CloudPubSubDeadLetter*` attributes Pub/Sub added when it dead-lettered the message. The dead
letter is acknowledged only after the publish succeeded: a crash in between leaves it in the
queue to be replayed again, and the duplicate is harmless because every handler is idempotent.
A failed publish leaves the dead letter where it was.

The same code runs against the local stack's Pub/Sub emulator (`PUBSUB_EMULATOR_HOST`) and
against Cloud Pub/Sub with Application Default Credentials; the caller needs
`roles/pubsub.subscriber` on the `-dlq-sub` subscriptions and `roles/pubsub.publisher` on the
topics it replays to.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.bus import EventBus
from shared.config import Settings
from shared.jobs.identity import job_id_for_upload
from shared.jsonable import plain
from shared.messages import JOB_STATE_CHANGED, TUNING_REQUESTED, decode_pubsub_data, parse_job_message
from shared.topics import dead_letter_subscription, dead_letter_topic, pipeline_topics
from shared.uploads.notification import ObjectKind, PoisonMessage, parse_storage_notification

REPLAYED_FROM = "tunewire-replayed-from"
"""The attribute a replayed message carries: `<dead-letter topic>/<dead letter's message id>`."""

PUBSUB_DEAD_LETTER_PREFIX = "CloudPubSubDeadLetter"
DELIVERY_COUNT_ATTRIBUTE = "CloudPubSubDeadLetterSourceDeliveryCount"

EXCERPT_CHARS = 300
"""Bodies that are not JSON are shown as at most this many characters (text) or bytes (hex)."""
MAX_JSON_BODY_BYTES = 64 * 1024
"""Larger bodies are shown as a text excerpt, never parsed whole into a listing."""

PULL_BATCH = 100
PULL_WAIT_S = 3.0
"""How long one pull may wait for messages; a pull that returns none ends the scan. (Pub/Sub may
answer a pull early with fewer messages than it holds: a scan stops only on an empty answer.)"""
RELEASE_CHUNK = 1000
JOB_MESSAGE_TYPES = (TUNING_REQUESTED, JOB_STATE_CHANGED)


class UnknownTopic(ValueError):
    """The topic filter names none of tunewire's topics."""


@dataclass(frozen=True)
class DeadLetter:
    """One message waiting in a dead-letter subscription."""

    topic: str  # the topic it was published to (not the -dlq topic)
    message_id: str  # its id in the dead-letter topic
    publish_time: _dt.datetime | None  # when Pub/Sub dead-lettered it
    delivery_attempts: int | None  # failed push attempts before it was dead-lettered, when recorded
    attributes: dict[str, str]
    body_format: str  # json | text | hex | empty
    body: Any  # the JSON value, or a bounded text / hex excerpt
    size: int  # bytes of data
    job_id: str | None  # the tunewire job the message names, if any
    data: bytes = field(repr=False, default=b"")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (without the raw bytes: `body` says what they hold)."""
        return plain(
            {
                "topic": self.topic,
                "dead_letter_topic": dead_letter_topic(self.topic),
                "message_id": self.message_id,
                "publish_time": self.publish_time,
                "delivery_attempts": self.delivery_attempts,
                "job_id": self.job_id,
                "attributes": self.attributes,
                "body_format": self.body_format,
                "body": self.body,
                "size": self.size,
            }
        )


@dataclass(frozen=True)
class Replayed:
    dead_letter: DeadLetter
    new_message_id: str | None  # None on a dry run


@dataclass(frozen=True)
class ReplayFailure:
    dead_letter: DeadLetter
    error: str
    published_as: str | None = None  # set when the publish succeeded but the ack did not


@dataclass
class ReplayReport:
    dry_run: bool
    replayed: list[Replayed] = field(default_factory=list)
    failed: list[ReplayFailure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "replayed": [{**item.dead_letter.to_dict(), "new_message_id": item.new_message_id} for item in self.replayed],
            "failed": [{**item.dead_letter.to_dict(), "error": item.error, "published_as": item.published_as} for item in self.failed],
        }


# ------------------------------------------------------------------ reading one message


def decode_body(data: bytes) -> tuple[str, Any]:
    """(`json`, value) when the bytes parse as JSON, else a bounded (`text`, excerpt) for UTF-8
    or (`hex`, excerpt); (`empty`, None) for no data."""
    if not data:
        return "empty", None
    if len(data) <= MAX_JSON_BODY_BYTES:
        try:
            return "json", orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        excerpt = data[:EXCERPT_CHARS].hex()
        return "hex", excerpt + ("…" if len(data) > EXCERPT_CHARS else "")
    return "text", text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else "")


def job_id_of(data: bytes, attributes: Mapping[str, str]) -> str | None:
    """The job a message names: a storage notification's derived job id, or a job message's
    `job_id`; None for poll ticks, ignored objects and anything unparseable."""
    message = {"data": base64.b64encode(data).decode("ascii"), "attributes": dict(attributes)}
    if "objectId" in attributes or "bucketId" in attributes:
        try:
            upload = parse_storage_notification(message)
        except PoisonMessage:
            return None
        if upload.kind is ObjectKind.IGNORED:
            return None
        return job_id_for_upload(upload.bucket, upload.name, upload.generation)
    try:
        kind = decode_pubsub_data(message).get("type")
        if kind in JOB_MESSAGE_TYPES:
            return parse_job_message(message, expected_type=str(kind)).job_id
    except PoisonMessage:
        pass
    named = attributes.get("job_id")
    return named if named and attributes.get("type") in JOB_MESSAGE_TYPES else None


def _delivery_attempts(received: Any) -> int | None:
    recorded = received.message.attributes.get(DELIVERY_COUNT_ATTRIBUTE)
    if recorded is not None:
        try:
            return int(recorded)
        except ValueError:
            return None
    return int(received.delivery_attempt) or None


def _publish_time(message: Any) -> _dt.datetime | None:
    moment = getattr(message, "publish_time", None)
    if not isinstance(moment, _dt.datetime):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def to_dead_letter(topic: str, received: Any) -> DeadLetter:
    """A pulled ReceivedMessage from `topic`'s dead-letter subscription → DeadLetter."""
    message = received.message
    data = bytes(message.data)
    attributes = dict(message.attributes)
    body_format, body = decode_body(data)
    return DeadLetter(
        topic=topic,
        message_id=message.message_id,
        publish_time=_publish_time(message),
        delivery_attempts=_delivery_attempts(received),
        attributes=attributes,
        body_format=body_format,
        body=body,
        size=len(data),
        job_id=job_id_of(data, attributes),
        data=data,
    )


def replay_attributes(dead_letter: DeadLetter) -> dict[str, str]:
    """The publisher's attributes (Pub/Sub's dead-letter bookkeeping dropped) plus the replay mark."""
    kept = {key: value for key, value in dead_letter.attributes.items() if not key.startswith(PUBSUB_DEAD_LETTER_PREFIX)}
    kept[REPLAYED_FROM] = f"{dead_letter_topic(dead_letter.topic)}/{dead_letter.message_id}"
    return kept


# ------------------------------------------------------------------ topics


def source_topics(settings: Settings, topic: str | None = None) -> list[str]:
    """tunewire's topics, or just `topic` (its own name or its `-dlq` name); UnknownTopic otherwise."""
    known = pipeline_topics(settings)
    if topic is None:
        return known
    wanted = topic.removesuffix("-dlq")
    if wanted not in known:
        raise UnknownTopic(f"no topic {topic!r}; the topics are {', '.join(known)}")
    return [wanted]


# ------------------------------------------------------------------ holding pulled messages


class _Lease:
    """The messages pulled from one dead-letter subscription, held until acked or released.

    Holding them (rather than handing each back at once) is what lets a scan see every message
    once: a released message would be pulled again by the next pull."""

    def __init__(self, subscriber: Any, subscription: str, wait_s: float) -> None:
        self._subscriber = subscriber
        self._subscription = subscription
        self._wait_s = wait_s
        self._held: dict[str, str] = {}  # message id -> latest ack id

    def pull(self) -> list[Any]:
        """Messages not seen before in this lease; [] when the subscription had nothing new."""
        from google.api_core.exceptions import DeadlineExceeded

        try:
            response = self._subscriber.pull(subscription=self._subscription, max_messages=PULL_BATCH, timeout=self._wait_s)
        except DeadlineExceeded:
            return []
        fresh = []
        for received in response.received_messages:
            message_id = received.message.message_id
            if message_id not in self._held:
                fresh.append(received)
            self._held[message_id] = received.ack_id  # a redelivery (lease ran out) has a new ack id
        return fresh

    def scan(self) -> Iterator[Any]:
        while batch := self.pull():
            yield from batch

    def ack(self, message_id: str) -> None:
        self._subscriber.acknowledge(subscription=self._subscription, ack_ids=[self._held[message_id]])
        del self._held[message_id]

    def release(self) -> None:
        """Hand every held message back to the subscription at once (modify-ack-deadline 0)."""
        ack_ids = list(self._held.values())
        self._held.clear()
        for start in range(0, len(ack_ids), RELEASE_CHUNK):
            self._subscriber.modify_ack_deadline(
                subscription=self._subscription, ack_ids=ack_ids[start : start + RELEASE_CHUNK], ack_deadline_seconds=0
            )


def _matches(dead_letter: DeadLetter, job_id: str | None) -> bool:
    return job_id is None or dead_letter.job_id == job_id


def _subscription_path(settings: Settings, subscriber: Any, topic: str) -> str:
    return subscriber.subscription_path(settings.project, dead_letter_subscription(topic))


def _list_one(settings: Settings, subscriber: Any, topic: str, job_id: str | None, limit: int | None, wait_s: float) -> list[DeadLetter]:
    lease = _Lease(subscriber, _subscription_path(settings, subscriber, topic), wait_s)
    found: list[DeadLetter] = []
    try:
        for received in lease.scan():
            dead_letter = to_dead_letter(topic, received)
            if _matches(dead_letter, job_id):
                found.append(dead_letter)
                if limit is not None and len(found) >= limit:
                    break
    finally:
        lease.release()
    return found


# ------------------------------------------------------------------ the two operations


def list_dead_letters(
    settings: Settings,
    *,
    topic: str | None = None,
    job_id: str | None = None,
    limit: int | None = None,
    subscriber: Any = None,
    wait_s: float = PULL_WAIT_S,
) -> list[DeadLetter]:
    """The dead letters of one topic (or all, in pipeline order), naming one job (or any), at
    most `limit`; nothing is removed. The topics are scanned in parallel, so listing all four
    costs about one empty pull's wait."""
    topics = source_topics(settings, topic)
    own = subscriber is None
    subscriber = subscriber or _new_subscriber()
    try:
        with ThreadPoolExecutor(max_workers=len(topics)) as pool:
            per_topic = list(pool.map(lambda name: _list_one(settings, subscriber, name, job_id, limit, wait_s), topics))
    finally:
        if own:
            subscriber.close()
    found = [dead_letter for batch in per_topic for dead_letter in batch]
    return found[:limit] if limit is not None else found


def replay_dead_letters(
    settings: Settings,
    *,
    topic: str | None = None,
    job_id: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    subscriber: Any = None,
    publisher: Any = None,
    wait_s: float = PULL_WAIT_S,
) -> ReplayReport:
    """Publish matching dead letters back to their topics, acking each only after its publish
    succeeded; everything else is handed back untouched. A dry run publishes and acks nothing."""
    report = ReplayReport(dry_run=dry_run)
    own_subscriber, own_publisher = subscriber is None, publisher is None and not dry_run
    subscriber = subscriber or _new_subscriber()
    publisher = None if dry_run else (publisher or _new_publisher())
    try:
        for name in source_topics(settings, topic):
            remaining = None if limit is None else limit - len(report.replayed) - len(report.failed)
            if remaining is not None and remaining <= 0:
                break
            _replay_one(settings, subscriber, publisher, name, job_id, remaining, wait_s, report)
    finally:
        if own_subscriber:
            subscriber.close()
        if own_publisher and publisher is not None:
            publisher.stop()
    return report


def _replay_one(settings: Settings, subscriber: Any, publisher: Any, topic: str, job_id: str | None, limit: int | None,
                wait_s: float, report: ReplayReport) -> None:
    lease = _Lease(subscriber, _subscription_path(settings, subscriber, topic), wait_s)
    handled = 0
    try:
        for received in lease.scan():
            dead_letter = to_dead_letter(topic, received)
            if not _matches(dead_letter, job_id):
                continue
            handled += 1
            if publisher is None:
                report.replayed.append(Replayed(dead_letter, None))
            else:
                _replay_message(settings, publisher, lease, dead_letter, report)
            if limit is not None and handled >= limit:
                break
    finally:
        lease.release()  # everything not acked: other jobs' letters, failures, a dry run's


def _replay_message(settings: Settings, publisher: Any, lease: _Lease, dead_letter: DeadLetter, report: ReplayReport) -> None:
    try:
        new_message_id = EventBus(settings, publisher).publish_raw(dead_letter.topic, dead_letter.data, replay_attributes(dead_letter))
    except Exception as exc:  # noqa: BLE001 - not published: the dead letter stays, the report says why
        report.failed.append(ReplayFailure(dead_letter, f"publish failed: {type(exc).__name__}: {exc}"[:500]))
        return
    try:
        lease.ack(dead_letter.message_id)
    except Exception as exc:  # noqa: BLE001 - published but still queued: a later replay repeats it (harmless)
        report.failed.append(ReplayFailure(dead_letter, f"published, but the ack failed: {type(exc).__name__}: {exc}"[:500],
                                           published_as=str(new_message_id)))
        return
    report.replayed.append(Replayed(dead_letter, str(new_message_id)))


def _new_subscriber() -> Any:
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient()


def _new_publisher() -> Any:
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient()
