"""poll_jobs (topic poll-ticks): one tick looks at every active job on Vertex AI."""

from __future__ import annotations

import logging
from typing import Any

from functions import runtime
from shared.pipeline.poll_jobs import poll_active_jobs

FUNCTION = "poll_jobs"


def on_cloud_event(cloud_event: Any) -> None:
    if runtime.too_old(cloud_event, FUNCTION):
        return
    clients = runtime.clients()
    summary = poll_active_jobs(
        store=clients.jobs, bus=clients.bus, vertex=clients.vertex, concurrency=clients.settings.poll_concurrency
    )
    runtime.log_event(
        logging.WARNING if summary.errors else logging.INFO,
        "poll tick",
        function=FUNCTION,
        polled=summary.polled,
        transitions=summary.transitions,
        relaunched=summary.relaunched,
        errors=summary.errors,
    )
