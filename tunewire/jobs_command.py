"""`tunewire jobs`: the latest jobs, newest first, optionally by state or upload-name prefix."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from shared.jobs.states import JobState
from tunewire import job_common
from tunewire.console import console


def _state(value: Optional[str]) -> Optional[JobState]:
    if value is None:
        return None
    try:
        return JobState(value.strip().upper())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a job state; one of {', '.join(s.value for s in JobState)}") from None


def list_jobs(clients: Any, *, state: JobState | None, prefix: str | None, limit: int) -> list[dict[str, Any]]:
    store = clients.jobs
    if prefix:
        return store.jobs_with_source_prefix(prefix, limit, state=state)
    if state is not None:
        return store.jobs_in_state(state, limit)
    return store.recent_jobs(limit)


def jobs(
    state: Annotated[Optional[str], typer.Option("--state", help="Only jobs in this state (RUNNING, SUCCEEDED, ...).")] = None,
    prefix: Annotated[Optional[str], typer.Option("--prefix", help="Only uploads whose object name starts with this.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many jobs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job documents as a JSON list.")] = False,
) -> None:
    """List jobs, newest first: id, state, uploaded object, examples, last update."""
    wanted = _state(state)
    clients = job_common.load_clients()
    with job_common.io_errors("listing jobs"):
        found = list_jobs(clients, state=wanted, prefix=prefix, limit=limit)
    if as_json:
        job_common.print_json(found)
        return
    if not found:
        console.print("no jobs" + (" matching" if state or prefix else ""), highlight=False)
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("examples", justify="right", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    for job in found:
        examples = (job.get("validation") or {}).get("examples")
        table.add_row(
            str(job.get("id", "?")),
            str(job.get("state", "?")),
            str((job.get("source") or {}).get("name") or "-"),
            f"{examples:,}" if isinstance(examples, int) else "-",
            job_common.when(job.get("updated_at"), "%Y-%m-%d %H:%MZ"),
        )
    console.print(table)
