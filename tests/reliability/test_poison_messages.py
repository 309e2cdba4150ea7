"""Poison messages and dead letters on the real local stack.

The contract: a handler raises only on a fault it takes for transient, so a message that can
never be processed is acknowledged with a logged reason (or, were a handler to raise on it,
dead-lettered after `max_delivery_attempts` pushes) — never retried forever. Each case below is
published straight to a topic with the Pub/Sub client, and its fate is read from what the stack
really did: the function's JSON log lines in the run folder (one per push the handler finished),
functions-framework's tracebacks there (one per push the handler raised on), and the
`<topic>-dlq-sub` queues. Every case turns out acknowledged on the first push.

The scheduler's poll tick is switched off (an hour's interval), so every poll tick the
poll_jobs log shows is one this module published.

The last test makes a job event dead-letter for real (its only webhook receiver is down for
every attempt), finds it with `tunewire dlq list --json`, brings the receiver back, runs
`tunewire dlq replay` and sees the webhook delivered and the dead-letter queue empty.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from google.cloud import pubsub_v1
from typer.testing import CliRunner

from infra.topology import DeliveryPolicy
from shared.dead_letters import DeadLetter, list_dead_letters
from shared.jobs.identity import job_id_for_upload
from shared.uploads.notification import storage_notification
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import EXAMPLES, Receiver, StackDriver
from tests.reliability.stack_faults import log_entries
from tunewire import context
from tunewire.cli import app

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

DELIVERY = DeliveryPolicy(min_backoff_s=1, max_backoff_s=2, max_delivery_attempts=5)
SETTLE_S = 3 * DELIVERY.max_backoff_s
"""After every case was handled, the stack runs this long more before the pushes are counted:
a retried message would be pushed again within `max_backoff_s`."""
NONCE = uuid.uuid4().hex[:8]
POISON_LOGGED = "poison message acknowledged"


# ------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class PoisonCase:
    """One message published to one topic, and exactly what must become of it."""

    name: str
    topic: str
    function: str
    kind: str  # what is wrong with it, in words
    data: bytes
    attributes: dict[str, str]
    log_message: str  # the line the handler logs when it acknowledges it
    reason: str  # text the logged reason must contain ("" for poll ticks: a tick carries nothing to reject)
    job_id: str | None = None  # the job its log lines name; else they name the Pub/Sub message id
    raised_pushes: int = 0  # pushes on which the handler raises (Pub/Sub retries) before it acknowledges
    traceback_needle: str | None = None  # how its raises show in functions-framework's tracebacks
    expected: str = "acknowledged on the first push with a logged reason; never retried, never dead-lettered"

    def matches(self, entry: dict[str, Any], message_id: str) -> bool:
        if entry.get("message") != self.log_message:
            return False
        if self.function == "poll_jobs":
            return True
        return entry.get("job_id") == self.job_id if self.job_id else entry.get("event_id") == message_id


def _notification(name: str, generation: int = 1) -> tuple[bytes, dict[str, str]]:
    """A Cloud Storage OBJECT_FINALIZE notification (JSON_API_V1) for an object never uploaded."""
    return storage_notification({"kind": "storage#object", "bucket": "tunewire-datasets", "name": name,
                                 "generation": str(generation), "size": "120"})


def _job_message(kind: str, job_id: str, **extra: str) -> bytes:
    return orjson.dumps({"type": kind, "job_id": job_id, **extra})


UNDECODABLE = b"\xff\xfe\x00\x9c" + NONCE.encode()
WRONG_SCHEMA = orjson.dumps({"hello": "world", "nonce": NONCE})
UNKNOWN_JOB = f"no-such-job-{NONCE}"
MISSING_DATASET = f"poison/{NONCE}/gone.jsonl"
MISSING_MANIFEST = f"poison/{NONCE}/gone.tunewire.json"
NOT_JSON = "message data is not base64 JSON"
TICK_EXPECTED = "handled once as an ordinary tick (poll_jobs reads no payload) and acknowledged; never dead-lettered"


def poison_cases() -> list[PoisonCase]:
    dataset, dataset_attributes = _notification(MISSING_DATASET)
    manifest, manifest_attributes = _notification(MISSING_MANIFEST)
    return [
        PoisonCase("dataset-uploads-undecodable", "dataset-uploads", "validate_dataset", "undecodable bytes", UNDECODABLE, {},
                   POISON_LOGGED, NOT_JSON),
        PoisonCase("dataset-uploads-wrong-schema", "dataset-uploads", "validate_dataset", "JSON of the wrong schema", WRONG_SCHEMA, {},
                   POISON_LOGGED, "the notification names no bucket"),
        PoisonCase("dataset-uploads-unknown-job", "dataset-uploads", "validate_dataset", "a job message for an unknown job",
                   _job_message("tuning.requested", UNKNOWN_JOB + "-u"), {}, POISON_LOGGED, "the notification names no bucket"),
        PoisonCase("dataset-uploads-missing-dataset", "dataset-uploads", "validate_dataset",
                   "a finalize notification for a dataset that does not exist", dataset, dataset_attributes,
                   "upload invalid", "DATASET_UNREADABLE", job_id=job_id_for_upload("tunewire-datasets", MISSING_DATASET, 1)),
        PoisonCase("dataset-uploads-missing-manifest", "dataset-uploads", "validate_dataset",
                   "a finalize notification for a manifest that does not exist", manifest, manifest_attributes,
                   "upload invalid", "INVALID_MANIFEST", job_id=job_id_for_upload("tunewire-datasets", MISSING_MANIFEST, 1)),
        PoisonCase("tuning-requests-undecodable", "tuning-requests", "launch_tuning", "undecodable bytes", UNDECODABLE, {},
                   POISON_LOGGED, NOT_JSON),
        PoisonCase("tuning-requests-wrong-schema", "tuning-requests", "launch_tuning", "JSON of the wrong schema", WRONG_SCHEMA, {},
                   POISON_LOGGED, "expected a tuning.requested message, got type 'None'"),
        PoisonCase("tuning-requests-unknown-job", "tuning-requests", "launch_tuning", "a tuning request for an unknown job",
                   _job_message("tuning.requested", UNKNOWN_JOB + "-t"), {}, "launch unknown_job",
                   "no such job; message acknowledged", job_id=UNKNOWN_JOB + "-t"),
        PoisonCase("poll-ticks-undecodable", "poll-ticks", "poll_jobs", "undecodable bytes", UNDECODABLE, {},
                   "poll tick", "", expected=TICK_EXPECTED),
        PoisonCase("poll-ticks-wrong-schema", "poll-ticks", "poll_jobs", "JSON of the wrong schema", WRONG_SCHEMA, {},
                   "poll tick", "", expected=TICK_EXPECTED),
        PoisonCase("poll-ticks-unknown-job", "poll-ticks", "poll_jobs", "a tick naming an unknown job",
                   _job_message("poll.tick", UNKNOWN_JOB + "-p"), {}, "poll tick", "", expected=TICK_EXPECTED),
        PoisonCase("job-events-undecodable", "job-events", "notify", "undecodable bytes", UNDECODABLE, {},
                   POISON_LOGGED, NOT_JSON),
        PoisonCase("job-events-wrong-schema", "job-events", "notify", "JSON of the wrong schema", WRONG_SCHEMA, {},
                   POISON_LOGGED, "expected a job.state_changed message, got type 'None'"),
        PoisonCase("job-events-unknown-job", "job-events", "notify", "a state change of an unknown job",
                   _job_message("job.state_changed", UNKNOWN_JOB + "-e", state="SUCCEEDED"), {},
                   "job event for an unknown job acknowledged", "nothing sent", job_id=UNKNOWN_JOB + "-e", expected="acknowledged on the first push, nothing sent; never retried, never dead-lettered"),
    ]


CASES = poison_cases()


# ------------------------------------------------------------------ reading the stack


def tracebacks(stack: StackDriver, function: str, needle: str = "") -> int:
    """Pushes on which the handler raised: functions-framework logs one "Exception on <path>"
    with a traceback for each; those mentioning `needle` are counted."""
    blocks = stack.log(f"fn-{function}").split("ERROR in app: Exception on ")[1:]
    return sum(1 for block in blocks if needle in block.split("\n{", 1)[0])


@dataclass
class Observed:
    """What became of one case."""

    message_id: str
    log_lines: list[dict[str, Any]]  # the handler's lines acknowledging it
    raised_pushes: int
    dead_letter: DeadLetter | None


@dataclass
class PoisonRun:
    cases: dict[str, Observed]
    raised_pushes: dict[str, int]  # function -> every push it raised on, whatever the message


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[StackDriver]:
    yield from run_stack(tmp_path_factory, twin_engine="fake", tick_interval_s=3600.0, delivery=DELIVERY)


@pytest.fixture(scope="module")
def observed(stack: StackDriver) -> PoisonRun:
    """Publish every case, wait until each one's acknowledgement is logged, let the stack run
    SETTLE_S more, then read what became of each. Poll ticks go one at a time: their log lines
    name no message, so the n-th tick line belongs to the n-th tick published."""
    publisher = pubsub_v1.PublisherClient()
    project = stack.stack.config.project

    def publish(case: PoisonCase) -> str:
        return publisher.publish(publisher.topic_path(project, case.topic), case.data, **case.attributes).result(timeout=30)

    message_ids: dict[str, str] = {}
    try:
        for case in CASES:
            if case.function != "poll_jobs":
                message_ids[case.name] = publish(case)
        for count, case in enumerate((case for case in CASES if case.function == "poll_jobs"), start=1):
            message_ids[case.name] = publish(case)
            stack.wait_until(lambda: len(_lines(stack, case, "")) >= count, timeout_s=60, what=f"poll tick {count}")
    finally:
        publisher.stop()
    for case in CASES:
        stack.wait_until(lambda: bool(_lines(stack, case, message_ids[case.name])), timeout_s=120, what=f"{case.name} acknowledged")
    time.sleep(SETTLE_S)
    letters = list_dead_letters(stack.clients.settings)
    ticks = [case for case in CASES if case.function == "poll_jobs"]
    tick_lines = _lines(stack, ticks[0], "")

    def acknowledgements(case: PoisonCase) -> list[dict[str, Any]]:
        if case.function != "poll_jobs":
            return _lines(stack, case, message_ids[case.name])
        if len(tick_lines) != len(ticks):  # a tick handled twice: each case shows every tick line
            return tick_lines
        return [tick_lines[ticks.index(case)]]

    cases = {
        case.name: Observed(
            message_id=message_ids[case.name],
            log_lines=acknowledgements(case),
            raised_pushes=tracebacks(stack, case.function, case.traceback_needle) if case.traceback_needle else 0,
            dead_letter=next((letter for letter in letters if letter.topic == case.topic and letter.data == case.data), None),
        )
        for case in CASES
    }
    return PoisonRun(cases, {function: tracebacks(stack, function) for function in {case.function for case in CASES}})


def _lines(stack: StackDriver, case: PoisonCase, message_id: str) -> list[dict[str, Any]]:
    return [entry for entry in log_entries(stack, f"fn-{case.function}") if case.matches(entry, message_id)]


# ------------------------------------------------------------------ the poison cases


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_poison_message_is_acknowledged_once_with_a_logged_reason_and_never_dead_lettered(stack, observed, case, outcome):
    seen = observed.cases[case.name]
    assert seen.dead_letter is None
    assert len(seen.log_lines) == 1, seen.log_lines
    (line,) = seen.log_lines
    assert case.reason in str(line.get("reason", "")), line
    assert seen.raised_pushes == case.raised_pushes
    expected_raises = sum(other.raised_pushes for other in CASES if other.function == case.function)
    assert observed.raised_pushes[case.function] == expected_raises, "a push raised that no case expects"
    if case.log_message == POISON_LOGGED:
        assert (line["severity"], line["event_id"]) == ("ERROR", seen.message_id)
    if case.job_id and case.function == "validate_dataset":
        assert stack.clients.jobs.get(case.job_id)["state"] == "INVALID"
    if case.name == "job-events-unknown-job":
        assert line["severity"] == "WARNING" and line["job_id"] == case.job_id
    pushes = seen.raised_pushes + 1
    raised = (f"raised on pushes 1-{seen.raised_pushes} (each traceback names the missing object), then " if seen.raised_pushes else "")
    reason = line.get("reason") or ""
    said = f": {reason[:140]}{'…' if len(reason) > 140 else ''}" if reason else ""
    outcome.record(
        area="poison messages",
        fault=f"{case.kind} on {case.topic}",
        injected=f"{len(case.data)} bytes" + (f" and {len(case.attributes)} attributes" if case.attributes else "")
                 + f" published straight to {case.topic}",
        expected=case.expected,
        observed=f"{case.function} {raised}acknowledged it on push {pushes} of {pushes}, logging {line['severity']} "
                 f"{line['message']!r}{said}; {SETTLE_S} s later still {len(seen.log_lines)} acknowledgement, "
                 f"{0 if seen.dead_letter is None else 1} dead letters",
        push_attempts=pushes,
        raised_pushes=seen.raised_pushes,
        acknowledgements=len(seen.log_lines),
        dead_letters=0 if seen.dead_letter is None else 1,
    )


# ------------------------------------------------------------------ a real dead letter, listed and replayed


runner = CliRunner()


def tunewire(stack: StackDriver, *args: str) -> Any:
    """`tunewire ...` in this process, pointed at this module's stack through the environment."""
    context.clients.cache_clear()
    try:
        result = runner.invoke(app, list(args), env={**stack.stack.env(), "TUNEWIRE_USE_ENV": "1"})
    finally:
        context.clients.cache_clear()
    assert result.exit_code == 0, result.output
    return result


def listed(stack: StackDriver, job_id: str) -> list[dict[str, Any]]:
    return json.loads(tunewire(stack, "dlq", "list", "--json", "--topic", "job-events", "--job", job_id).stdout)


def test_a_job_event_dead_lettered_while_its_receiver_is_down_is_listed_replayed_and_delivered(stack, outcome):
    receiver = Receiver()
    try:
        receiver.always_fail = True
        stack.clients.endpoints.add(receiver.url, prefix="dlq/", secret=receiver.secret)
        job_id = stack.upload(EXAMPLES / "broken" / "train.jsonl", prefix="dlq/run")
        assert stack.wait_for(job_id)["state"] == "INVALID"
        found: list[dict[str, Any]] = []
        stack.wait_until(lambda: bool(found.extend(listed(stack, job_id)) or found), timeout_s=120, what="the dead letter")
        (letter,) = found
        refused = [request.status for request in receiver.received_for(job_id)]

        receiver.always_fail = False
        replay = tunewire(stack, "dlq", "replay", "--topic", "job-events", "--job", job_id)
        stack.wait_until(lambda: receiver.events_for(job_id) == ["tuning.job.invalid"], timeout_s=60, what="the replayed webhook")
        left = json.loads(tunewire(stack, "dlq", "list", "--json", "--topic", "job-events").stdout)
        statuses = [request.status for request in receiver.received_for(job_id)]
        attempts = [(entry["attempt"], entry["status"]) for entry in stack.clients.jobs.get(job_id)["deliveries"]]
    finally:
        receiver.close()

    assert (letter["topic"], letter["job_id"], letter["body"]["state"]) == ("job-events", job_id, "INVALID")
    assert refused == [503] * DELIVERY.max_delivery_attempts
    assert letter["delivery_attempts"] == DELIVERY.max_delivery_attempts
    assert f"replayed job-events dead letter {letter['message_id']} (job {job_id})" in replay.stdout
    assert statuses == refused + [200]
    assert attempts == [(n, 503) for n in range(1, DELIVERY.max_delivery_attempts + 1)] + [(DELIVERY.max_delivery_attempts + 1, 200)]
    assert left == []
    outcome.record(
        area="dead letters",
        fault="the only webhook receiver of a job answers 503 to every push",
        injected="a verifying receiver set to fail, registered for the upload's prefix; an invalid upload",
        expected=f"the job event is dead-lettered after {DELIVERY.max_delivery_attempts} pushes and shown by `tunewire dlq list`; "
                 "once the receiver is back, `tunewire dlq replay` gets it delivered once and empties the queue",
        observed=f"the receiver refused {len(refused)} pushes; `dlq list` showed {len(found)} dead letter with delivery count "
                 f"{letter['delivery_attempts']}; after `dlq replay` the receiver got {len(statuses) - len(refused)} more request "
                 f"and verified {len(receiver.events_for(job_id))} event; {len(left)} dead letters left on job-events",
        push_attempts=len(refused),
        listed=len(found),
        replayed=1,
        delivered_after_replay=len(receiver.events_for(job_id)),
        dead_letters_left=len(left),
    )
