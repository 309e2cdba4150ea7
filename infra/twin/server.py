"""The twin's server: ``create_app(config)`` builds the Flask app, ``serve(config)`` runs it.

Served by werkzeug's threaded WSGI server (one thread per request); training runs on the
worker's own threads, never on a request thread. Importing this module does not import torch:
the engine is loaded when the first job runs.

``python -m infra.twin.server --port P --data-dir D`` runs it directly (``start_twin`` does
that); ``tunewire twin`` is the user-facing command with the same options.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from flask import Flask
from werkzeug.serving import make_server

from infra.twin.config import DEFAULT_PORT, TwinConfig
from infra.twin.engine import LocalBase
from infra.twin.errors import install_error_handlers
from infra.twin.faults import install_faults
from infra.twin.routes import SERVICE_KEY, blueprint
from infra.twin.service import TuningService

__all__ = ["create_app", "main", "serve", "service_of"]

_log = logging.getLogger("infra.twin")


def create_app(config: TwinConfig, *, start_worker: bool = True) -> Flask:
    """The twin's Flask app over ``config.data_dir``; unfinished jobs there are resumed/re-queued."""
    app = Flask("tunewire-twin")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024
    service = TuningService(config)
    app.extensions[SERVICE_KEY] = service
    app.register_blueprint(blueprint)
    install_error_handlers(app)
    install_faults(app)
    if start_worker:
        service.start()
    return app


def service_of(app: Flask) -> TuningService:
    """The TuningService behind an app (tests use it to shut the worker down)."""
    service: TuningService = app.extensions[SERVICE_KEY]
    return service


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(config: TwinConfig) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM.

    Stopping does not cancel running jobs: they stay RUNNING in the data dir and resume from
    their last checkpoint when a twin starts again on the same data dir.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    server = make_server(config.host, config.port, app, threaded=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_exit)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even if started with SIGINT ignored
    _log.info(
        "tuning twin on http://%s:%d (data dir %s, local model %s, engine %s, quota %d, %s mode)",
        config.host,
        server.server_port,
        config.data_dir,
        config.local_model.value,
        config.engine,
        config.max_concurrent_jobs,
        config.quota_mode,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service_of(app).shutdown(timeout_s=1.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.twin.server", description="Local Vertex AI tuning twin.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--local-model", choices=[b.value for b in LocalBase], default=LocalBase.TINY.value)
    parser.add_argument("--max-concurrent-jobs", type=int, default=1)
    parser.add_argument("--quota-mode", choices=["queue", "error"], default="queue")
    parser.add_argument("--engine", choices=["torch", "fake"], default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--fake-step-seconds", type=float, default=0.02, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    serve(
        TwinConfig(
            data_dir=args.data_dir,
            port=args.port,
            host=args.host,
            local_model=LocalBase(args.local_model),
            max_concurrent_jobs=args.max_concurrent_jobs,
            quota_mode=args.quota_mode,
            engine=args.engine,
            fake_step_seconds=args.fake_step_seconds,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
