"""The local emulators, driven with the real google-cloud client libraries.

Client setup that works against these emulators (no credentials files, no network):

* Storage: with ``STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT`` set (the scheme is
  required) *before* the client is built, ``storage.Client(project=...)`` talks to
  fake-gcs-server and silently uses ``AnonymousCredentials``. Pass ``project=``:
  without it the project is ``None`` and ``create_bucket`` fails.
* Pub/Sub: with ``PUBSUB_EMULATOR_HOST=127.0.0.1:PORT`` (no scheme),
  ``pubsub_v1.PublisherClient()`` / ``SubscriberClient()`` use an insecure channel
  and no credentials.
* Firestore: with ``FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT`` (no scheme),
  ``firestore.Client(project=...)`` uses emulator credentials.

The second half tests :class:`infra.processes.ManagedProcess` itself.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore, pubsub_v1, storage

from infra.emulators import FakeGcs, FirestoreEmulator, PubSubEmulator
from infra.processes import ComponentFailedError, ManagedProcess, free_loopback_port, http_ok

pytestmark = pytest.mark.integration

PROJECT = "tunewire-test"


# --- fake-gcs-server -------------------------------------------------------------------


def test_storage_upload_and_stream_back(fake_gcs: FakeGcs) -> None:
    client = storage.Client(project=PROJECT)
    bucket = client.create_bucket("uploads")
    payload = os.urandom(3 * 1024 * 1024 + 17)  # > one chunk: resumable upload, ranged reads

    blob = bucket.blob("datasets/train.jsonl")
    with blob.open("wb", chunk_size=1024 * 1024) as writer:
        for offset in range(0, len(payload), 500_000):
            writer.write(payload[offset : offset + 500_000])

    fetched = client.bucket("uploads").get_blob("datasets/train.jsonl")
    assert fetched is not None and fetched.size == len(payload)
    chunks: list[bytes] = []
    with fetched.open("rb", chunk_size=256 * 1024) as reader:
        while chunk := reader.read(200_000):
            chunks.append(chunk)
    assert len(chunks) > 1
    assert b"".join(chunks) == payload


def test_storage_enforces_if_generation_match(fake_gcs: FakeGcs) -> None:
    client = storage.Client(project=PROJECT)
    bucket = client.create_bucket("preconditions")
    blob = bucket.blob("state.json")
    blob.upload_from_string(b"v1", if_generation_match=0)  # create only if absent
    generation = blob.generation
    assert generation is not None

    with pytest.raises(gexc.PreconditionFailed):
        bucket.blob("state.json").upload_from_string(b"again", if_generation_match=0)
    with pytest.raises(gexc.PreconditionFailed):
        bucket.blob("state.json").upload_from_string(b"stale", if_generation_match=generation + 1)

    bucket.blob("state.json").upload_from_string(b"v2", if_generation_match=generation)
    assert bucket.blob("state.json").download_as_bytes() == b"v2"


def test_storage_reset_empties_server(fake_gcs: FakeGcs) -> None:
    client = storage.Client(project=PROJECT)
    client.create_bucket("to-wipe").blob("a/b.txt").upload_from_string(b"x")
    fake_gcs.reset()
    assert list(client.list_buckets()) == []


# --- Pub/Sub emulator ------------------------------------------------------------------


def _pull_one(subscriber: pubsub_v1.SubscriberClient, subscription: str, timeout_s: float = 15.0) -> list[object]:
    """Synchronous pull until at least one message arrives (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 10, "return_immediately": True}, timeout=5
        )
        if response.received_messages:
            return list(response.received_messages)
        time.sleep(0.1)
    raise AssertionError(f"no message on {subscription} within {timeout_s}s")


def test_pubsub_round_trip(pubsub_emulator: PubSubEmulator) -> None:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        topic = publisher.topic_path(PROJECT, "round-trip")
        subscription = subscriber.subscription_path(PROJECT, "round-trip-sub")
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=subscription, topic=topic)

        message_id = publisher.publish(topic, b'{"hello": 1}', origin="test").result(timeout=10)

        received = _pull_one(subscriber, subscription)
        assert len(received) == 1
        message = received[0].message  # type: ignore[attr-defined]
        assert message.message_id == message_id
        assert message.data == b'{"hello": 1}'
        assert dict(message.attributes) == {"origin": "test"}
        subscriber.acknowledge(subscription=subscription, ack_ids=[received[0].ack_id])  # type: ignore[attr-defined]
    finally:
        subscriber.close()


def test_pubsub_reset_empties_emulator(pubsub_emulator: PubSubEmulator) -> None:
    publisher = pubsub_v1.PublisherClient()
    publisher.create_topic(name=publisher.topic_path(PROJECT, "to-wipe"))
    pubsub_emulator.reset()
    assert list(publisher.list_topics(project=f"projects/{PROJECT}")) == []


# --- Firestore emulator ----------------------------------------------------------------


def test_firestore_write_read_and_transaction(firestore_emulator: FirestoreEmulator) -> None:
    db = firestore.Client(project=PROJECT)
    ref = db.collection("jobs").document("job-1")
    ref.set({"state": "PENDING", "attempts": 0})
    snapshot = ref.get()
    assert snapshot.exists and snapshot.to_dict() == {"state": "PENDING", "attempts": 0}

    @firestore.transactional
    def claim(transaction: firestore.Transaction) -> bool:
        current = ref.get(transaction=transaction).to_dict() or {}
        if current.get("state") != "PENDING":
            return False
        transaction.update(ref, {"state": "RUNNING", "attempts": current["attempts"] + 1})
        return True

    assert claim(db.transaction()) is True
    assert claim(db.transaction()) is False  # second claim sees RUNNING
    assert ref.get().to_dict() == {"state": "RUNNING", "attempts": 1}


def test_firestore_reset_empties_database(firestore_emulator: FirestoreEmulator) -> None:
    db = firestore.Client(project=PROJECT)
    db.collection("to-wipe").document("d").set({"x": 1})
    firestore_emulator.reset()
    assert not db.collection("to-wipe").document("d").get().exists
    assert list(db.collection("jobs").stream()) == []


# --- ManagedProcess --------------------------------------------------------------------


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_stop_kills_whole_process_group(tmp_path: Path) -> None:
    process = ManagedProcess(name="sleepers", argv=["bash", "-c", "sleep 300 & sleep 300"], log_path=tmp_path / "s.log")
    process.start()
    time.sleep(0.3)  # let bash fork the background sleep
    assert process.is_running() and process.pgid is not None
    pgid = process.pgid

    process.stop(timeout_s=5)

    assert not process.is_running()
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    # SIG_IGN for TERM is inherited by the children, so only SIGKILL ends this group.
    argv = ["bash", "-c", "trap '' TERM; sleep 300 & sleep 300"]
    process = ManagedProcess(name="stubborn", argv=argv, log_path=tmp_path / "t.log")
    process.start()
    time.sleep(0.3)
    assert process.pgid is not None
    started = time.monotonic()
    process.stop(timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert _group_gone(process.pgid)


def test_stop_is_idempotent(tmp_path: Path) -> None:
    process = ManagedProcess(name="once", argv=["sleep", "300"], log_path=tmp_path / "o.log")
    process.stop()  # never started: no-op
    process.start()
    process.stop()
    process.stop()
    assert not process.is_running()
    assert process.exit_code() is not None


def test_early_exit_raises_with_log_tail(tmp_path: Path) -> None:
    script = "for i in $(seq 1 40); do echo line-$i; done; echo fatal: port in use >&2; exit 3"
    process = ManagedProcess(name="doomed", argv=["bash", "-c", script], log_path=tmp_path / "d.log")
    process.start()
    with pytest.raises(ComponentFailedError) as info:
        process.wait_healthy(lambda: False, timeout_s=10)
    error = info.value
    assert error.component == "doomed"
    assert error.exit_code == 3
    assert "fatal: port in use" in error.log_tail
    assert "line-40" in error.log_tail and "line-21" not in error.log_tail  # only the last 20 lines
    assert "doomed" in str(error) and "exit code 3" in str(error)
    process.stop()


def test_wait_healthy_deadline(tmp_path: Path) -> None:
    process = ManagedProcess(name="silent", argv=["bash", "-c", "echo started; sleep 300"], log_path=tmp_path / "l.log")
    process.start()
    try:
        started = time.monotonic()
        with pytest.raises(ComponentFailedError) as info:
            process.wait_healthy(lambda: False, timeout_s=0.5)
        assert time.monotonic() - started < 5
        assert info.value.exit_code is None
        assert "not healthy after" in str(info.value)
    finally:
        process.stop()
    assert process.pgid is not None and _group_gone(process.pgid)


def test_wait_healthy_with_http_probe(tmp_path: Path) -> None:
    port = free_loopback_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    process = ManagedProcess(name="http", argv=argv, log_path=tmp_path / "h.log", cwd=tmp_path)
    process.start()
    try:
        waited = process.wait_healthy(lambda: http_ok(f"http://127.0.0.1:{port}/", 0.5), timeout_s=10)
        assert waited < 10
    finally:
        process.stop()
    assert not http_ok(f"http://127.0.0.1:{port}/", 0.5)
