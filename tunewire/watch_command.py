"""`tunewire watch JOB`: the live progress display of `submit --wait`, for an existing job.

Exit codes: 0 SUCCEEDED, 1 INVALID/FAILED/CANCELLED, 2 no such job, I/O error or timeout,
130 when Ctrl-C stops the watching (the job goes on).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tunewire import job_common, job_live
from tunewire.console import console, err_console


def watch(
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="The job id (as `tunewire submit` printed it).")],
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=0, help="Give up after this many seconds (exit 2).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final job document as JSON, nothing else.")] = False,
) -> None:
    """Follow a job until it ends: state, Vertex state, training step and loss, elapsed time."""
    clients = job_common.load_clients()
    job_common.get_job(clients, job_id)  # exit 2 for an unknown job
    result = job_live.follow(job_id, clients=clients, console=err_console if as_json else console, timeout_s=timeout)
    job_live.finish(result, console=console, as_json=as_json, timeout_s=timeout)
