"""Shared console helpers: one stderr console and the one-line failure exit (code 2)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE_OR_IO = 2


def fail(message: str) -> NoReturn:
    """Print a one-line reason to stderr and exit 2 (usage or I/O error), never a traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE_OR_IO)
