"""What every function shares at run time: settings, lazily built clients, event unwrapping.

Clients are built on first use and kept for the life of the instance (Cloud Functions reuses an
instance across invocations); each function imports only the client libraries it uses.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from shared.clients import Clients
from shared.config import Settings

log = logging.getLogger("tunewire")


def configure_logging() -> None:
    """One JSON object per line on stdout: Cloud Logging turns them into structured entries."""
    if getattr(configure_logging, "done", False):
        return
    import orjson

    class JsonLines(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            entry = {"severity": record.levelname, "message": record.getMessage(), "logger": record.name}
            entry.update(getattr(record, "fields", {}))
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
            return orjson.dumps(entry, default=str).decode()

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLines())
    root = logging.getLogger("tunewire")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    configure_logging.done = True  # type: ignore[attr-defined]


def log_event(level: int, message: str, **fields: Any) -> None:
    log.log(level, message, extra={"fields": fields})


@lru_cache(maxsize=1)
def clients() -> Clients:
    return Clients(Settings.from_env())


def settings() -> Settings:
    return clients().settings


def pubsub_message(cloud_event: Any) -> dict[str, Any]:
    """The Pub/Sub message inside a messagePublished CloudEvent (`{"message": {...}}`)."""
    data = cloud_event.data if isinstance(cloud_event.data, dict) else {}
    message = data.get("message")
    return message if isinstance(message, dict) else {}


def event_age_s(cloud_event: Any) -> float | None:
    published = cloud_event.get("time") if hasattr(cloud_event, "get") else None
    if not isinstance(published, str):
        return None
    try:
        when = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - when).total_seconds()


def too_old(cloud_event: Any, function: str) -> bool:
    """Events older than the maximum age are acknowledged with a logged reason, not retried forever."""
    age = event_age_s(cloud_event)
    if age is not None and age > settings().max_event_age_s:
        log_event(logging.WARNING, "event dropped: older than the maximum age", function=function,
                  age_s=round(age), max_event_age_s=settings().max_event_age_s, event_id=cloud_event["id"])
        return True
    return False
