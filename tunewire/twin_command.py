"""`tunewire twin`: run the local Vertex AI tuning twin in the foreground (Ctrl-C stops it).

Google's clients talk to it unchanged (point them at http://127.0.0.1:PORT); see
docs/local-twin.md. Register with ``app.command("twin")(twin_command.twin)``.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer


class LocalModel(str, enum.Enum):
    tiny = "tiny"
    gemma_3_270m = "gemma-3-270m"


class QuotaModeChoice(str, enum.Enum):
    queue = "queue"
    error = "error"


class EngineChoice(str, enum.Enum):
    torch = "torch"
    fake = "fake"


def twin(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port on 127.0.0.1.")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder for jobs, datasets and checkpoints (kept across restarts).")],
    local_model: Annotated[
        LocalModel, typer.Option("--local-model", help="Local base that trains every Gemini model.")
    ] = LocalModel.tiny,
    max_concurrent_jobs: Annotated[
        int, typer.Option("--max-concurrent-jobs", min=1, help="Concurrent tuning jobs quota.")
    ] = 1,
    quota_mode: Annotated[
        QuotaModeChoice,
        typer.Option("--quota-mode", help="queue: extra jobs wait PENDING; error: create answers 429 RESOURCE_EXHAUSTED."),
    ] = QuotaModeChoice.queue,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    engine: Annotated[EngineChoice, typer.Option("--engine", hidden=True)] = EngineChoice.torch,
    fake_step_seconds: Annotated[float, typer.Option("--fake-step-seconds", hidden=True)] = 0.02,
) -> None:
    """Run the local Vertex AI tuning twin (GenAiTuningService + tuned endpoints) in the foreground."""
    from infra.twin.config import TwinConfig
    from infra.twin.engine import LocalBase
    from infra.twin.server import serve

    serve(
        TwinConfig(
            data_dir=data_dir,
            port=port,
            host=host,
            local_model=LocalBase(local_model.value),
            max_concurrent_jobs=max_concurrent_jobs,
            quota_mode=quota_mode.value,  # type: ignore[arg-type]
            engine=engine.value,  # type: ignore[arg-type]
            fake_step_seconds=fake_step_seconds,
        )
    )
