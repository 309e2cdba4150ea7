"""The local stack: every component tunewire needs, on one machine, with the cloud's topology.

Started in order, each in its own process group on a free loopback port, each health-checked
with a bounded wait: the Pub/Sub emulator, the Firestore emulator, the topics (before
fake-gcs-server, which drops events for a missing topic), fake-gcs-server publishing finalize
notifications to `dataset-uploads`, the buckets, the Vertex AI tuning twin, one
functions-framework process per function, the push subscriptions (retry and dead-letter
policies) and the scheduler ticker. Logs go to one run folder. The test fixtures and
`tunewire up` both use this class, so tests and the demo run the same stack.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from infra.emulators import FakeGcs, FirestoreEmulator, PubSubEmulator, start_fake_gcs, start_firestore_emulator, start_pubsub_emulator
from infra.processes import ComponentFailedError, ManagedProcess, free_loopback_port
from infra.topology import DeliveryPolicy, create_subscriptions, create_topics, routes
from shared.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
STATE_FILE = "stack.json"
FUNCTION_START_TIMEOUT_S = 60.0


def default_state_dir() -> Path:
    return Path(os.environ.get("TUNEWIRE_STATE_DIR", ".tunewire")).resolve()


@dataclass
class StackConfig:
    state_dir: Path = field(default_factory=default_state_dir)
    project: str = "tunewire-local"
    region: str = "us-central1"
    datasets_bucket: str = "tunewire-datasets"
    reports_bucket: str = "tunewire-reports"
    local_model: str = "tiny"
    twin_engine: str = "torch"  # "fake" only in tests of the pipeline's plumbing
    fake_step_seconds: float | None = None
    max_concurrent_jobs: int = 1
    quota_mode: str = "queue"
    tick_interval_s: float = 5.0
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    function_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Component:
    name: str
    process: ManagedProcess
    url: str


def _answers(url: str, timeout_s: float = 1.0) -> bool:
    """True when anything answers HTTP at `url` (a cloudevent function answers GET with an error)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.run_dir = config.state_dir / f"run-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{os.getpid()}"
        self.components: list[Component] = []
        self.pubsub: PubSubEmulator | None = None
        self.firestore: FirestoreEmulator | None = None
        self.gcs: FakeGcs | None = None
        self.function_urls: dict[str, str] = {}
        self.twin_url = ""
        self.started_at: float | None = None
        self._saved_env: dict[str, str | None] = {}

    # --- environment ---------------------------------------------------------------------

    @property
    def secrets_file(self) -> Path:
        return self.config.state_dir / "webhook-secrets.json"

    def env(self) -> dict[str, str]:
        """What a client (CLI, tests, functions) needs to talk to this stack."""
        env = {
            "GOOGLE_CLOUD_PROJECT": self.config.project,
            "TUNEWIRE_REGION": self.config.region,
            "TUNEWIRE_VERTEX_ENDPOINT": self.twin_url,
            "TUNEWIRE_DATASETS_BUCKET": self.config.datasets_bucket,
            "TUNEWIRE_REPORTS_BUCKET": self.config.reports_bucket,
            "TUNEWIRE_LOCAL": "true",
            "TUNEWIRE_WEBHOOK_SECRETS_FILE": str(self.secrets_file),
        }
        for emulator in (self.pubsub, self.firestore, self.gcs):
            if emulator is not None:
                env.update(emulator.env)
        return env

    def settings(self) -> Settings:
        return Settings.from_env(self.env())

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start everything; on any failure stop what started and raise ComponentFailedError."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        self.started_at = time.time()
        self._write_state(ready=True, startup_s=time.monotonic() - started)
        return self

    def _start_all(self) -> None:
        from google.cloud import pubsub_v1, storage

        config = self.config
        self.pubsub = start_pubsub_emulator(self.run_dir, config.project)
        self._track("pubsub-emulator", self.pubsub.process, f"http://{self.pubsub.host}")
        self.firestore = start_firestore_emulator(self.run_dir, config.project)
        self._track("firestore-emulator", self.firestore.process, f"http://{self.firestore.host}")
        self._export(self.firestore.env)
        self._export(self.pubsub.env)  # this process's clients talk to the emulators too (undone by stop)
        settings = Settings.from_env({**self.env(), "PUBSUB_EMULATOR_HOST": self.pubsub.host})
        publisher = pubsub_v1.PublisherClient()
        create_topics(settings, publisher)

        self.gcs = start_fake_gcs(self.run_dir, pubsub=self.pubsub, project=config.project, topic=settings.topic_dataset_uploads)
        self._track("fake-gcs-server", self.gcs.process, self.gcs.url)
        self._export(self.gcs.env)
        gcs = storage.Client(project=config.project)
        for bucket in (config.datasets_bucket, config.reports_bucket):
            gcs.create_bucket(bucket)

        self._start_twin()
        for route in routes(settings):
            self._start_function(route.function)
        self._create_topology()
        self._start_ticker()

    def _export(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _track(self, name: str, process: ManagedProcess, url: str) -> None:
        self.components.append(Component(name, process, url))

    def _start_twin(self, port: int | None = None) -> None:
        from infra.twin.process import start_twin

        config = self.config
        twin = start_twin(
            self.run_dir,
            port=port,
            data_dir=config.state_dir / "twin-data",
            local_model=config.local_model,
            max_concurrent_jobs=config.max_concurrent_jobs,
            quota_mode=config.quota_mode,
            engine=config.twin_engine,
            fake_step_seconds=config.fake_step_seconds,
            env=self.gcs.env if self.gcs else {},
        )
        self.twin_url = twin.url
        self._track("tuning-twin", twin.process, twin.url)

    def _start_function(self, function: str, port: int | None = None) -> None:
        port = port or free_loopback_port()
        url = f"http://127.0.0.1:{port}"
        process = ManagedProcess(
            name=f"fn-{function}",
            argv=[
                sys.executable, "-m", "functions_framework",
                "--target", function,
                "--source", str(REPO_ROOT / "functions" / "main.py"),
                "--signature-type", "cloudevent",
                "--host", "127.0.0.1",
                "--port", str(port),
            ],  # fmt: skip
            log_path=self.run_dir / f"fn-{function}.log",
            env={**self.env(), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT), **self.config.function_env},
            cwd=REPO_ROOT,
        )
        process.start()
        try:
            process.wait_healthy(lambda: _answers(url), FUNCTION_START_TIMEOUT_S)
        except BaseException:
            process.stop()
            raise
        self.function_urls[function] = url
        self._track(f"fn-{function}", process, url)

    def _start_ticker(self) -> None:
        process = ManagedProcess(
            name="scheduler-ticker",
            argv=[sys.executable, "-m", "infra.ticker", "--interval", str(self.config.tick_interval_s)],
            log_path=self.run_dir / "scheduler-ticker.log",
            env={**self.env(), "PYTHONUNBUFFERED": "1"},
            cwd=REPO_ROOT,
        )
        process.start()
        time.sleep(0.2)
        if not process.is_running():
            raise process.fail("the ticker exited at start")
        self._track("scheduler-ticker", process, "")

    def stop(self) -> None:
        """Stop every component, newest first; never leaves a process group behind."""
        for component in reversed(self.components):
            component.process.stop()
        self.components.clear()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        self._write_state(ready=False)

    # --- faults (the reliability suite) -------------------------------------------------

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(f"no component {name!r}; have {[c.name for c in self.components]}")

    def kill(self, name: str) -> None:
        """SIGKILL a component's whole process group: a crash, with no chance to clean up."""
        process = self.component(name).process
        if process.pgid is not None:
            try:
                os.killpg(process.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.stop(timeout_s=1.0)

    def restart(self, name: str, *, down_s: float = 0.0) -> None:
        """Stop one component, leave it down for `down_s`, start it again at the same address.

        Firestore keeps its documents (exported just before the stop, imported at start: only
        writes in that instant are lost). The Pub/Sub emulator keeps nothing, as its process
        holds everything in memory: the topics and subscriptions are created again, and messages
        it held are gone (the reconciler on the poll tick re-drives what they carried).
        """
        component = self.component(name)
        self.components.remove(component)
        export = None
        if name == "firestore-emulator" and component.process.is_running() and self.firestore is not None:
            export = self.firestore.export(self.run_dir / "firestore-export")
        component.process.stop()
        time.sleep(down_s)
        port = int(component.url.rsplit(":", 1)[1]) if component.url else None
        if name == "pubsub-emulator":
            self.pubsub = start_pubsub_emulator(self.run_dir, self.config.project, port=port)
            self._track(name, self.pubsub.process, component.url)
            self._create_topology()
        elif name == "firestore-emulator":
            self.firestore = start_firestore_emulator(self.run_dir, self.config.project, port=port, import_data=export)
            self._track(name, self.firestore.process, component.url)
        elif name == "tuning-twin":
            self._start_twin(port=port)
        elif name.startswith("fn-"):
            self._start_function(name.removeprefix("fn-"), port=port)
        elif name == "scheduler-ticker":
            self._start_ticker()
        else:
            raise ValueError(f"{name} cannot be restarted")

    def _create_topology(self) -> None:
        from google.cloud import pubsub_v1

        settings = self.settings()
        create_topics(settings, pubsub_v1.PublisherClient())
        subscriber = pubsub_v1.SubscriberClient()
        create_subscriptions(settings, subscriber, self.function_urls, self.config.delivery)
        subscriber.close()

    # --- status --------------------------------------------------------------------------

    def crashed(self) -> list[ComponentFailedError]:
        """Components whose process exited while the stack runs (reported, never hidden)."""
        return [
            component.process.fail("exited while the stack was running")
            for component in self.components
            if not component.process.is_running()
        ]

    def status(self) -> dict[str, Any]:
        return {
            "ready": bool(self.components) and not self.crashed(),
            "run_dir": str(self.run_dir),
            "started_at": self.started_at,
            "components": [
                {
                    "name": c.name,
                    "pid": c.process.pid,
                    "pgid": c.process.pgid,
                    "url": c.url,
                    "running": c.process.is_running(),
                    "log": str(c.process.log_path),
                }
                for c in self.components
            ],
            "env": self.env(),
            "local_model": self.config.local_model,
        }

    def _write_state(self, *, ready: bool, startup_s: float | None = None) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        state = {**self.status(), "ready": ready, "supervisor_pid": os.getpid(), "startup_s": startup_s}
        path = self.config.state_dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
        os.replace(temporary, path)


def read_state(state_dir: Path | None = None) -> dict[str, Any] | None:
    path = (state_dir or default_state_dir()) / STATE_FILE
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
