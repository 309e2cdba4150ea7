"""The notify step: signed deliveries to real local receivers, logged in Firestore, once each."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from google.cloud import firestore
from werkzeug.serving import make_server

from shared.config import Settings
from shared.jobs.states import JobState
from shared.pipeline.notify_job_event import STATE_NOT_ENTERED, DeliveryFailed, notify_job_event
from shared.webhooks import create_receiver_app, generate_secret
from shared.webhooks.endpoints import LocalSecretStore
from shared.webhooks.registry import EndpointRegistry
from tests.integration.pipeline_helpers import PROJECT

pytestmark = pytest.mark.integration


class Receiver:
    """A verifying receiver on 127.0.0.1 that can be told to fail the next N requests."""

    def __init__(self) -> None:
        self.secret = generate_secret()
        self.events: list[dict] = []
        self.fail_next = 0
        self.requests = 0
        self.status_when_failing = 500
        app = create_receiver_app([self.secret], lambda payload, headers: self.events.append(payload))

        def gate(environ, start_response):
            self.requests += 1
            if self.fail_next:
                self.fail_next -= 1
                start_response(f"{self.status_when_failing} Nope", [("Content-Type", "text/plain")])
                return [b"nope"]
            return app(environ, start_response)

        self.server = make_server("127.0.0.1", 0, gate, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def world(firestore_emulator, tmp_path, store) -> Iterator[dict]:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(project=PROJECT, local=True, endpoints_collection=f"ep-{suffix}", webhook_secrets_file=str(tmp_path / "secrets.json"))
    client = firestore.Client(project=PROJECT)
    registry = EndpointRegistry(client, settings, LocalSecretStore(settings.webhook_secrets_file))
    receiver = Receiver()
    endpoint, _ = registry.add(receiver.url, prefix="team/", secret=receiver.secret)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    store.create_if_absent(job_id, {"source": {"bucket": "b", "name": "team/train.jsonl", "generation": "7"}}, reason="uploaded")
    for state in (JobState.VALIDATING, JobState.VALIDATED):
        store.transition(job_id, state, reason="walk", updates={"validation": {"valid": True, "examples": 3}})
    yield {"settings": settings, "registry": registry, "receiver": receiver, "endpoint": endpoint, "job_id": job_id,
           "store": store, "deliveries": client.collection(f"deliveries-{suffix}")}
    receiver.close()


def notify(world, state="VALIDATED"):
    return notify_job_event(job_id=world["job_id"], state=state, settings=world["settings"], store=world["store"],
                            registry=world["registry"], deliveries=world["deliveries"], timeout_s=5)


def test_a_job_event_reaches_a_matching_endpoint_signed_and_verified(world):
    outcome = notify(world)
    assert outcome.delivered == [world["endpoint"].id]
    [event] = world["receiver"].events
    assert event["type"] == "tuning.job.validated"
    assert event["data"]["job_id"] == world["job_id"] and event["data"]["validation"]["examples"] == 3
    log = world["store"].get(world["job_id"])["deliveries"]
    assert [(d["event"], d["outcome"], d["status"]) for d in log] == [("tuning.job.validated", "delivered", 200)]


def test_a_redelivered_event_is_not_sent_twice(world):
    notify(world)
    again = notify(world)
    assert again.skipped == [world["endpoint"].id] and len(world["receiver"].events) == 1


def test_an_event_for_a_state_the_job_never_entered_sends_nothing(world):
    outcome = notify(world, state="SUCCEEDED")  # the job is only VALIDATED
    assert outcome.ignored == STATE_NOT_ENTERED and outcome.delivered == [] and world["receiver"].events == []


def test_notify_takes_the_event_out_of_the_outbox(world):
    assert world["store"].get(world["job_id"])["outbox"] == ["VALIDATED"]
    notify(world)
    assert world["store"].get(world["job_id"])["outbox"] == []


def test_a_receiver_failing_twice_then_succeeding_gets_it_with_three_attempts_logged(world):
    world["receiver"].fail_next = 2
    for _ in range(2):
        with pytest.raises(DeliveryFailed):
            notify(world)
    assert notify(world).delivered == [world["endpoint"].id]
    attempts = [d for d in world["store"].get(world["job_id"])["deliveries"] if d["endpoint_id"] == world["endpoint"].id]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert len(world["receiver"].events) == 1


def test_410_gone_disables_the_endpoint(world):
    world["receiver"].fail_next, world["receiver"].status_when_failing = 1, 410
    assert notify(world).gone == [world["endpoint"].id]
    endpoint = world["registry"].get(world["endpoint"].id)
    assert endpoint.enabled is False and "410" in endpoint.disabled_reason
    assert notify(world, "RUNNING").delivered == []


def test_states_without_a_webhook_send_nothing(world):
    assert notify(world, "LAUNCHING").event_type is None
    assert world["receiver"].requests == 0


def test_an_unsafe_per_upload_url_is_refused_and_never_retried(world):
    world["store"].update(world["job_id"], {"settings": {"webhook": "http://169.254.169.254/latest/meta-data"}})
    outcome = notify(world)
    assert outcome.refused == ["upload"] and outcome.delivered == [world["endpoint"].id]
    assert notify(world).skipped == [world["endpoint"].id, "upload"]


def test_endpoints_with_another_prefix_are_not_called(world):
    other = Receiver()
    try:
        world["registry"].add(other.url, prefix="other-team/")
        notify(world)
        assert other.requests == 0
    finally:
        other.close()


def test_signing_secrets_never_reach_firestore(world):
    notify(world)
    secret = world["registry"].secrets_for(world["endpoint"].id)[0]
    documents = [world["store"].get(world["job_id"])] + [s.to_dict() for s in world["deliveries"].stream()]
    documents += [e.to_dict() for e in world["registry"].list()]
    assert secret not in repr(documents) and secret.split("_", 1)[1] not in repr(documents)


def test_two_concurrent_deliveries_of_one_event_post_once(world):
    outcomes, errors = [], []

    def run():
        try:
            outcomes.append(notify(world))
        except DeliveryFailed as exc:  # the one that found the other's attempt in flight
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert world["receiver"].requests == 1 and len(world["receiver"].events) == 1
    assert notify(world).skipped == [world["endpoint"].id]
