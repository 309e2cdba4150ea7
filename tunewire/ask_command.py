"""`tunewire ask JOB "prompt"`: one generateContent call on a job's tuned endpoint.

The endpoint is the job's `tuned_model.endpoint`, or a checkpoint's endpoint with
`--checkpoint`. The request goes to `settings.vertex_api_endpoint` + `/v1/{endpoint}:generateContent`:
with a Bearer token from Google's default credentials for Vertex AI, without one for the local
twin (an http:// endpoint). Exit codes: 0 answered, 2 no such job, no endpoint yet, or an
I/O or API error.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Mapping, Optional

import typer

from tunewire import job_common
from tunewire.console import fail

CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def endpoint_for(job: Mapping[str, Any], checkpoint: str | None) -> str:
    """The endpoint resource name to ask; exits 2 when the job has none (yet)."""
    tuned = job.get("tuned_model") or {}
    if checkpoint is None:
        if not tuned.get("endpoint"):
            fail(f"job {job.get('id')} has no tuned endpoint (it is {job.get('state')})")
        return str(tuned["endpoint"])
    checkpoints = tuned.get("checkpoints") or []
    for entry in checkpoints:
        if str(entry.get("checkpointId", entry.get("checkpoint_id"))) == checkpoint:
            if not entry.get("endpoint"):
                fail(f"checkpoint {checkpoint} of job {job.get('id')} has no endpoint")
            return str(entry["endpoint"])
    known = ", ".join(str(entry.get("checkpointId", entry.get("checkpoint_id"))) for entry in checkpoints) or "none"
    fail(f"job {job.get('id')} has no checkpoint {checkpoint!r} (checkpoints: {known})")


def request_body(prompt: str, *, max_tokens: int | None, temperature: float | None, system: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    config: dict[str, Any] = {}
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if temperature is not None:
        config["temperature"] = temperature
    if config:
        body["generationConfig"] = config
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    return body


def _access_token() -> str:
    import google.auth
    from google.auth.transport.requests import Request

    credentials, _ = google.auth.default(scopes=[CLOUD_SCOPE])
    credentials.refresh(Request())
    return credentials.token


def post_json(url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float) -> tuple[int, Any]:
    """POST JSON; returns (status, parsed body or the raw text)."""
    import urllib3

    response = urllib3.request(
        "POST", url, body=json.dumps(body).encode("utf-8"), headers={"Content-Type": "application/json", **headers},
        timeout=timeout_s, retries=False, redirect=False,
    )
    text = response.data.decode("utf-8", errors="replace")
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def answer_text(response: Mapping[str, Any]) -> str:
    candidates = response.get("candidates") or []
    if not candidates:
        return ""
    parts = (candidates[0].get("content") or {}).get("parts") or []
    return "".join(part.get("text", "") for part in parts if isinstance(part, Mapping))


def ask(
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="The job id.")],
    prompt: Annotated[str, typer.Argument(help="What to ask the tuned model.")],
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", min=1, help="maxOutputTokens.")] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", min=0, help="Sampling temperature.")] = None,
    checkpoint: Annotated[Optional[str], typer.Option("--checkpoint", help="Ask this checkpoint's endpoint instead.")] = None,
    system: Annotated[Optional[str], typer.Option("--system", help="A system instruction.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the answer.")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole generateContent response as JSON.")] = False,
) -> None:
    """Ask a job's tuned model (or one of its checkpoints) and print the answer."""
    clients = job_common.load_clients()
    job = job_common.get_job(clients, job_id)
    endpoint = endpoint_for(job, checkpoint)
    base = clients.settings.vertex_api_endpoint.rstrip("/")
    url = f"{base}/v1/{endpoint}:generateContent"
    headers: dict[str, str] = {}
    if not base.startswith("http://"):
        with job_common.io_errors("getting Google credentials"):
            headers["Authorization"] = f"Bearer {_access_token()}"
    body = request_body(prompt, max_tokens=max_tokens, temperature=temperature, system=system)
    with job_common.io_errors(f"calling {url}"):
        status, response = post_json(url, body, headers, timeout)
    if status != 200 or not isinstance(response, dict):
        message = response.get("error", {}).get("message") if isinstance(response, dict) and isinstance(response.get("error"), dict) else str(response)[:300]
        fail(f"generateContent answered {status}: {message}")
    if as_json:
        job_common.print_json(response)
        return
    typer.echo(answer_text(response))
