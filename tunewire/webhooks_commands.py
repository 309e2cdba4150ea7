"""`tunewire webhooks add | list | remove | listen`: webhook endpoints and a local receiver.

Signing secrets are shown once, when `add` generates one; `list` never shows secrets (they are
not in the endpoint records at all). `listen` runs a verifying receiver on 127.0.0.1 and prints
one line per event; with `--register` it registers itself for the time it runs.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from tunewire import job_common
from tunewire.console import console, err_console, fail

app = typer.Typer(help="Webhook endpoints: add, list, remove, and a local listener.", no_args_is_help=True)

DEFAULT_LISTEN_PORT = 8780


def _check_url(url: str, settings: Any) -> None:
    """Refuse a URL deliveries would refuse (scheme, host allowlist, private or loopback address)."""
    from shared.webhooks.url_safety import UnsafeWebhookUrl, check_webhook_url

    try:
        check_webhook_url(url, allow_loopback=settings.local, allowed_hosts=settings.allowed_webhook_hosts)
    except UnsafeWebhookUrl as exc:
        fail(f"{url} cannot receive webhooks: {exc}")


def _check_secret(secret: str) -> None:
    from shared.webhooks.signing import secret_bytes

    try:
        secret_bytes(secret)
    except ValueError as exc:
        fail(f"--secret: {exc}")


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The http(s) URL that receives signed events.")],
    prefix: Annotated[str, typer.Option("--prefix", help="Only uploads whose object name starts with this.")] = "",
    secret: Annotated[Optional[str], typer.Option("--secret", help="Use this whsec_ secret instead of generating one.")] = None,
) -> None:
    """Register a webhook endpoint; a generated signing secret is printed once."""
    if secret is not None:
        _check_secret(secret)
    clients = job_common.load_clients()
    _check_url(url, clients.settings)
    with job_common.io_errors("registering the endpoint"):
        endpoint, signing_secret = clients.endpoints.add(url, prefix=prefix, secret=secret)
    console.print(f"added endpoint {endpoint.id} → {endpoint.url}" + (f" (prefix {endpoint.prefix!r})" if endpoint.prefix else ""),
                  highlight=False, soft_wrap=True, markup=False)
    if secret is None:
        console.print(f"signing secret: {signing_secret}", highlight=False, soft_wrap=True, markup=False)
        err_console.print("[bold yellow]store this secret now:[/] it is shown only once (the receiver verifies signatures with it)",
                          highlight=False, soft_wrap=True)


@app.command("list")
def list_endpoints(as_json: Annotated[bool, typer.Option("--json", help="Print the endpoints as a JSON list.")] = False) -> None:
    """List webhook endpoints (never their secrets)."""
    clients = job_common.load_clients()
    with job_common.io_errors("listing endpoints"):
        endpoints = sorted(clients.endpoints.list(), key=lambda endpoint: endpoint.id)
    if as_json:
        job_common.print_json([endpoint.to_dict() for endpoint in endpoints])
        return
    if not endpoints:
        console.print("no webhook endpoints")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("id", "url", "prefix", "enabled", "created"):
        table.add_column(column, overflow="fold")
    for endpoint in endpoints:
        enabled = "yes" if endpoint.enabled else f"no ({endpoint.disabled_reason or 'disabled'})"
        table.add_row(endpoint.id, endpoint.url, endpoint.prefix or "(all)", enabled, job_common.when(endpoint.created_at))
    console.print(table)


@app.command("remove")
def remove(endpoint_id: Annotated[str, typer.Argument(metavar="ID", help="The endpoint id (ep-...).")]) -> None:
    """Remove a webhook endpoint and its secrets. Exit 2 when there is no such endpoint."""
    clients = job_common.load_clients()
    with job_common.io_errors("removing the endpoint"):
        removed = clients.endpoints.remove(endpoint_id)
    if not removed:
        fail(f"no webhook endpoint {endpoint_id!r}")
    console.print(f"removed endpoint {endpoint_id}", highlight=False)


def event_line(payload: dict[str, Any], headers: dict[str, str], *, as_json: bool) -> str:
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    record = {
        "type": payload.get("type"),
        "job_id": data.get("job_id"),
        "state": data.get("state"),
        "webhook_id": headers.get("webhook-id"),
        "timestamp": payload.get("timestamp"),
    }
    if as_json:
        return json.dumps({**record, "payload": payload}, ensure_ascii=False, separators=(",", ":"))
    return f"{record['timestamp'] or '-'}  {record['type']}  job={record['job_id']}  state={record['state']}  webhook-id={record['webhook_id']}"


@app.command("listen")
def listen(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = DEFAULT_LISTEN_PORT,
    secret: Annotated[Optional[str], typer.Option("--secret", help="Verify with this whsec_ secret.")] = None,
    endpoint_id: Annotated[Optional[str], typer.Option("--endpoint-id", help="Verify with this registered endpoint's secrets.")] = None,
    register: Annotated[bool, typer.Option("--register", help="Register http://127.0.0.1:PORT/ while listening (removed on exit).")] = False,
    prefix: Annotated[str, typer.Option("--prefix", help="With --register: only uploads whose name starts with this.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print each event as one JSON line.")] = False,
) -> None:
    """Receive signed webhooks on 127.0.0.1 and print each event; Ctrl-C stops."""
    import logging

    from werkzeug.serving import make_server

    from shared.webhooks.receiver import create_receiver_app

    if secret is not None and endpoint_id is not None:
        fail("pass --secret or --endpoint-id, not both")
    if endpoint_id is not None and register:
        fail("--register creates its own endpoint; leave out --endpoint-id")
    if secret is None and endpoint_id is None and not register:
        fail("pass --secret, --endpoint-id or --register so signatures can be verified")
    if secret is not None:
        _check_secret(secret)

    clients = job_common.load_clients() if (endpoint_id or register) else None
    secrets: list[str] = [secret] if secret else []
    if endpoint_id is not None:
        with job_common.io_errors(f"reading the secrets of {endpoint_id}"):
            secrets = clients.endpoints.secrets_for(endpoint_id)

    lock = threading.Lock()
    handler: dict[str, Any] = {}

    def on_event(payload: dict[str, Any], headers: dict[str, str]) -> None:
        with lock:
            typer.echo(event_line(payload, headers, as_json=as_json))

    def dispatch(environ: Any, start_response: Any) -> Any:
        return handler["app"](environ, start_response)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        server = make_server("127.0.0.1", port, dispatch, threaded=True)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}")
    url = f"http://127.0.0.1:{server.server_port}/"
    registered: str | None = None
    try:
        if register:
            _check_url(url, clients.settings)
            with job_common.io_errors("registering the listener"):
                endpoint, generated = clients.endpoints.add(url, prefix=prefix, secret=secret)
            registered = endpoint.id
            secrets = [generated]
        receiver = create_receiver_app(secrets, on_event)

        @receiver.after_request
        def report_refusals(response: Any) -> Any:
            if response.status_code >= 400:
                detail = (response.get_json(silent=True) or {}) if response.is_json else {}
                typer.echo(f"refused a request: {response.status_code} {detail.get('reason') or detail.get('error') or ''}".rstrip(), err=True)
            return response

        handler["app"] = receiver
        _stop_on_sigterm()
        typer.echo(f"listening on {url}" + (f" as endpoint {registered}" if registered else "") + "; Ctrl-C stops", err=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if registered is not None:
            try:
                clients.endpoints.remove(registered)
                typer.echo(f"removed endpoint {registered}", err=True)
            except Exception as exc:  # noqa: BLE001 - say what is left behind, then exit
                typer.echo(f"could not remove endpoint {registered} ({type(exc).__name__}); `tunewire webhooks remove {registered}`", err=True)


def _stop_on_sigterm() -> None:
    """SIGTERM stops the listener like Ctrl-C (so --register cleans up either way)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
