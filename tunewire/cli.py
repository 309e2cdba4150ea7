"""`tunewire` — the command line. Each issue adds its subcommands here; logic lives in shared/."""

from __future__ import annotations

import typer

from tunewire import demo, stack_commands, tokenizer_commands, twin_command, validate_command
from tunewire import dlq_command
from tunewire import (
    ask_command,
    cancel_command,
    jobs_command,
    show_command,
    submit_command,
    watch_command,
    webhooks_commands,
)

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
app.command("demo")(demo.demo)
app.add_typer(tokenizer_commands.app, name="tokenizer")
app.command("submit")(submit_command.submit)
app.command("jobs")(jobs_command.jobs)
app.command("show")(show_command.show)
app.command("watch")(watch_command.watch)
app.command("cancel")(cancel_command.cancel)
app.command("ask")(ask_command.ask)
app.add_typer(webhooks_commands.app, name="webhooks")
app.add_typer(dlq_command.app, name="dlq")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
