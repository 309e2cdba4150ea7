"""One webhook delivery attempt over urllib3, to the pinned address of a checked URL.

The connection goes to ``target.ip``; the Host header, TLS SNI and certificate check use the
original host name. Redirects are never followed and urllib3 never retries: retrying (with
backoff over hours) is the caller's job, through Pub/Sub redelivery. HTTP outcomes never raise:

* 2xx -> ``delivered``;
* 410 Gone -> ``gone`` (the endpoint asks to be disabled);
* anything else, 3xx included, and timeouts and connection or TLS errors -> ``failed``;
* ``deliver_to_url`` also returns ``refused`` for a URL that ``check_webhook_url`` refuses.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3TimeoutError,
)

from shared.webhooks.url_safety import ALLOWED_SCHEMES, ResolvedTarget, Resolver, UnsafeWebhookUrl, check_webhook_url

Outcome = Literal["delivered", "failed", "gone", "refused"]

DEFAULT_TIMEOUT_S: Final = 10.0
MAX_CONNECT_TIMEOUT_S: Final = 5.0
EXCERPT_BYTES: Final = 512
USER_AGENT: Final = "tunewire-webhooks/1"


@dataclass(frozen=True)
class DeliveryAttempt:
    """What one attempt did. ``status`` is None when no HTTP response came back;
    ``latency_ms`` runs from sending to the response headers (or to the failure);
    ``response_excerpt`` holds the first bytes of the response body, decoded leniently."""

    status: int | None
    latency_ms: float
    outcome: Outcome
    error: str | None
    response_excerpt: str = ""

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deliver(
    target: ResolvedTarget,
    headers: Mapping[str, str],
    body: bytes,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    ca_certs: str | None = None,
) -> DeliveryAttempt:
    """POST ``body`` with ``headers`` (the signed webhook headers; ``content-type`` defaults to
    JSON, any ``host`` given is replaced) to ``target``, connecting to ``target.ip``.

    ``timeout_s`` bounds the whole attempt (connecting: at most 5 s of it). ``ca_certs`` is a
    CA bundle path for https (default: certifi's bundle, else the system store).
    """
    if target.scheme not in ALLOWED_SCHEMES:
        raise ValueError(f"cannot deliver over {target.scheme!r}")
    timeout = urllib3.Timeout(total=timeout_s, connect=min(timeout_s, MAX_CONNECT_TIMEOUT_S), read=timeout_s)
    request_headers = {"content-type": "application/json", "user-agent": USER_AGENT, "accept-encoding": "identity"}
    request_headers.update({name.lower(): value for name, value in headers.items() if name.lower() != "host"})
    request_headers["host"] = target.host_header

    pool = _pool(target, timeout, ca_certs)
    started = time.perf_counter()
    response = None
    try:
        response = pool.urlopen(
            "POST",
            target.request_target,
            body=body,
            headers=request_headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=False,
            decode_content=False,
            release_conn=False,
        )
        latency_ms = _elapsed_ms(started)
        status = response.status
        excerpt = _excerpt(response)
    except (HTTPError, OSError, http.client.HTTPException) as error:
        return DeliveryAttempt(None, _elapsed_ms(started), "failed", _describe(error, timeout_s))
    finally:
        if response is not None:
            response.close()
        pool.close()

    if 200 <= status < 300:
        return DeliveryAttempt(status, latency_ms, "delivered", None, excerpt)
    if status == 410:
        return DeliveryAttempt(status, latency_ms, "gone", "HTTP 410 Gone: the endpoint asks to be disabled", excerpt)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return DeliveryAttempt(status, latency_ms, "failed", f"HTTP {status} redirect{' to ' + location[:200] if location else ''} not followed", excerpt)
    return DeliveryAttempt(status, latency_ms, "failed", f"HTTP {status}", excerpt)


def deliver_to_url(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    allow_loopback: bool,
    allowed_hosts: Sequence[str] = (),
    resolver: Resolver | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    ca_certs: str | None = None,
) -> DeliveryAttempt:
    """``check_webhook_url`` then ``deliver``: a refused URL gives outcome ``refused`` with
    ``error`` = ``"<reason_code>: <message>"`` and nothing is sent."""
    try:
        target = check_webhook_url(url, allow_loopback=allow_loopback, allowed_hosts=allowed_hosts, resolver=resolver)
    except UnsafeWebhookUrl as refusal:
        return DeliveryAttempt(None, 0.0, "refused", str(refusal))
    return deliver(target, headers, body, timeout_s=timeout_s, ca_certs=ca_certs)


def _pool(target: ResolvedTarget, timeout: urllib3.Timeout, ca_certs: str | None) -> urllib3.HTTPConnectionPool:
    if target.scheme == "http":
        return urllib3.HTTPConnectionPool(target.ip, target.port, timeout=timeout, maxsize=1, retries=False)
    return urllib3.HTTPSConnectionPool(
        target.ip,
        target.port,
        timeout=timeout,
        maxsize=1,
        retries=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_certs or _default_ca_bundle(),
        assert_hostname=target.host,
        server_hostname=target.host,  # SNI (urllib3 leaves it out for an IP literal)
    )


def _default_ca_bundle() -> str | None:
    try:
        import certifi
    except ImportError:  # the system store then
        return None
    return str(certifi.where())


def _excerpt(response: urllib3.BaseHTTPResponse) -> str:
    try:
        data = response.read(EXCERPT_BYTES, decode_content=False)
    except (HTTPError, OSError, http.client.HTTPException):
        return ""
    return data.decode("utf-8", "replace")


def _describe(error: BaseException, timeout_s: float) -> str:
    detail = str(error) or type(error).__name__
    if isinstance(error, NewConnectionError):
        return f"connection failed: {detail}"
    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError, Urllib3TimeoutError, TimeoutError)):
        return f"timeout: no response within {timeout_s:g} s ({detail})"
    if isinstance(error, SSLError):
        return f"tls error: {detail}"
    if isinstance(error, ProtocolError):
        return f"connection error: {detail}"
    return f"{type(error).__name__}: {detail}"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)
