"""`tunewire up --detach`, `status`, `env` and `down` as a user runs them: healthy on return,
export lines that work, and no process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from infra.processes import group_exists

pytestmark = pytest.mark.e2e


def tunewire(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tunewire.cli", *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_up_detach_returns_healthy_env_points_at_it_and_down_leaves_no_process(tmp_path):
    env = {**os.environ, "TUNEWIRE_STATE_DIR": str(tmp_path / "state")}
    for key in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        env.pop(key, None)
    up = tunewire("up", "--detach", "--tick-interval", "2", env=env)
    assert up.returncode == 0, up.stderr
    try:
        status = tunewire("status", "--json", env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        state = json.loads(status.stdout)
        names = {component["name"] for component in state["components"]}
        assert {"pubsub-emulator", "firestore-emulator", "fake-gcs-server", "tuning-twin", "fn-validate_dataset",
                "fn-launch_tuning", "fn-poll_jobs", "fn-notify", "scheduler-ticker"} <= names
        assert all(component["running"] for component in state["components"])
        exports = dict(line.removeprefix("export ").split("=", 1) for line in tunewire("env", env=env).stdout.splitlines())
        for key in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT",
                    "TUNEWIRE_REGION", "TUNEWIRE_VERTEX_ENDPOINT"):
            assert exports.get(key), key
        again = tunewire("up", "--detach", env=env)
        assert again.returncode == 2 and "already running" in again.stderr
        ticker = next(c for c in state["components"] if c["name"] == "scheduler-ticker")
        os.killpg(ticker["pgid"], signal.SIGKILL)  # a component crashes: it is reported, not hidden
        crashed = tunewire("status", "--json", env=env)
        assert crashed.returncode == 1
        reported = {c["name"]: c["running"] for c in json.loads(crashed.stdout)["components"]}
        assert reported["scheduler-ticker"] is False and reported["tuning-twin"] is True
    finally:
        down = tunewire("down", env=env)
    assert down.returncode == 0, down.stderr
    assert not [c["name"] for c in state["components"] if group_exists(c["pgid"])], "a component's process group survived `down`"
    assert tunewire("status", env=env).returncode == 1
