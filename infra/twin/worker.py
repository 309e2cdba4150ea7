"""The worker: runs queued jobs on background threads under the concurrent-jobs quota.

``max_concurrent_jobs`` threads take job ids from one FIFO queue, so at most that many jobs train
at once and the rest wait in JOB_STATE_PENDING in creation order. A job moves
PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED; a cancel while RUNNING sets CANCELLING, and
the observer's ``should_cancel`` turns true so the engine stops within one step.

Restart (``recover``): PENDING jobs are queued again; RUNNING jobs are queued first and resume
from their last checkpoint (``resume_from``), restart from scratch when they had none, or fail
with the reason when the checkpoint is gone; CANCELLING jobs end CANCELLED.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections import deque
from pathlib import Path

from infra.twin.config import TwinConfig
from infra.twin.datasets import DatasetUnavailable, fetch_dataset
from infra.twin.engine import (
    Checkpoint,
    DataStats,
    LocalBase,
    StepMetrics,
    TrainingCancelled,
    TrainingFailed,
    TrainingMode,
    TrainingResult,
    TrainingSpec,
)
from infra.twin.engine_loader import EngineHolder
from infra.twin.jobs import CheckpointRecord, JobRecord, data_stats_to_wire
from infra.twin.progress import ProgressLog
from infra.twin.store import JobStore
from infra.twin.wire import format_time, utc_now

__all__ = ["CANCELLED_ERROR", "JobObserver", "Worker"]

CANCELLED_ERROR = {"code": 1, "message": "CANCELLED"}
_INVALID_ARGUMENT = 3
_INTERNAL = 13
_log = logging.getLogger(__name__)


class _CannotResume(Exception):
    """A job interrupted by a restart cannot continue (its checkpoint is gone)."""


def _now() -> str:
    return format_time(utc_now())


class JobObserver:
    """The engine's TrainingObserver for one job: records stats, progress and checkpoints."""

    def __init__(self, store: JobStore, record: JobRecord, progress: ProgressLog) -> None:
        self._store = store
        self._record = record
        self._progress = progress

    def on_data_stats(self, stats: DataStats) -> None:
        with self._store.lock:
            self._record.data_stats = data_stats_to_wire(stats)
            self._record.update_time = _now()
            self._store.save(self._record)

    def on_step(self, metrics: StepMetrics) -> None:
        self._progress.step(metrics)

    def on_checkpoint(self, checkpoint: Checkpoint, validation_loss: float | None) -> None:
        job_dir = self._store.job_dir(self._record.job_id)
        entry = CheckpointRecord(
            checkpoint_id=checkpoint.checkpoint_id,
            epoch=checkpoint.epoch,
            step=checkpoint.step,
            path=_stored_path(checkpoint.path, job_dir),
            validation_loss=validation_loss,
        )
        with self._store.lock:
            kept = [c for c in self._record.checkpoints if c.checkpoint_id != entry.checkpoint_id]
            self._record.checkpoints = [*kept, entry]
            self._record.update_time = _now()
            self._store.save(self._record)
        self._progress.checkpoint(entry.checkpoint_id, entry.epoch, entry.step, validation_loss)

    def should_cancel(self) -> bool:
        return self._record.state == "JOB_STATE_CANCELLING"


def _stored_path(path: Path, job_dir: Path) -> str:
    """``path`` relative to the job folder when it is inside it (data dirs can move), else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path(os.path.abspath(job_dir))))
    except ValueError:
        return str(absolute)


class Worker:
    """Background threads that train queued jobs, ``config.max_concurrent_jobs`` at a time."""

    def __init__(self, store: JobStore, engines: EngineHolder, config: TwinConfig) -> None:
        self._store = store
        self._engines = engines
        self._config = config
        self._queue: deque[str] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        for index in range(self._config.max_concurrent_jobs):
            thread = threading.Thread(target=self._loop, name=f"twin-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop taking jobs; wait (bounded) for the threads. Running training is not cancelled."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout_s)

    def submit(self, job_id: str) -> None:
        with self._cond:
            self._queue.append(job_id)
            self._cond.notify()

    def recover(self) -> None:
        """Re-queue unfinished jobs after a restart (RUNNING ones first, then PENDING by age)."""
        records = self._store.all()
        with self._store.lock:
            for record in records:
                if record.state == "JOB_STATE_CANCELLING":
                    self._finish(record, "JOB_STATE_CANCELLED", CANCELLED_ERROR)
        running = [r for r in records if r.state == "JOB_STATE_RUNNING"]
        waiting = [r for r in records if r.state in ("JOB_STATE_PENDING", "JOB_STATE_QUEUED")]
        for record in running + waiting:
            _log.info("re-queueing %s (%s)", record.name, record.state)
            self.submit(record.job_id)

    # -- the threads -------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job_id = self._queue.popleft()
            try:
                self._run(job_id)
            except Exception:  # noqa: BLE001 - a bug here must not kill the worker thread
                _log.exception("worker failed on job %s", job_id)

    def _run(self, job_id: str) -> None:
        store = self._store
        record = store.get(job_id)
        if record is None:
            return
        with store.lock:
            if record.terminal:
                return  # cancelled while it waited
            if record.state == "JOB_STATE_CANCELLING":
                self._finish(record, "JOB_STATE_CANCELLED", CANCELLED_ERROR)
                return
            now = _now()
            record.state = "JOB_STATE_RUNNING"
            record.start_time = record.start_time or now
            record.update_time = now
            record.attempts += 1
            store.save(record)
        progress = ProgressLog(store.progress_path(job_id))
        observer = JobObserver(store, record, progress)
        resume: Checkpoint | None = None
        try:
            resume = self._resume_point(record, progress)
            spec = self._spec(record)
            if observer.should_cancel():
                raise TrainingCancelled()
            result = self._engines.get().train(spec, observer, resume_from=resume)
        except TrainingCancelled:
            self._end(record, "JOB_STATE_CANCELLED", CANCELLED_ERROR)
        except (TrainingFailed, DatasetUnavailable) as exc:
            self._end(record, "JOB_STATE_FAILED", {"code": _INVALID_ARGUMENT, "message": str(exc)})
        except _CannotResume as exc:
            self._end(record, "JOB_STATE_FAILED", {"code": _INTERNAL, "message": str(exc)})
        except Exception as exc:  # noqa: BLE001 - any engine bug fails the job, not the twin
            _log.exception("job %s failed", record.name)
            prefix = f"Resuming from checkpoint {resume.checkpoint_id} failed: " if resume else "Internal error: "
            self._end(record, "JOB_STATE_FAILED", {"code": _INTERNAL, "message": f"{prefix}{type(exc).__name__}: {exc}"})
        else:
            if record.state == "JOB_STATE_CANCELLING":
                self._end(record, "JOB_STATE_CANCELLED", CANCELLED_ERROR)
            else:
                self._succeed(record, result)

    def _resume_point(self, record: JobRecord, progress: ProgressLog) -> Checkpoint | None:
        """None on a first run; after a restart, the last checkpoint (or None: start over)."""
        if record.attempts <= 1:
            return None
        if not record.checkpoints:
            shutil.rmtree(self._store.output_dir(record.job_id), ignore_errors=True)
            progress.resume(None, 0)
            with self._store.lock:
                record.resumed_from.append("")
                self._store.save(record)
            return None
        last = record.checkpoints[-1]
        path = self._store.checkpoint_path(record, last)
        if not path.exists():
            raise _CannotResume(
                f"The twin restarted while this job was running and cannot resume it: checkpoint "
                f"{last.checkpoint_id} ({last.path}) is missing from the data directory."
            )
        progress.resume(last.checkpoint_id, last.step)
        with self._store.lock:
            record.resumed_from.append(last.checkpoint_id)
            self._store.save(record)
        return Checkpoint(checkpoint_id=last.checkpoint_id, epoch=last.epoch, step=last.step, path=path)

    def _spec(self, record: JobRecord) -> TrainingSpec:
        data_dir = self._store.dataset_dir(record.job_id)
        training = fetch_dataset(record.training_dataset_uri, data_dir / "train.jsonl")
        validation = (
            fetch_dataset(record.validation_dataset_uri, data_dir / "validation.jsonl")
            if record.validation_dataset_uri
            else None
        )
        output = self._store.output_dir(record.job_id)
        output.mkdir(parents=True, exist_ok=True)
        extra = {"batch_size": record.batch_size} if record.batch_size else {}
        return TrainingSpec(
            job_id=record.job_id,
            base=LocalBase(record.local_base),
            mode=TrainingMode.FULL if record.full_tuning else TrainingMode.ADAPTER,
            training_file=training,
            output_dir=output,
            validation_file=validation,
            epochs=record.epochs,
            learning_rate_multiplier=record.learning_rate_multiplier,
            lora_rank=record.lora_rank,
            export_last_checkpoint_only=bool(record.export_last_checkpoint_only),
            **extra,
        )

    # -- endings -----------------------------------------------------------------------------

    def _succeed(self, record: JobRecord, result: TrainingResult) -> None:
        store = self._store
        job_dir = store.job_dir(record.job_id)
        if not result.checkpoints:
            self._end(record, "JOB_STATE_FAILED", {"code": _INTERNAL, "message": "Training produced no checkpoint."})
            return
        with store.lock:
            reported = {c.checkpoint_id: c for c in record.checkpoints}
            record.checkpoints = [
                CheckpointRecord(
                    checkpoint_id=c.checkpoint_id,
                    epoch=c.epoch,
                    step=c.step,
                    path=_stored_path(c.path, job_dir),
                    validation_loss=reported[c.checkpoint_id].validation_loss if c.checkpoint_id in reported else None,
                )
                for c in result.checkpoints
            ]
            record.data_stats = data_stats_to_wire(result.stats)
            record.model_id = store.new_id()
            for checkpoint in record.exported_checkpoints():
                checkpoint.endpoint_id = store.new_id()
            self._finish(record, "JOB_STATE_SUCCEEDED", None)

    def _end(self, record: JobRecord, state: str, error: dict[str, object] | None) -> None:
        with self._store.lock:
            self._finish(record, state, error)

    def _finish(self, record: JobRecord, state: str, error: dict[str, object] | None) -> None:
        """Set a terminal state (caller holds the store lock)."""
        now = _now()
        record.state = state
        record.error = error
        record.end_time = now
        record.update_time = now
        self._store.save(record)
        _log.info("%s ended %s%s", record.name, state, f": {error['message']}" if error else "")
