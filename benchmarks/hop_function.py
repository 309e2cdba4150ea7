"""The baseline for pipeline_bench.py: a trivial function that only records when each storage
notification reached it (the raw fake-gcs → Pub/Sub → push → functions-framework hop)."""

from __future__ import annotations

import base64
import json
import os
import time

import functions_framework


@functions_framework.cloud_event
def record_hop(cloud_event) -> None:
    received = time.time()
    message = cloud_event.data.get("message", {})
    name = message.get("attributes", {}).get("objectId")
    if not name and message.get("data"):
        name = json.loads(base64.b64decode(message["data"])).get("name")
    with open(os.environ["HOP_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"name": name, "received": received}) + "\n")
