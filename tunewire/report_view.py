"""Rich rendering of a validation report for people."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from shared.dataset import ValidationReport


def print_report(report: ValidationReport, console: Console, *, max_rows: int = 15) -> None:
    verdict = "[bold green]VALID[/]" if report.valid else "[bold red]INVALID[/]"
    tokens = report.tokens
    files = report.training.uri + (f" + {report.validation.uri}" if report.validation else "")
    console.print(f"{verdict}  {files}  model [bold]{report.model}[/]")
    validation = f", {report.validation_examples:,} validation" if report.validation_examples is not None else ""
    console.print(
        f"examples {report.examples:,}{validation}   training records {tokens.records:,}   "
        f"tokens/epoch {tokens.total:,}   per example min {tokens.per_example['min']:,} "
        f"p50 {tokens.per_example['p50']:,} p95 {tokens.per_example['p95']:,} max {tokens.per_example['max']:,}"
    )
    cost = report.cost
    epochs = f"{tokens.epochs} epochs" if tokens.epochs else "1 epoch (epochs left to the service)"
    if cost.estimated_usd is not None:
        console.print(
            f"billable tokens {tokens.billable:,} ({epochs})   estimated cost ${cost.estimated_usd:,.2f} "
            f"(up to ${cost.upper_bound_usd:,.2f}; ${cost.usd_per_million_tokens}/1M tokens as of {cost.price_date})"
        )
    else:
        console.print(f"billable tokens {tokens.billable:,} ({epochs})   cost not estimated: {cost.note}")
    if tokens.media_unestimated_parts:
        console.print(f"[yellow]{tokens.media_unestimated_parts:,} audio/video/PDF parts are not in the token count[/]")

    for title, rows, counts, style in (
        ("errors", report.errors, report.error_counts, "red"),
        ("warnings", report.warnings, report.warning_counts, "yellow"),
    ):
        if not counts:
            continue
        summary = ", ".join(f"{code} ×{n:,}" for code, n in counts.items())
        console.print(f"[bold {style}]{sum(counts.values()):,} {title}[/]: {summary}")
        table = Table(show_header=True, header_style=f"bold {style}", box=None, pad_edge=False)
        for column in ("file:line", "code", "path", "message"):
            table.add_column(column, overflow="fold")
        for row in rows[:max_rows]:
            where = f"{row['file']}:{row['line']}" if row["line"] else row["file"]
            table.add_row(where, row["code"], row["path"], row["message"])
        console.print(table)
        if len(rows) > max_rows or sum(counts.values()) > len(rows[:max_rows]):
            console.print(f"  … use --json for the {len(rows)} kept {title} and their hints")
