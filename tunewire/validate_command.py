"""`tunewire validate`: check a dataset offline before paying for a tuning job.

Exit codes: 0 valid, 1 invalid, 2 usage or I/O error (one line, no traceback).
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from shared.model_catalog import DEFAULT_BASE_MODEL, TuningMode, known_model_names
from tunewire.console import console, fail

EXIT_INVALID = 1


def validate(
    dataset: Annotated[str, typer.Argument(help="Training JSONL: a local path, file:// or gs:// URI.")],
    validation: Annotated[Optional[str], typer.Option("--validation", help="Validation JSONL (path or gs:// URI).")] = None,
    model: Annotated[str, typer.Option("--model", help=f"Base model: {', '.join(known_model_names())}.")] = DEFAULT_BASE_MODEL,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Epochs for the billable-token and cost estimate.")] = None,
    adapter_size: Annotated[Optional[int], typer.Option("--adapter-size", help="Adapter size to check against the model.")] = None,
    tuning_mode: Annotated[TuningMode, typer.Option("--tuning-mode", help="adapter (Gemini) or full (open models).")] = TuningMode.ADAPTER,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full JSON report instead of a summary.")] = False,
    no_media_check: Annotated[bool, typer.Option("--no-media-check", help="Skip gs:// existence and size checks.")] = False,
    allow_discontinued: Annotated[bool, typer.Option("--allow-discontinued", help="Warn instead of fail on discontinued models.")] = False,
    max_per_code: Annotated[int, typer.Option("--max-per-code", min=1, help="Findings kept per code (all are counted).")] = 20,
) -> None:
    """Validate a Gemini supervised-tuning dataset: schema, limits, media, tokens and cost."""
    from shared.dataset import SourceError, ValidationOptions, validate_dataset
    from shared.tokens import TokenizerUnavailableError

    options = ValidationOptions(
        model=model,
        epochs=epochs,
        adapter_size=adapter_size,
        tuning_mode=tuning_mode,
        check_media=not no_media_check,
        allow_discontinued=allow_discontinued,
        max_findings_per_code=max_per_code,
    )
    try:
        report = validate_dataset(dataset, validation_uri=validation, options=options)
    except (SourceError, TokenizerUnavailableError) as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. no credentials for gs://: one line, exit 2
        fail(f"{type(exc).__name__}: {exc}")

    if as_json:
        sys.stdout.buffer.write(report.to_json(indent=True) + b"\n")
        sys.stdout.flush()
    else:
        from tunewire.report_view import print_report

        print_report(report, console)
    if not report.valid:
        raise typer.Exit(EXIT_INVALID)
