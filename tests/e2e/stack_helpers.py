"""Driving a running local stack from tests: uploads, waits, and a verifying webhook receiver."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from functions.poll_jobs import POLL_LEASE
from infra.stack import LocalStack
from shared.clients import Clients
from shared.jobs.identity import job_id_for_upload
from shared.jobs.states import TERMINAL_STATES
from shared.leases import LOCKS_COLLECTION
from shared.webhooks import create_receiver_app, generate_secret

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


ISSUED_SECRETS: list[str] = []
"""Every signing secret a Receiver verified with in this test process: the secrets scan
(tests/e2e/secret_scan.py) checks that none of them was ever logged or stored."""

RECEIVER_MODES = ("ok", "down", "slow", "redirect", "gone")


@dataclass(frozen=True)
class ReceivedRequest:
    """One request that reached the receiver, whatever it answered. ``webhook_id``, ``event``
    and ``job_id`` are read from the headers and body without verifying anything."""

    mode: str
    status: int
    webhook_id: str | None
    event: str | None
    job_id: str | None


class Receiver:
    """A webhook receiver on 127.0.0.1 that verifies signatures and can misbehave on purpose.

    ``mode`` (settable at any time) says how it treats the next request:

    * ``"ok"``: verifies, records the event in ``events``, answers 200 (``fail_next`` /
      ``always_fail`` make it answer 503 instead, as before);
    * ``"down"``: not listening at all (connection refused); leaving it listens again on the
      same port, so the registered URL works again;
    * ``"slow"``: holds each request ``slow_s`` seconds (past the sender's timeout) then answers
      200 — too late to count — without handing the event on;
    * ``"redirect"``: answers the next of ``redirect_statuses`` with ``Location: redirect_to``;
    * ``"gone"``: answers 410.

    Every request that reaches it is listed in ``received``. It verifies with ``secret``
    (default: a new one); either way the secret joins ``ISSUED_SECRETS``.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        mode: str = "ok",
        slow_s: float = 12.0,
        redirect_to: str = "http://169.254.169.254/computeMetadata/v1/",
        redirect_statuses: tuple[int, ...] = (302,),
    ) -> None:
        self.secret = secret or generate_secret()
        ISSUED_SECRETS.append(self.secret)
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.received: list[ReceivedRequest] = []
        self.requests = 0
        self.fail_next = 0
        self.always_fail = False
        self.slow_s = slow_s
        self.redirect_to = redirect_to
        self.redirect_statuses = redirect_statuses
        self._redirects = 0
        self._app = create_receiver_app([self.secret], self._record)
        self._mode = "ok"
        self.server = self._listen(0)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/"
        self.mode = mode

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in RECEIVER_MODES:
            raise ValueError(f"unknown receiver mode {mode!r}; one of {RECEIVER_MODES}")
        if mode == "down" and self._mode != "down":
            self._mode = mode
            self._stop_listening()
        elif mode != "down" and self._mode == "down":
            self.server = self._listen(self.port)
            self._mode = mode
        else:
            self._mode = mode

    def _listen(self, port: int) -> Any:
        server = make_server("127.0.0.1", port, self._gate, threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return server

    def _stop_listening(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _gate(self, environ: dict, start_response: Any) -> Any:
        self.requests += 1
        mode = self._mode
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        if mode == "slow":  # listed on arrival: its late answer comes after the sender gave up
            self.received.append(_describe_request(mode, 200, environ, body))
            time.sleep(self.slow_s)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"too late"]
        answered: list[int] = []

        def answer(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            answered.append(int(status.split()[0]))
            return start_response(status, headers, *rest)

        try:
            return self._answer(mode, environ, answer)
        finally:
            self.received.append(_describe_request(mode, answered[0] if answered else 0, environ, body))

    def _answer(self, mode: str, environ: dict, answer: Any) -> Any:
        if mode == "redirect":
            status = self.redirect_statuses[self._redirects % len(self.redirect_statuses)]
            self._redirects += 1
            answer(f"{status} Redirect", [("Location", self.redirect_to), ("Content-Type", "text/plain")])
            return [b"moved"]
        if mode == "gone":
            answer("410 Gone", [("Content-Type", "text/plain")])
            return [b"gone"]
        if self.always_fail or self.fail_next:
            self.fail_next = max(0, self.fail_next - 1)
            answer("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down"]
        return self._app(environ, answer)

    def _record(self, payload: dict[str, Any], headers: Any) -> None:
        self.events.append(payload)
        self.headers.append(dict(headers))

    def events_for(self, job_id: str) -> list[str]:
        return [event["type"] for event in self.events if event["data"]["job_id"] == job_id]

    def received_for(self, job_id: str) -> list[ReceivedRequest]:
        return [request for request in self.received if request.job_id == job_id]

    def close(self) -> None:
        if self._mode != "down":
            self._stop_listening()


def _describe_request(mode: str, status: int, environ: dict, body: bytes) -> ReceivedRequest:
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    payload = payload if isinstance(payload, dict) else {}
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    return ReceivedRequest(mode, status, environ.get("HTTP_WEBHOOK_ID"), payload.get("type"), data.get("job_id"))


class StackDriver:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.clients = Clients(stack.settings())

    def upload(self, local: Path | bytes, *, prefix: str, name: str = "train.jsonl", metadata: dict[str, str] | None = None) -> str:
        """Upload to the datasets bucket; returns the job id the pipeline will use."""
        object_name = f"{prefix}/{uuid.uuid4().hex[:8]}/{name}"
        blob = self.clients.storage.bucket(self.stack.config.datasets_bucket).blob(object_name)
        blob.metadata = metadata
        if isinstance(local, bytes):
            blob.upload_from_string(local)
        else:
            blob.upload_from_filename(str(local))
        return job_id_for_upload(self.stack.config.datasets_bucket, object_name, blob.generation)

    def wait_for(self, job_id: str, states: set[str] | None = None, timeout_s: float = 180.0) -> dict[str, Any]:
        wanted = states or {state.value for state in TERMINAL_STATES}
        deadline = time.monotonic() + timeout_s
        job: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            job = self.clients.jobs.get(job_id)
            if job and job["state"] in wanted:
                return job
            crashed = self.stack.crashed()
            assert not crashed, f"stack component crashed: {crashed[0]}"
            time.sleep(0.5)
        raise AssertionError(
            f"job {job_id} did not reach {sorted(wanted)} in {timeout_s} s; last: {json.dumps(job, default=str)[:2000]}"
            f"\n{self.diagnosis()}"
        )

    def log(self, component: str) -> str:
        """What a stack component (`fn-poll_jobs`, `tuning-twin`, ...) has logged so far ("" if nothing)."""
        path = self.stack.run_dir / f"{component}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def diagnosis(self, lines: int = 25) -> str:
        """What a stalled run needs explained: the poll lock and the tails of the logs that move jobs."""
        lock = self.clients.firestore.collection(LOCKS_COLLECTION).document(POLL_LEASE).get()
        parts = [f"{LOCKS_COLLECTION}/{POLL_LEASE}: {json.dumps(lock.to_dict() if lock.exists else None, default=str)}"]
        for component in ("fn-poll_jobs", "fn-launch_tuning", "tuning-twin", "scheduler-ticker"):
            tail = self.log(component).splitlines()[-lines:]
            parts.append(f"--- {component} (last {len(tail)} lines)\n" + "\n".join(line[:400] for line in tail))
        return "\n".join(parts)

    def wait_until(self, predicate: Any, timeout_s: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}")

    def vertex_jobs_labelled(self, job_id: str) -> list[Any]:
        _, client = self.clients.vertex._api()
        parent = f"projects/{self.stack.config.project}/locations/{self.stack.config.region}"
        return list(client.list_tuning_jobs(request={"parent": parent, "filter": f'labels.tunewire-job="{job_id}"'}))

    def dead_letters(self, topic: str) -> list[dict[str, Any]]:
        from google.cloud import pubsub_v1

        from infra.topology import dead_letter_subscription

        subscriber = pubsub_v1.SubscriberClient()
        path = subscriber.subscription_path(self.stack.config.project, dead_letter_subscription(topic))
        response = subscriber.pull(subscription=path, max_messages=100, timeout=10)
        return [json.loads(message.message.data) for message in response.received_messages]


def small_dataset(examples: int = 12) -> bytes:
    """The first N sentiment examples: enough to train the tiny model for one quick epoch."""
    lines = (EXAMPLES / "sentiment" / "train.jsonl").read_text().splitlines()[:examples]
    return ("\n".join(lines) + "\n").encode()
