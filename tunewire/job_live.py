"""Following a job until it ends: the live progress display of `submit --wait` and `watch`.

On a terminal it is a rich Live panel (state, Vertex state, training step/epoch/loss from the
twin's `:metrics`, elapsed time), refreshed every `POLL_INTERVAL_S`; elsewhere (a pipe, a log)
it prints one line per change instead. Transient read errors are shown and retried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from shared.jobs.states import JobState, is_terminal
from tunewire import chart, job_common

POLL_INTERVAL_S = 1.0


@dataclass
class FollowResult:
    job: dict[str, Any] | None
    timed_out: bool = False
    interrupted: bool = False


@dataclass
class _View:
    job_id: str
    job: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    elapsed_s: float = 0.0
    problem: str | None = None
    printed: set[tuple[Any, ...]] = field(default_factory=set)


def _state_of(job: dict[str, Any] | None) -> str | None:
    return (job or {}).get("state")


def ended(job: dict[str, Any] | None) -> bool:
    state = _state_of(job)
    try:
        return state is not None and is_terminal(JobState(state))
    except ValueError:
        return False


def _progress(metrics: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    steps = sorted((metrics or {}).get("steps") or [], key=lambda entry: entry.get("step") or 0)
    validation = (metrics or {}).get("validation") or []
    return (steps[-1] if steps else None), (validation[-1] if validation else None)


def render(view: _View) -> Table:
    """The live panel for one moment of a job."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    job = view.job
    grid.add_row("job", view.job_id)
    if job is None:
        grid.add_row("state", Text("waiting for the upload to be picked up…", style="dim"))
    else:
        vertex = (job.get("vertex") or {}).get("state")
        grid.add_row("state", Text.assemble((str(job.get("state")), _style(job.get("state"))), (f"   Vertex {vertex}" if vertex else "", "dim")))
        history = job.get("history") or []
        if history and history[-1].get("reason"):
            grid.add_row("last", str(history[-1]["reason"]))
    last_step, last_validation = _progress(view.metrics)
    if last_step:
        loss = last_step.get("loss")
        line = f"step {last_step.get('step')}  epoch {last_step.get('epoch')}"
        if isinstance(loss, (int, float)):
            line += f"  loss {loss:.4f}"
        grid.add_row("training", line)
        spark = chart.sparkline(job_common.losses(view.metrics), width=40)
        if spark:
            grid.add_row("loss", spark)
    if last_validation and isinstance(last_validation.get("validationLoss"), (int, float)):
        grid.add_row("validation", f"loss {last_validation['validationLoss']:.4f} (epoch {last_validation.get('epoch')})")
    grid.add_row("elapsed", job_common.duration(view.elapsed_s))
    if view.problem:
        grid.add_row("note", Text(view.problem, style="yellow"))
    return grid


def _style(state: Any) -> str:
    return {"SUCCEEDED": "bold green", "INVALID": "bold red", "FAILED": "bold red", "CANCELLED": "yellow"}.get(str(state), "bold cyan")


def _lines_for(view: _View, console: Console) -> None:
    """Non-interactive output: one line for each new state, Vertex state or epoch."""
    job = view.job or {}
    last_step, _ = _progress(view.metrics)
    elapsed = job_common.duration(view.elapsed_s)
    if view.job is None and ("waiting",) not in view.printed:
        view.printed.add(("waiting",))
        console.print(f"[{elapsed}] waiting for the upload to be picked up…", highlight=False, soft_wrap=True, markup=False)
    key = ("state", job.get("state"), (job.get("vertex") or {}).get("state"))
    if view.job is not None and key not in view.printed:
        view.printed.add(key)
        vertex = key[2]
        history = job.get("history") or []
        reason = history[-1].get("reason") if history else ""
        console.print(f"[{elapsed}] {job.get('state')}" + (f" (Vertex {vertex})" if vertex else "") + (f": {reason}" if reason else ""),
                      highlight=False, soft_wrap=True, markup=False)
    if last_step:
        epoch_key = ("epoch", last_step.get("epoch"))
        if epoch_key not in view.printed:
            view.printed.add(epoch_key)
            loss = last_step.get("loss")
            console.print(f"[{elapsed}] training epoch {last_step.get('epoch')} step {last_step.get('step')}"
                          + (f" loss {loss:.4f}" if isinstance(loss, (int, float)) else ""), highlight=False, soft_wrap=True, markup=False)


def follow(job_id: str, *, clients: Any, console: Console, timeout_s: float | None = None) -> FollowResult:
    """Poll the job (and the twin's metrics) until it ends, `timeout_s` passes or Ctrl-C."""
    view = _View(job_id)
    start = time.monotonic()
    interactive = console.is_terminal

    def tick() -> bool:
        view.elapsed_s = time.monotonic() - start
        try:
            view.job = clients.jobs.get(job_id)
            view.problem = None
        except Exception as exc:  # noqa: BLE001 - a transient read error: show it and try again
            view.problem = f"cannot read the job ({type(exc).__name__}); retrying"
        if view.job is not None:
            metrics = job_common.fetch_metrics(clients.settings, view.job)
            if metrics is not None:
                view.metrics = metrics
        return ended(view.job)

    def wait_or_stop() -> bool:
        """Sleep until the next poll; True when the timeout has passed."""
        elapsed = time.monotonic() - start
        if timeout_s is not None and elapsed >= timeout_s:
            return True
        pause = POLL_INTERVAL_S if timeout_s is None else min(POLL_INTERVAL_S, max(0.0, timeout_s - elapsed))
        time.sleep(pause)
        return False

    try:
        if interactive:
            with Live(render(view), console=console, refresh_per_second=4, transient=False) as live:
                while True:
                    done = tick()
                    live.update(render(view))
                    if done:
                        return FollowResult(view.job)
                    if wait_or_stop():
                        return FollowResult(view.job, timed_out=True)
        while True:
            done = tick()
            _lines_for(view, console)
            if done:
                return FollowResult(view.job)
            if wait_or_stop():
                return FollowResult(view.job, timed_out=True)
    except KeyboardInterrupt:
        return FollowResult(view.job, interrupted=True)


EXIT_INTERRUPTED = 130


def finish(
    result: FollowResult, *, console: Console, as_json: bool, timeout_s: float | None, fallback: dict[str, Any] | None = None
) -> None:
    """Print the outcome (or the final document with --json; `fallback` when the job never
    appeared) and exit: 0 SUCCEEDED, 1 INVALID/FAILED/CANCELLED, 2 timeout, 130 Ctrl-C."""
    import typer

    from tunewire.console import err_console, fail

    if as_json and (result.job or fallback) is not None:
        job_common.print_json(result.job if result.job is not None else fallback)
    elif result.job is not None and not (result.timed_out or result.interrupted):
        console.print(job_common.outcome_line(result.job), highlight=False, soft_wrap=True, markup=False)
    if result.interrupted:
        err_console.print("stopped watching; the job goes on", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.timed_out:
        state = _state_of(result.job) or "not created yet"
        fail(f"timed out after {timeout_s:g} s; the job is {state}")
    raise typer.Exit(job_common.exit_code_for(result.job))
