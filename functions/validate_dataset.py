"""validate_dataset (topic dataset-uploads): a storage notification → a validated or invalid job."""

from __future__ import annotations

import logging
from typing import Any

from functions import runtime
from shared.pipeline.validate_upload import handle_upload
from shared.uploads.notification import PoisonMessage, parse_storage_notification

FUNCTION = "validate_dataset"


def on_cloud_event(cloud_event: Any) -> None:
    """Ack (return) on success, ignored objects and poison messages; raise on transient faults."""
    if runtime.too_old(cloud_event, FUNCTION):
        return
    try:
        upload = parse_storage_notification(runtime.pubsub_message(cloud_event))
    except PoisonMessage as exc:
        runtime.log_event(logging.ERROR, "poison message acknowledged", function=FUNCTION, reason=str(exc), event_id=cloud_event["id"])
        return
    clients = runtime.clients()
    outcome = handle_upload(
        upload, settings=clients.settings, store=clients.jobs, bus=clients.bus, storage_client=clients.storage
    )
    runtime.log_event(logging.INFO, f"upload {outcome.action}", function=FUNCTION, job_id=outcome.job_id,
                      reason=outcome.reason, object=upload.uri, generation=upload.generation)
