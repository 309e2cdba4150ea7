"""`tunewire tokenizer build|path`: the offline Gemini tokenizer model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunewire.console import err_console, fail

app = typer.Typer(help="Build or locate the offline Gemini (Gemma 3) tokenizer model.", no_args_is_help=True)


@app.command("build")
def build(
    output: Annotated[Optional[Path], typer.Option(help="Where to write the .model file (default: the cache).")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when a model file exists.")] = False,
) -> None:
    """Rebuild the Gemma 3 SentencePiece model from the GGUF vocabulary (once; about 20 s)."""
    from shared.tokens import build_tokenizer_model, find_tokenizer_model

    existing = find_tokenizer_model() if output is None else (output if output.exists() else None)
    if existing is not None and not force:
        err_console.print(f"tokenizer model already built: {existing}")
        return
    try:
        path = build_tokenizer_model(output, progress=lambda message: err_console.print(message))
    except Exception as exc:  # noqa: BLE001 - one line, no traceback, exit 2
        fail(f"cannot build the tokenizer model: {exc}")
    err_console.print(f"tokenizer model ready: {path}")


@app.command("path")
def path() -> None:
    """Print the tokenizer model file in use (exit 2 when none is built)."""
    from shared.tokens import find_tokenizer_model

    found = find_tokenizer_model()
    if found is None:
        fail("no tokenizer model found; run `tunewire tokenizer build`")
    typer.echo(str(found))
