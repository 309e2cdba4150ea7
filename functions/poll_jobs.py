"""poll_jobs (topic poll-ticks): one tick looks at every active job on Vertex AI."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from functions import runtime
from shared import leases
from shared.pipeline.poll_jobs import poll_active_jobs
from shared.pipeline.reconcile import reconcile

FUNCTION = "poll_jobs"
POLL_LEASE = "poll"
"""One tick at a time (the lock locks/poll): a duplicated or overlapping tick is skipped, not run twice."""


def on_cloud_event(cloud_event: Any) -> None:
    if runtime.too_old(cloud_event, FUNCTION):
        return
    clients = runtime.clients()
    with leases.held(clients.firestore, POLL_LEASE, seconds=clients.settings.lease_s) as mine:
        if not mine:
            runtime.log_event(logging.INFO, "poll tick skipped: another tick is running", function=FUNCTION,
                              event_id=cloud_event["id"])
            return
        _tick(clients)


def _tick(clients: Any) -> None:
    summary = poll_active_jobs(
        store=clients.jobs, bus=clients.bus, vertex=clients.vertex, concurrency=clients.settings.poll_concurrency,
        pending_alert=timedelta(seconds=clients.settings.pending_alert_s),
    )
    runtime.log_event(
        logging.WARNING if summary.errors or summary.stuck_reported else logging.INFO,
        "poll tick",
        function=FUNCTION,
        polled=summary.polled,
        transitions=summary.transitions,
        relaunched=summary.relaunched,
        stuck_reported=summary.stuck_reported,
        errors=summary.errors,
    )
    repaired = reconcile(store=clients.jobs, bus=clients.bus, settings=clients.settings, storage_client=clients.storage)
    if repaired.acted or repaired.errors:
        runtime.log_event(
            logging.WARNING,
            "reconciled",
            function=FUNCTION,
            events_republished=repaired.events_republished,
            launches_requested=repaired.launches_requested,
            uploads_redriven=repaired.uploads_redriven,
            errors=repaired.errors,
        )
