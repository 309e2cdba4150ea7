"""The deploy entry module: one Cloud Function per entry point, all fed by Pub/Sub push.

Imports are lazy: a function imports its handler (and so its client libraries) on its first
event, so validate_dataset and notify never import google-cloud-aiplatform.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from functions.runtime import configure_logging

configure_logging()


@functions_framework.cloud_event
def validate_dataset(cloud_event: Any) -> None:
    from functions import validate_dataset as handler

    handler.on_cloud_event(cloud_event)


@functions_framework.cloud_event
def launch_tuning(cloud_event: Any) -> None:
    from functions import launch_tuning as handler

    handler.on_cloud_event(cloud_event)


@functions_framework.cloud_event
def poll_jobs(cloud_event: Any) -> None:
    from functions import poll_jobs as handler

    handler.on_cloud_event(cloud_event)


@functions_framework.cloud_event
def notify(cloud_event: Any) -> None:
    from functions import notify as handler

    handler.on_cloud_event(cloud_event)
