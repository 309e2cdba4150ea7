"""launch_tuning (topic tuning-requests): a VALIDATED job → a Vertex AI tuning job, at most once."""

from __future__ import annotations

import logging
from typing import Any

from functions import runtime
from shared.messages import TUNING_REQUESTED, parse_job_message
from shared.pipeline.launch_tuning import handle_tuning_request
from shared.uploads.notification import PoisonMessage

FUNCTION = "launch_tuning"


def on_cloud_event(cloud_event: Any) -> None:
    if runtime.too_old(cloud_event, FUNCTION):
        return
    try:
        message = parse_job_message(runtime.pubsub_message(cloud_event), expected_type=TUNING_REQUESTED)
    except PoisonMessage as exc:
        runtime.log_event(logging.ERROR, "poison message acknowledged", function=FUNCTION, reason=str(exc), event_id=cloud_event["id"])
        return
    clients = runtime.clients()
    outcome = handle_tuning_request(
        message.job_id, store=clients.jobs, bus=clients.bus, vertex=clients.vertex, lease_s=clients.settings.lease_s
    )
    level = logging.WARNING if outcome.action in ("unknown_job", "failed", "waiting_for_quota") else logging.INFO
    runtime.log_event(level, f"launch {outcome.action}", function=FUNCTION, job_id=outcome.job_id, reason=outcome.reason)
