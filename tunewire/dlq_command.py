"""`tunewire dlq list | replay`: the messages Pub/Sub dead-lettered, and sending them back.

A message is dead-lettered after its push subscription failed `max_delivery_attempts` times
(a webhook receiver down, say). `list` shows what waits in each `<topic>-dlq-sub` without
removing anything; `replay` publishes each one back to its original topic once the cause is
fixed, acknowledging the dead letter only after the publish succeeded (shared/dead_letters.py).

Against the local stack these reach its Pub/Sub emulator, like every other command
(tunewire/context.py); with `TUNEWIRE_USE_ENV=1` and `GOOGLE_CLOUD_PROJECT` set they reach
Cloud Pub/Sub with Application Default Credentials (`gcloud auth application-default login`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from shared.jsonable import plain
from tunewire import job_common
from tunewire.console import console, fail

app = typer.Typer(help="Dead letters: list them, replay them onto their topics.", no_args_is_help=True)

TopicOption = Annotated[Optional[str], typer.Option("--topic", help="Only this topic (e.g. job-events; its -dlq name works too).")]
JobOption = Annotated[Optional[str], typer.Option("--job", help="Only dead letters naming this job id.")]
LimitOption = Annotated[Optional[int], typer.Option("--limit", min=1, help="At most this many dead letters.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _settings() -> Any:
    return job_common.load_clients().settings


def _check_topic(settings: Any, topic: str | None) -> None:
    from shared.dead_letters import UnknownTopic, source_topics

    try:
        source_topics(settings, topic)
    except UnknownTopic as exc:
        fail(str(exc))


def _body_excerpt(dead_letter: Any, width: int = 80) -> str:
    if dead_letter.body_format == "json":
        text = json.dumps(plain(dead_letter.body), ensure_ascii=False, separators=(",", ":"))
    elif dead_letter.body is None:
        text = "(no data)"
    else:
        text = f"{dead_letter.body_format}: {dead_letter.body}"
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("list")
def list_command(topic: TopicOption = None, job: JobOption = None, limit: LimitOption = None, as_json: JsonOption = False) -> None:
    """List dead letters without removing them.

    One row each: topic, message id, when it was dead-lettered, failed attempts, job, body."""
    from shared.dead_letters import list_dead_letters

    settings = _settings()
    _check_topic(settings, topic)
    with job_common.io_errors("listing dead letters"):
        dead_letters = list_dead_letters(settings, topic=topic, job_id=job, limit=limit)
    if as_json:
        job_common.print_json([dead_letter.to_dict() for dead_letter in dead_letters])
        return
    if not dead_letters:
        console.print("no dead letters")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("topic", "message id", "dead-lettered", "attempts", "job"):
        table.add_column(column, no_wrap=True)
    table.add_column("body", overflow="fold")
    for dead_letter in dead_letters:
        attempts = "-" if dead_letter.delivery_attempts is None else str(dead_letter.delivery_attempts)
        table.add_row(dead_letter.topic, dead_letter.message_id, job_common.when(dead_letter.publish_time), attempts,
                      dead_letter.job_id or "-", _body_excerpt(dead_letter))
    console.print(table, highlight=False, markup=False)


@app.command("replay")
def replay_command(
    topic: TopicOption = None,
    job: JobOption = None,
    limit: LimitOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be replayed; publish and remove nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Publish dead letters back to their original topics.

    Each leaves the dead-letter queue only once its publish succeeded; exit 2 when any could not
    be replayed (they stay queued)."""
    from shared.dead_letters import replay_dead_letters

    settings = _settings()
    _check_topic(settings, topic)
    with job_common.io_errors("replaying dead letters"):
        report = replay_dead_letters(settings, topic=topic, job_id=job, limit=limit, dry_run=dry_run)
    if as_json:
        job_common.print_json(report.to_dict())
    else:
        verb = "would replay" if dry_run else "replayed"
        for item in report.replayed:
            letter = item.dead_letter
            target = "" if item.new_message_id is None else f" as message {item.new_message_id}"
            console.print(f"{verb} {letter.topic} dead letter {letter.message_id} (job {letter.job_id or '-'}){target}",
                          highlight=False, markup=False, soft_wrap=True)
        for failure in report.failed:
            console.print(f"not replayed: {failure.dead_letter.topic} dead letter {failure.dead_letter.message_id}: {failure.error}",
                          highlight=False, markup=False, soft_wrap=True)
        if not report.replayed and not report.failed:
            console.print("no dead letters to replay")
    if report.failed:
        fail(f"{len(report.failed)} dead letters not replayed (they stay in the dead-letter queue)")
