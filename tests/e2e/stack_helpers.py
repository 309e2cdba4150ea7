"""Driving a running local stack from tests: uploads, waits, and a verifying webhook receiver."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from infra.stack import LocalStack
from shared.clients import Clients
from shared.jobs.identity import job_id_for_upload
from shared.jobs.states import TERMINAL_STATES
from shared.webhooks import create_receiver_app, generate_secret

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Receiver:
    """A webhook receiver on 127.0.0.1 that verifies signatures; can fail its next N requests."""

    def __init__(self) -> None:
        self.secret = generate_secret()
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.requests = 0
        self.fail_next = 0
        self.always_fail = False
        app = create_receiver_app([self.secret], self._record)

        def gate(environ: dict, start_response: Any) -> Any:
            self.requests += 1
            if self.always_fail or self.fail_next:
                self.fail_next = max(0, self.fail_next - 1)
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"down"]
            return app(environ, start_response)

        self.server = make_server("127.0.0.1", 0, gate, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _record(self, payload: dict[str, Any], headers: Any) -> None:
        self.events.append(payload)
        self.headers.append(dict(headers))

    def events_for(self, job_id: str) -> list[str]:
        return [event["type"] for event in self.events if event["data"]["job_id"] == job_id]

    def close(self) -> None:
        self.server.shutdown()


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
        raise AssertionError(f"job {job_id} did not reach {sorted(wanted)} in {timeout_s} s; last: {json.dumps(job, default=str)[:2000]}")

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
