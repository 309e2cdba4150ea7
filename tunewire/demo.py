"""`tunewire demo`: the whole product on one machine, on the bundled sentiment example.

Starts the local stack, registers a verifying webhook receiver, uploads examples/sentiment (the
training file with its validation file), follows the job to the end, prints the Firestore job,
the verified webhooks and the tuned model's answers to held-out reviews next to the base
model's, then stops the stack.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from rich.table import Table

from tunewire.console import console, err_console, fail

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sentiment"
TERMINAL = {"SUCCEEDED", "FAILED", "INVALID", "CANCELLED"}
HELD_OUT_SHOWN = 6


def demo(
    model: Annotated[str, typer.Option("--model", help="Local base the twin trains: gemma-3-270m (real) or tiny (fast).")] = "gemma-3-270m",
    timeout: Annotated[float, typer.Option("--timeout", help="Give up after this many seconds.")] = 3600.0,
) -> None:
    """Run the local stack end to end on the bundled sentiment example, then stop it."""
    from infra.stack import LocalStack, StackConfig, default_state_dir
    from shared.clients import Clients

    if model not in ("gemma-3-270m", "tiny"):
        fail("--model must be gemma-3-270m or tiny")
    started = time.monotonic()
    stack = LocalStack(StackConfig(state_dir=default_state_dir() / "demo", local_model=model, tick_interval_s=2.0))
    err_console.print(f"[bold]tunewire demo[/] — local stack, base model [bold]{model}[/]")
    err_console.print("starting emulators, functions and the tuning twin…")
    stack.start()
    receiver = None
    try:
        clients = Clients(stack.settings())
        receiver = _Receiver()
        endpoint, _ = clients.endpoints.add(receiver.url, prefix="demo/", secret=receiver.secret)
        err_console.print(f"stack ready in {time.monotonic() - started:.1f} s; webhook receiver {receiver.url} registered as {endpoint.id}")
        job_id = _upload(clients, stack.config.datasets_bucket)
        job = _follow(clients, stack.twin_url, job_id, timeout)
        _print_job(job)
        _print_webhooks(receiver, job_id)
        if job["state"] == "SUCCEEDED":
            _compare_answers(stack.twin_url, stack.config.project, stack.config.region, job)
        err_console.print(f"demo finished in {time.monotonic() - started:.0f} s")
        if job["state"] != "SUCCEEDED":
            raise typer.Exit(1)
    finally:
        if receiver is not None:
            receiver.close()
        err_console.print("stopping the local stack…")
        stack.stop()


class _Receiver:
    def __init__(self) -> None:
        from werkzeug.serving import make_server

        from shared.webhooks import create_receiver_app, generate_secret

        self.secret = generate_secret()
        self.events: list[dict[str, Any]] = []
        app = create_receiver_app([self.secret], lambda payload, headers: self.events.append(payload))
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()


def _upload(clients: Any, bucket_name: str) -> str:
    from shared.jobs.identity import job_id_for_upload

    bucket = clients.storage.bucket(bucket_name)
    folder = f"demo/{uuid.uuid4().hex[:8]}"
    validation = bucket.blob(f"{folder}/validation.jsonl")
    validation.metadata = {"tunewire-role": "data"}
    validation.upload_from_filename(str(EXAMPLE / "validation.jsonl"))
    training = bucket.blob(f"{folder}/train.jsonl")
    training.metadata = {
        "tunewire-validation": f"gs://{bucket_name}/{validation.name}",
        "tunewire-display-name": "sentiment demo",
    }
    training.upload_from_filename(str(EXAMPLE / "train.jsonl"))
    job_id = job_id_for_upload(bucket_name, training.name, training.generation)
    err_console.print(f"uploaded gs://{bucket_name}/{training.name} → job [bold]{job_id}[/]")
    return job_id


def _follow(clients: Any, twin_url: str, job_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last_state, last_step, job = None, 0, None
    while time.monotonic() < deadline:
        job = clients.jobs.get(job_id)
        if job and job["state"] != last_state:
            last_state = job["state"]
            err_console.print(f"  {time.strftime('%H:%M:%S')} [bold]{last_state}[/] — {job['history'][-1]['reason']}")
        if job and job.get("vertex", {}).get("job_name"):
            last_step = _print_progress(twin_url, job["vertex"]["job_name"], last_step)
        if job and job["state"] in TERMINAL:
            return job
        time.sleep(2)
    fail(f"the demo job did not finish within {timeout_s:.0f} s (state {last_state})")


def _print_progress(twin_url: str, job_name: str, last_step: int) -> int:
    try:
        metrics = requests.get(f"{twin_url}/v1/{job_name}:metrics", timeout=5).json()
    except (requests.RequestException, ValueError):
        return last_step
    steps = [s for s in metrics.get("steps", []) if s["step"] > last_step]
    for step in steps[:: max(1, len(steps) // 3)] if steps else []:
        err_console.print(f"    step {step['step']:>4}  epoch {step['epoch']}  loss {step['loss']:.4f}")
    return steps[-1]["step"] if steps else last_step


def _print_job(job: dict[str, Any]) -> None:
    shown = {key: job.get(key) for key in ("id", "state", "source", "settings", "validation", "vertex", "tuned_model", "data_stats", "error")}
    shown["history"] = [f"{h['state']}: {h['reason']}" for h in job.get("history", [])]
    console.rule("Firestore jobs/" + job["id"])
    console.print_json(json.dumps(shown, default=str))


def _print_webhooks(receiver: _Receiver, job_id: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(e["type"].split(".")[-1] in ("succeeded", "failed", "invalid", "cancelled") for e in receiver.events):
        time.sleep(0.5)
    console.rule("verified webhooks received")
    for event in receiver.events:
        if event["data"]["job_id"] == job_id:
            console.print(f"  {event['timestamp']}  [bold]{event['type']}[/]  state={event['data']['state']}")


def _compare_answers(twin_url: str, project: str, region: str, job: dict[str, Any]) -> None:
    examples = [json.loads(line) for line in (EXAMPLE / "heldout.jsonl").read_text().splitlines()[:HELD_OUT_SHOWN]]
    table = Table(title="held-out reviews: base model vs tuned model", show_lines=True)
    for column in ("review", "expected", "base model", "tuned model"):
        table.add_column(column, overflow="fold")
    tuned_url = f"{twin_url}/v1/{job['tuned_model']['endpoint']}:generateContent"
    base_url = f"{twin_url}/v1/projects/{project}/locations/{region}/publishers/google/models/{job['settings']['base_model']}:generateContent"
    correct = 0
    for example in examples:
        body = {
            "systemInstruction": example.get("systemInstruction"),
            "contents": example["contents"][:1],
            "generationConfig": {"maxOutputTokens": 16, "temperature": 0},
        }
        expected = example["contents"][1]["parts"][0]["text"]
        answers = [_answer(url, body) for url in (base_url, tuned_url)]
        correct += answers[1].strip() == expected
        table.add_row(example["contents"][0]["parts"][0]["text"], expected, *answers)
    console.print(table)
    console.print(f"tuned model exact match: {correct}/{len(examples)}")


def _answer(url: str, body: dict[str, Any]) -> str:
    try:
        response = requests.post(url, json=body, timeout=300).json()
        return response["candidates"][0]["content"]["parts"][0]["text"]
    except (requests.RequestException, KeyError, IndexError, ValueError) as exc:
        return f"<no answer: {exc}>"
