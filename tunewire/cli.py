"""`tunewire` — the command line. Each issue adds its subcommands here; logic lives in shared/."""

from __future__ import annotations

import typer

from tunewire import tokenizer_commands, twin_command, validate_command

app = typer.Typer(
    name="tunewire",
    help="Tune Gemini models from events: validate datasets, run the local stack, watch jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate_command.validate)
app.command("twin")(twin_command.twin)
app.add_typer(tokenizer_commands.app, name="tokenizer")


def main() -> None:
    app()
