"""`tunewire cancel JOB`: cancel a job in any non-terminal state.

Before launch the job ends CANCELLED at once; after launch Vertex is asked to cancel and the job
is CANCELLING until the poller confirms. Exit codes: 0 cancelled or cancelling, 1 already
finished, 2 no such job or an I/O error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tunewire import job_common
from tunewire.console import console, fail

EXIT_ALREADY_TERMINAL = 1


def cancel(job_id: Annotated[str, typer.Argument(metavar="JOB", help="The job id.")]) -> None:
    """Cancel a job (before launch: at once; after launch: through Vertex AI)."""
    from shared.pipeline.cancel_job import cancel_job

    clients = job_common.load_clients()
    with job_common.io_errors("cancelling"):
        outcome = cancel_job(job_id, store=clients.jobs, bus=clients.bus, vertex=clients.vertex, requested_by="user")
    if outcome.action == "not_found":
        fail(f"no job {job_id!r}")
    if outcome.action == "already_terminal":
        console.print(f"{job_id} already ended {outcome.state}; nothing to cancel", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ALREADY_TERMINAL)
    label = "cancelled" if outcome.action == "cancelled" else "cancelling"
    console.print(f"{job_id} {label}: {outcome.reason}", highlight=False, soft_wrap=True)
