"""notify (topic job-events): signed webhooks for a job's state change; raises on failed targets."""

from __future__ import annotations

import logging
from typing import Any

from functions import runtime
from shared.messages import JOB_STATE_CHANGED, parse_job_message
from shared.pipeline.notify_job_event import notify_job_event
from shared.uploads.notification import PoisonMessage

FUNCTION = "notify"


def on_cloud_event(cloud_event: Any) -> None:
    if runtime.too_old(cloud_event, FUNCTION):
        return
    try:
        message = parse_job_message(runtime.pubsub_message(cloud_event), expected_type=JOB_STATE_CHANGED)
    except PoisonMessage as exc:
        runtime.log_event(logging.ERROR, "poison message acknowledged", function=FUNCTION, reason=str(exc), event_id=cloud_event["id"])
        return
    if not message.state:
        runtime.log_event(logging.ERROR, "job event without a state acknowledged", function=FUNCTION, job_id=message.job_id)
        return
    clients = runtime.clients()
    outcome = notify_job_event(
        job_id=message.job_id,
        state=message.state,
        settings=clients.settings,
        store=clients.jobs,
        registry=clients.endpoints,
        deliveries=clients.deliveries,
        timeout_s=clients.settings.webhook_timeout_s,
    )
    if outcome.ignored:
        runtime.log_event(logging.WARNING, f"job event for {outcome.ignored} acknowledged", function=FUNCTION,
                          job_id=message.job_id, state=message.state, reason="nothing sent")
        return
    runtime.log_event(logging.INFO, "webhooks sent", function=FUNCTION, job_id=message.job_id, event=outcome.event_type,
                      delivered=outcome.delivered, skipped=outcome.skipped, gone=outcome.gone, refused=outcome.refused)
