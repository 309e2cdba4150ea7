"""`tunewire` — the command line. Each issue adds its subcommands here; logic lives in shared/."""

from __future__ import annotations

import typer

from tunewire import stack_commands, tokenizer_commands, twin_command, validate_command

app = typer.Typer(
    name="tunewire",
    help="Tune Gemini models from events: validate datasets, run the local stack, watch jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate_command.validate)
app.command("up")(stack_commands.up)
app.command("down")(stack_commands.down)
app.command("status")(stack_commands.status)
app.command("env")(stack_commands.env)
app.command("twin")(twin_command.twin)
app.add_typer(tokenizer_commands.app, name="tokenizer")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
