"""Delivery attempts against real HTTP(S) servers on 127.0.0.1, started here in threads."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shared.webhooks import (
    ResolvedTarget,
    check_webhook_url,
    deliver,
    deliver_to_url,
    generate_secret,
    sign,
    verify,
    webhook_message_id,
)

LOOPBACK = "127.0.0.1"
BODY = b'{"type":"tuning.job.succeeded","timestamp":"2025-06-01T12:30:05Z","data":{"job_id":"j-1","note":"caf\xc3\xa9"}}'

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    server: ThreadingHTTPServer
    thread: threading.Thread
    requests: list[Received] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def target(self, host: str = LOOPBACK, path: str = "/hook", scheme: str = "http") -> ResolvedTarget:
        """Pinned to 127.0.0.1, whatever ``host`` says (as if DNS had answered 127.0.0.1)."""
        return ResolvedTarget(url=f"{scheme}://{host}:{self.port}{path}", scheme=scheme, host=host, port=self.port, ip=LOOPBACK)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client that hung up is expected here
        pass


@pytest.fixture
def start_server() -> Iterator[Callable[..., LocalServer]]:
    """Starts HTTP servers on 127.0.0.1 whose handler answers ``reply(received)``; stops them
    all (releasing any handler still waiting on ``release``) after the test."""
    started: list[LocalServer] = []
    release = threading.Event()

    def start(reply: Callable[[Received], Reply], *, tls: ssl.SSLContext | None = None) -> LocalServer:
        holder: dict[str, LocalServer] = {}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                received = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                holder["server"].requests.append(received)
                status, headers, body = reply(received)
                self.send_response(status)
                for name, value in {**headers, "content-length": str(len(body)), "connection": "close"}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = QuietServer((LOOPBACK, 0), Handler)
        local = LocalServer(server, threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True))
        if tls is not None:
            tls.sni_callback = lambda sock, name, context: local.sni.append(name)
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        holder["server"] = local
        local.thread.start()
        started.append(local)
        return local

    start.release = release  # type: ignore[attr-defined]
    yield start
    release.set()
    for local in started:
        local.server.shutdown()
        local.server.server_close()
        local.thread.join()


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Callable[[Received], Reply]:
    return lambda received: (status, headers or {}, body)


def signed(secret: str) -> dict[str, str]:
    return sign(secret, webhook_message_id("j-1", "tuning.job.succeeded"), dt.datetime.now(dt.timezone.utc), BODY)


# --- outcomes ------------------------------------------------------------------------------


def test_a_2xx_answer_is_delivered_with_its_latency_and_an_excerpt(start_server):
    server = start_server(answer(200, b"thanks"))
    attempt = deliver(server.target(), signed(generate_secret()), BODY, timeout_s=5)
    assert (attempt.outcome, attempt.status, attempt.error) == ("delivered", 200, None)
    assert attempt.latency_ms >= 0
    assert attempt.response_excerpt == "thanks"
    assert attempt.delivered
    assert len(server.requests) == 1


def test_a_204_is_delivered_too(start_server):
    assert deliver(start_server(answer(204)).target(), signed(generate_secret()), BODY).outcome == "delivered"


def test_a_500_answer_is_a_failure(start_server):
    attempt = deliver(start_server(answer(500, b"boom")).target(), signed(generate_secret()), BODY, timeout_s=5)
    assert (attempt.outcome, attempt.status) == ("failed", 500)
    assert "500" in attempt.error
    assert attempt.response_excerpt == "boom"


def test_a_4xx_answer_is_a_failure(start_server):
    attempt = deliver(start_server(answer(401)).target(), signed(generate_secret()), BODY, timeout_s=5)
    assert (attempt.outcome, attempt.status) == ("failed", 401)


def test_410_gone_asks_for_the_endpoint_to_be_disabled(start_server):
    attempt = deliver(start_server(answer(410)).target(), signed(generate_secret()), BODY, timeout_s=5)
    assert (attempt.outcome, attempt.status) == ("gone", 410)


def test_a_redirect_is_a_failure_and_is_never_followed(start_server):
    elsewhere = start_server(answer(200))
    redirecting = start_server(answer(302, headers={"location": f"http://{LOOPBACK}:{elsewhere.port}/stolen"}))
    attempt = deliver(redirecting.target(), signed(generate_secret()), BODY, timeout_s=5)
    assert (attempt.outcome, attempt.status) == ("failed", 302)
    assert "not followed" in attempt.error
    assert len(redirecting.requests) == 1
    assert elsewhere.requests == []


@pytest.mark.parametrize("status", [301, 307, 308])
def test_every_redirect_status_is_a_failure(start_server, status):
    elsewhere = start_server(answer(200))
    redirecting = start_server(answer(status, headers={"location": f"http://{LOOPBACK}:{elsewhere.port}/"}))
    assert deliver(redirecting.target(), signed(generate_secret()), BODY, timeout_s=5).outcome == "failed"
    assert elsewhere.requests == []


def test_a_server_slower_than_the_timeout_is_a_timeout_failure(start_server):
    def stall(received: Received) -> Reply:
        start_server.release.wait(30)
        return 200, {}, b"too late"

    attempt = deliver(start_server(stall).target(), signed(generate_secret()), BODY, timeout_s=0.3)
    assert (attempt.outcome, attempt.status) == ("failed", None)
    assert attempt.error.startswith("timeout")


def test_nothing_listening_is_a_connection_failure():
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    target = ResolvedTarget(url=f"http://{LOOPBACK}:{port}/", scheme="http", host=LOOPBACK, port=port, ip=LOOPBACK)
    attempt = deliver(target, signed(generate_secret()), BODY, timeout_s=5)
    assert (attempt.outcome, attempt.status) == ("failed", None)
    assert attempt.error.startswith("connection failed")


def test_a_long_answer_is_cut_to_an_excerpt(start_server):
    attempt = deliver(start_server(answer(500, b"x" * 100_000)).target(), signed(generate_secret()), BODY, timeout_s=5)
    assert attempt.response_excerpt == "x" * 512


# --- what arrives --------------------------------------------------------------------------


def test_headers_and_body_arrive_intact_and_verify_with_the_receivers_secret(start_server):
    secret = generate_secret()
    server = start_server(answer(200))
    headers = signed(secret)
    deliver(server.target(path="/hooks/tunewire?team=ml"), headers, BODY, timeout_s=5)
    (received,) = server.requests
    assert received.body == BODY
    assert received.path == "/hooks/tunewire?team=ml"
    assert received.headers["content-type"] == "application/json"
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert received.headers[name] == headers[name]
    verify([secret], received.headers, received.body)


def test_the_host_header_names_the_original_host_when_the_address_is_pinned(start_server):
    server = start_server(answer(200))

    def resolver(host, port, *args):  # DNS says: hooks.example.test is 127.0.0.1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (LOOPBACK, port))]

    target = check_webhook_url(f"http://hooks.example.test:{server.port}/in", allow_loopback=True, resolver=resolver)
    assert target.ip == LOOPBACK
    attempt = deliver(target, {**signed(generate_secret()), "Host": "spoofed.example"}, BODY, timeout_s=5)
    assert attempt.outcome == "delivered"
    assert server.requests[0].headers["host"] == f"hooks.example.test:{server.port}"


def test_a_refused_url_is_reported_as_refused_and_nothing_is_sent(start_server):
    server = start_server(answer(200))
    attempt = deliver_to_url(f"http://{LOOPBACK}:{server.port}/", signed(generate_secret()), BODY, allow_loopback=False)
    assert (attempt.outcome, attempt.status) == ("refused", None)
    assert attempt.error.startswith("loopback_address")
    assert server.requests == []


def test_deliver_to_url_delivers_to_loopback_on_the_local_stack(start_server):
    server = start_server(answer(200))
    attempt = deliver_to_url(f"http://{LOOPBACK}:{server.port}/", signed(generate_secret()), BODY, allow_loopback=True, timeout_s=5)
    assert attempt.outcome == "delivered"
    assert len(server.requests) == 1


# --- https: SNI and certificate checks use the original host name --------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for hooks.example.test (and its key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example.test")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def tls_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return context


def test_https_to_a_pinned_address_sends_sni_and_checks_the_certificate_for_the_original_host(start_server, tls_files):
    server = start_server(answer(200), tls=tls_context(tls_files))
    target = server.target(host="hooks.example.test", scheme="https")
    attempt = deliver(target, signed(generate_secret()), BODY, timeout_s=5, ca_certs=str(tls_files[0]))
    assert attempt.outcome == "delivered", attempt.error
    assert server.sni == ["hooks.example.test"]
    assert server.requests[0].headers["host"] == f"hooks.example.test:{server.port}"


def test_https_refuses_a_certificate_for_another_host(start_server, tls_files):
    server = start_server(answer(200), tls=tls_context(tls_files))
    target = server.target(host="other.example.test", scheme="https")
    attempt = deliver(target, signed(generate_secret()), BODY, timeout_s=5, ca_certs=str(tls_files[0]))
    assert (attempt.outcome, attempt.status) == ("failed", None)
    assert attempt.error.startswith("tls error")
    assert server.requests == []


def test_https_refuses_an_untrusted_certificate(start_server, tls_files):
    server = start_server(answer(200), tls=tls_context(tls_files))
    attempt = deliver(server.target(host="hooks.example.test", scheme="https"), signed(generate_secret()), BODY, timeout_s=5)
    assert attempt.outcome == "failed"
    assert attempt.error.startswith("tls error")
    assert server.requests == []


def test_an_ipv6_loopback_target_is_reached_with_a_bracketed_host_header():
    class Server6(QuietServer):
        address_family = socket.AF_INET6

    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            received.append(self.headers["host"])
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    try:
        server = Server6(("::1", 0), Handler)
        server.timeout = 10  # handle_request gives up if nothing ever connects
    except OSError:
        pytest.skip("no IPv6 loopback here")
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        target = check_webhook_url(f"http://[::1]:{server.server_address[1]}/x", allow_loopback=True)
        attempt = deliver(target, signed(generate_secret()), BODY, timeout_s=5)
    finally:
        thread.join(10)
        server.server_close()
    assert attempt.outcome == "delivered"
    assert received == [f"[::1]:{server.server_address[1]}"]
