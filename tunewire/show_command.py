"""`tunewire show JOB`: everything known about one job.

History, the validation summary with its first errors and line numbers, the tuned model with its
endpoint and checkpoints, the webhook delivery log, and the loss curve drawn in the terminal
(from the twin's `:metrics` extension, when the Vertex endpoint is the local twin).
Exit codes: 0 shown, 2 no such job or an I/O error.
"""

from __future__ import annotations

from typing import Annotated, Any, Mapping

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tunewire import chart, job_common
from tunewire.console import console

MAX_DELIVERIES_SHOWN = 30
EVENT_PREFIX = "tuning.job."
CHART_WIDTH = 60
CHART_HEIGHT = 8


def _section(out: Console, title: str) -> None:
    out.print()
    out.print(Text(title, style="bold underline"))


def _table(*columns: str, wrap: tuple[str, ...] = ("reason", "message", "path", "outcome", "endpoint")) -> Table:
    """A plain table; only the `wrap` columns fold when the terminal is narrow."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column not in wrap)
    return table


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def render_job(job: Mapping[str, Any], metrics: Mapping[str, Any] | None, out: Console) -> None:
    source = job.get("source") or {}
    settings = job.get("settings") or {}
    vertex = job.get("vertex") or {}
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold", no_wrap=True)
    header.add_column(overflow="fold")
    header.add_row("job", _text(job.get("id")))
    header.add_row("state", _text(job.get("state")))
    header.add_row("source", _text(source.get("uri") or source.get("name")) + (f"  (generation {source['generation']})" if source.get("generation") else ""))
    header.add_row("created", job_common.when(job.get("created_at")))
    header.add_row("updated", job_common.when(job.get("updated_at")))
    if settings:
        shown = ", ".join(f"{key}={value}" for key, value in settings.items() if value not in (None, ""))
        header.add_row("settings", shown or "-")
    if vertex:
        header.add_row("vertex job", f"{_text(vertex.get('job_name'))}  {_text(vertex.get('state'))}")
    if job.get("report_uri"):
        header.add_row("report", str(job["report_uri"]))
    error = job.get("error") or {}
    if error:
        header.add_row("error", Text(f"{error.get('message') or ''}" + (f" (code {error['code']})" if error.get("code") is not None else ""), style="red"))
    out.print(header)

    history = job.get("history") or []
    _section(out, "history")
    table = _table("time", "state", "reason")
    for entry in history:
        table.add_row(job_common.when(entry.get("at")), _text(entry.get("state")), _text(entry.get("reason")))
    out.print(table if history else "-")

    validation = job.get("validation")
    if validation:
        _render_validation(validation, out)

    tuned = job.get("tuned_model")
    if tuned:
        _render_tuned_model(tuned, out)

    deliveries = job.get("deliveries") or []
    _section(out, "webhook deliveries")
    if deliveries:
        table = _table("time (UTC)", "event", "endpoint", "#", "status", "outcome", "latency", wrap=("outcome",))
        for entry in deliveries[-MAX_DELIVERIES_SHOWN:]:
            latency = entry.get("latency_ms")
            table.add_row(
                job_common.when(entry.get("at"), "%m-%d %H:%M:%S"),
                _text(entry.get("event")).removeprefix(EVENT_PREFIX),
                _text(entry.get("endpoint_id")),
                _text(entry.get("attempt")),
                _text(entry.get("status")),
                _text(entry.get("outcome")) + (f": {entry['error']}" if entry.get("error") else ""),
                f"{latency:.0f} ms" if isinstance(latency, (int, float)) else "-",
            )
        out.print(table)
        if len(deliveries) > MAX_DELIVERIES_SHOWN:
            out.print(f"({len(deliveries) - MAX_DELIVERIES_SHOWN} earlier attempts not shown)", style="dim")
    else:
        out.print("none")

    _render_loss(metrics, out)


def _render_validation(validation: Mapping[str, Any], out: Console) -> None:
    _section(out, "validation")
    verdict = "VALID" if validation.get("valid") else "INVALID"
    parts = [verdict]
    for key, label in (("examples", "examples"), ("tokens", "tokens"), ("billable_tokens", "billable tokens")):
        value = validation.get(key)
        if isinstance(value, int):
            parts.append(f"{value:,} {label}")
    cost = validation.get("estimated_usd")
    if isinstance(cost, (int, float)):
        parts.append(f"estimated cost ${cost:,.2f}")
    out.print(Text(" · ".join(parts), style="green" if validation.get("valid") else "red"))
    counts = validation.get("error_counts") or {}
    if counts:
        out.print("errors: " + ", ".join(f"{code} ×{count}" for code, count in sorted(counts.items())), highlight=False)
    first = validation.get("first_errors") or []
    if first:
        table = _table("code", "file", "line", "path", "message")
        for error in first:
            table.add_row(_text(error.get("code")), _text(error.get("file") or "training"), _text(error.get("line")),
                          _text(error.get("path")), _text(error.get("message")))
        out.print(table)


def _render_tuned_model(tuned: Mapping[str, Any], out: Console) -> None:
    _section(out, "tuned model")
    out.print(f"model     {_text(tuned.get('model'))}", highlight=False, soft_wrap=True)
    out.print(f"endpoint  {_text(tuned.get('endpoint'))}", highlight=False, soft_wrap=True)
    checkpoints = tuned.get("checkpoints") or []
    if checkpoints:
        table = _table("checkpoint", "epoch", "step", "endpoint")
        for checkpoint in checkpoints:
            table.add_row(_text(checkpoint.get("checkpointId") or checkpoint.get("checkpoint_id")), _text(checkpoint.get("epoch")),
                          _text(checkpoint.get("step")), _text(checkpoint.get("endpoint")))
        out.print(table)


def _render_loss(metrics: Mapping[str, Any] | None, out: Console) -> None:
    values = job_common.losses(metrics)
    if not values:
        return
    steps = sorted((metrics or {}).get("steps") or [], key=lambda entry: entry.get("step") or 0)
    first_step = steps[0].get("step") if steps and isinstance(steps[0].get("step"), int) else 1
    _section(out, "training loss")
    out.print(chart.sparkline(values, width=CHART_WIDTH), highlight=False)
    for line in chart.line_chart(values, width=CHART_WIDTH, height=CHART_HEIGHT, x_start=first_step):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    summary = f"first {values[0]:.4f} → last {values[-1]:.4f} over {len(values)} steps"
    validation = [entry for entry in (metrics or {}).get("validation") or [] if isinstance(entry.get("validationLoss"), (int, float))]
    if validation:
        summary += "; validation loss " + ", ".join(f"epoch {entry.get('epoch')}: {entry['validationLoss']:.4f}" for entry in validation)
    if (metrics or {}).get("localBaseModel"):
        summary += f"; trained locally as {metrics['localBaseModel']}"
    out.print(summary, highlight=False, soft_wrap=True)


def show(
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="The job id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the job document as JSON.")] = False,
) -> None:
    """Show a job: history, validation errors, tuned model, deliveries and the loss curve."""
    clients = job_common.load_clients()
    job = job_common.get_job(clients, job_id)
    if as_json:
        job_common.print_json(job)
        return
    metrics = job_common.fetch_metrics(clients.settings, job)
    render_job(job, metrics, console)
