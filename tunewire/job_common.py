"""Pieces the user commands share: clients, one-line I/O failures, JSON output, times, metrics.

Commands reach the clients through `tunewire.context.clients()` (looked up on each call, so
tests can replace it). The twin's `:metrics` extension is read only when the Vertex endpoint is
the local twin (an http:// URL); a real Vertex endpoint has no such route.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

import click
import typer

from tunewire.console import fail
from shared.jsonable import plain

EXIT_OK = 0
EXIT_JOB_NOT_SUCCEEDED = 1
METRICS_TIMEOUT_S = 3.0


def load_clients() -> Any:
    """`tunewire.context.clients()`, failing in one line (exit 2) on a bad configuration."""
    from tunewire import context

    with io_errors("configuration"):
        return context.clients()


@contextlib.contextmanager
def io_errors(what: str) -> Iterator[None]:
    """Turn any exception in the block into one line on stderr and exit 2 (no traceback)."""
    try:
        yield
    except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
        raise
    except Exception as exc:  # noqa: BLE001 - one line, exit 2, never a traceback
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"{what}: {type(exc).__name__}{': ' + message[:500] if message else ''}")


def get_job(clients: Any, job_id: str) -> dict[str, Any]:
    """The job document, or exit 2 when there is no such job."""
    with io_errors("reading the job"):
        job = clients.jobs.get(job_id)
    if job is None:
        fail(f"no job {job_id!r}")
    return job


# ------------------------------------------------------------------ JSON and times






def to_json(value: Any) -> str:
    return json.dumps(plain(value), indent=2, ensure_ascii=False, allow_nan=False)


def print_json(value: Any) -> None:
    """JSON on stdout, nothing else (click.echo flushes)."""
    typer.echo(to_json(value))


def as_datetime(value: Any) -> _dt.datetime | None:
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    if isinstance(value, str):
        try:
            return as_datetime(_dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def when(value: Any, fmt: str = "%Y-%m-%d %H:%M:%SZ") -> str:
    """`2025-01-02 03:04:05Z` (UTC) for a datetime (or RFC 3339 text); "-" when absent."""
    moment = as_datetime(value)
    if moment is None:
        return "-" if value in (None, "") else str(value)
    return moment.astimezone(_dt.timezone.utc).strftime(fmt)


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


# ------------------------------------------------------------------ outcome


def exit_code_for(job: Mapping[str, Any] | None) -> int:
    """0 when the job SUCCEEDED, 1 for INVALID/FAILED/CANCELLED (callers handle the rest)."""
    return EXIT_OK if job and job.get("state") == "SUCCEEDED" else EXIT_JOB_NOT_SUCCEEDED


def outcome_line(job: Mapping[str, Any]) -> str:
    """One line saying how a job ended (or where it stands)."""
    state = job.get("state", "?")
    tuned = job.get("tuned_model") or {}
    if state == "SUCCEEDED":
        return f"SUCCEEDED: tuned model {tuned.get('model') or '-'} at endpoint {tuned.get('endpoint') or '-'}"
    if state == "INVALID":
        first = ((job.get("validation") or {}).get("first_errors") or [None])[0]
        if first:
            where = f"{first.get('file') or 'training'}:{first.get('line')}" if first.get("line") else (first.get("file") or "")
            return f"INVALID: {first.get('code')} {where} {first.get('message') or ''}".rstrip()
    if state == "FAILED":
        error = job.get("error") or {}
        if error.get("message"):
            return f"FAILED: {error['message']}"
    history = job.get("history") or []
    reason = history[-1].get("reason") if history else ""
    return f"{state}: {reason}" if reason else str(state)


# ------------------------------------------------------------------ the twin's :metrics


def twin_endpoint(settings: Any) -> str | None:
    """The Vertex endpoint when it is the local twin (http://), else None."""
    endpoint = (settings.vertex_api_endpoint or "").rstrip("/")
    return endpoint if endpoint.startswith("http://") else None


def fetch_metrics(settings: Any, job: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The twin's `:metrics` for the job's Vertex job; None when unavailable for any reason."""
    endpoint = twin_endpoint(settings)
    job_name = ((job or {}).get("vertex") or {}).get("job_name")
    if endpoint is None or not job_name:
        return None
    import urllib3

    try:
        response = urllib3.request(
            "GET", f"{endpoint}/v1/{job_name}:metrics", timeout=METRICS_TIMEOUT_S, retries=False, redirect=False
        )
        if response.status != 200:
            return None
        document = json.loads(response.data)
    except Exception:  # noqa: BLE001 - progress is a nicety; never fail a command over it
        return None
    return document if isinstance(document, dict) else None


def losses(metrics: Mapping[str, Any] | None) -> list[float]:
    """Training loss per logged step, in step order."""
    steps = sorted((metrics or {}).get("steps") or [], key=lambda entry: entry.get("step") or 0)
    return [entry["loss"] for entry in steps if isinstance(entry.get("loss"), (int, float))]
