"""`tunewire up | down | status | env`: the local stack from the command line.

`up` runs the stack in the foreground (Ctrl-C stops everything); `up --detach` starts the same
supervisor in the background and returns once every component is healthy. `down` stops it and
leaves no process behind; `env` prints `export` lines for the running stack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer

from infra.processes import group_exists, group_running
from tunewire.console import console, err_console, fail

DETACH_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 60.0


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running_state() -> dict | None:
    from infra.stack import read_state

    state = read_state()
    if state and state.get("ready") and _pid_alive(state.get("supervisor_pid")):
        return state
    return None


def up(
    detach: Annotated[bool, typer.Option("--detach", help="Start in the background; return when healthy.")] = False,
    local_model: Annotated[str, typer.Option("--local-model", help="Base the twin trains: tiny or gemma-3-270m.")] = "tiny",
    tick_interval: Annotated[float, typer.Option("--tick-interval", min=0.2, help="Seconds between poll ticks.")] = 5.0,
    max_concurrent_jobs: Annotated[int, typer.Option("--max-concurrent-jobs", min=1, help="The twin's tuning quota.")] = 1,
    quota_mode: Annotated[str, typer.Option("--quota-mode", help="queue (extra jobs wait) or error (429).")] = "queue",
) -> None:
    """Start the local stack: emulators, topics, functions, the tuning twin and the scheduler."""
    if local_model not in ("tiny", "gemma-3-270m"):
        fail(f"--local-model must be tiny or gemma-3-270m, not {local_model!r}")
    if quota_mode not in ("queue", "error"):
        fail(f"--quota-mode must be queue or error, not {quota_mode!r}")
    if _running_state():
        fail("a local stack is already running; `tunewire down` stops it")
    options = ["--local-model", local_model, "--tick-interval", str(tick_interval),
               "--max-concurrent-jobs", str(max_concurrent_jobs), "--quota-mode", quota_mode]
    if detach:
        _up_detached(options)
    else:
        _up_foreground(local_model, tick_interval, max_concurrent_jobs, quota_mode)


def _up_foreground(local_model: str, tick_interval: float, max_concurrent_jobs: int, quota_mode: str) -> None:
    from infra.processes import ComponentFailedError
    from infra.stack import LocalStack, StackConfig

    stack = LocalStack(StackConfig(local_model=local_model, tick_interval_s=tick_interval,
                                   max_concurrent_jobs=max_concurrent_jobs, quota_mode=quota_mode))
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    err_console.print("starting the local stack…")
    try:
        stack.start()
    except ComponentFailedError as exc:
        fail(str(exc).splitlines()[0] + f" (logs in {stack.run_dir})")
    _print_status(stack.status())
    err_console.print("[green]ready[/] — Ctrl-C stops everything")
    reported: set[str] = set()
    try:
        while not stopping:
            for failure in stack.crashed():
                if failure.component not in reported:
                    reported.add(failure.component)
                    err_console.print(f"[bold red]component {failure.component} exited[/] (exit code {failure.exit_code}); last log lines:\n{failure.log_tail}")
                    stack._write_state(ready=False)
            time.sleep(0.5)
    finally:
        err_console.print("stopping the local stack…")
        stack.stop()
        err_console.print("stopped")


def _up_detached(options: list[str]) -> None:
    from infra.stack import default_state_dir, read_state

    state_dir = default_state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "supervisor.log"
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "tunewire.cli", "up", *options],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "TUNEWIRE_STATE_DIR": str(state_dir)},
        )
    deadline = time.monotonic() + DETACH_TIMEOUT_S
    while time.monotonic() < deadline:
        state = read_state(state_dir)
        if state and state.get("ready") and state.get("supervisor_pid") == child.pid:
            _print_status(state)
            err_console.print(f"[green]ready[/] in the background (supervisor pid {child.pid}); `tunewire down` stops it")
            return
        if child.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            fail(f"the stack did not start (exit code {child.returncode}); {log_path}:\n{tail}")
        time.sleep(0.5)
    os.killpg(child.pid, signal.SIGTERM)
    fail(f"the stack was not healthy within {DETACH_TIMEOUT_S:.0f} s; see {log_path}")


def down() -> None:
    """Stop the local stack and every process it started."""
    from infra.stack import read_state

    state = read_state()
    if not state:
        err_console.print("no local stack state found; nothing to stop")
        return
    supervisor = state.get("supervisor_pid")
    if _pid_alive(supervisor) and supervisor != os.getpid():
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.2)
    leftovers = 0
    for component in state.get("components", []):
        pgid = component.get("pgid")
        if pgid and group_exists(pgid):
            leftovers += 1
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    err_console.print("stopped" + (f" (killed {leftovers} leftover process groups)" if leftovers else ""))


def status(as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False) -> None:
    """Show whether the local stack runs, and each component's pid, URL and log."""
    from infra.stack import read_state

    state = read_state()
    if state is None:
        if as_json:
            typer.echo(orjson.dumps({"ready": False, "components": []}).decode())
        else:
            console.print("no local stack (run `tunewire up --detach`)")
        raise typer.Exit(1)
    for component in state.get("components", []):
        # by process group, zombies excluded: a crashed component not yet reaped is not running
        component["running"] = bool(component.get("pgid")) and group_running(component["pgid"])
    state["ready"] = bool(state.get("ready")) and _pid_alive(state.get("supervisor_pid")) and all(
        c["running"] for c in state.get("components", [])
    )
    if as_json:
        typer.echo(orjson.dumps(state, option=orjson.OPT_INDENT_2).decode())
    else:
        _print_status(state)
    if not state["ready"]:
        raise typer.Exit(1)


def env() -> None:
    """Print `export` lines for the running local stack (eval "$(tunewire env)")."""
    state = _running_state()
    if state is None:
        fail("no local stack is running; start one with `tunewire up --detach`")
    for key, value in sorted(state["env"].items()):
        typer.echo(f"export {key}={_shell_quote(value)}")


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def _print_status(state: dict) -> None:
    from rich.table import Table

    table = Table(title=f"local stack ({'ready' if state.get('ready') else 'not ready'})", box=None)
    for column in ("component", "pid", "url", "running", "log"):
        table.add_column(column, overflow="fold")
    for component in state.get("components", []):
        running = component.get("running", True)
        table.add_row(component["name"], str(component.get("pid")), component.get("url") or "-",
                      "[green]yes[/]" if running else "[red]no[/]", Path(component.get("log", "")).name)
    console.print(table)
