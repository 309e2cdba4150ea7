"""Every hostile webhook URL we know of, through the same gate the notify step uses.

The corpus is the unit suite's (tests/unit/test_webhook_url_safety.py: its module constants and
the parameter lists of its refusal tests, read from the tests' own marks so the two never drift)
plus the spellings listed here. Each URL goes through ``deliver_to_url`` — check, then POST —
with a hostile resolver that answers every DNS name with a private address, so a URL that slipped
past the check would be sent somewhere internal and show up as a ``failed`` or ``delivered``
attempt instead of ``refused``. A second test redirects real deliveries to private targets.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import tests.unit.test_webhook_url_safety as unit_corpus
from shared.webhooks import UnsafeWebhookUrl, check_webhook_url, deliver, deliver_to_url, generate_secret, sign, webhook_message_id

pytestmark = pytest.mark.reliability

LOOPBACK_REASON = "loopback_address"
METADATA_URL = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"

# Names a hostile DNS answers with internal addresses (the unit corpus adds its own table).
HOSTILE_DNS: dict[str, list[str]] = {
    "localtest.me": ["127.0.0.1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "169.254.169.254.nip.io": ["169.254.169.254"],
    "metadata.attacker.example": ["169.254.169.254"],
    "ten.attacker.example": ["10.0.0.1"],
    "cgnat.attacker.example": ["100.64.0.1"],
    "v6-loopback.attacker.example": ["::1"],
    "v6-ula.attacker.example": ["fc00::1"],
    "v6-linklocal.attacker.example": ["fe80::1"],
    "v6-mapped.attacker.example": ["::ffff:127.0.0.1"],
    "v6-mapped-private.attacker.example": ["::ffff:10.0.0.1"],
    "nat64.attacker.example": ["64:ff9b::a9fe:a9fe"],
    "mixed.attacker.example": ["93.184.216.34", "192.168.0.10"],
}
UNKNOWN_NAME_ANSWER = "10.9.8.7"  # a wildcard DNS: every other name is internal too

EXTRA_HOSTILE_URLS: list[str] = [
    # private ranges, literal
    "http://10.0.0.1:8080/hook", "http://172.16.0.1/", "http://172.31.0.1/", "http://192.168.0.1/",
    "http://100.64.0.1/", "http://127.0.0.1/", "http://0.0.0.0/", "http://169.254.169.254/", METADATA_URL,
    "http://[fc00::1]/", "http://[fdff:ffff::1]/", "http://[fe80::1]/", "http://[febf::1]/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/", "http://[::ffff:100.64.0.1]/", "http://[::ffff:172.16.0.1]/",
    # NAT64 of private addresses, dotted and hex
    "http://[64:ff9b::10.0.0.1]/", "http://[64:ff9b::192.168.1.1]/", "http://[64:ff9b::169.254.169.254]/",
    "http://[64:ff9b::127.0.0.1]/", "http://[64:ff9b::a9fe:a9fe]/",
    # decimal, octal, hex and short IPv4 spellings
    "http://2130706433/", "http://2130706433./", "http://017700000001/", "http://0x7f000001/", "http://0x7f000001./",
    "http://127.1/", "http://0x7f.1/", "http://0000000177.0.0.1/", "http://3232235777/", "http://0300.0250.0.1/",
    "http://0xc0.0xa8.1.1/", "http://2852039166/", "http://025177524776/", "http://0xA9.0xFE.0xA9.0xFE/",
    "http://0xa9.254.43518/", "http://100.64.1/", "http://0x64400001/", "http://172.16.1/", "http://10.1/",
    "http://012.1/", "http://0xa.1/", "http://0/",
    # userinfo tricks
    "http://good@127.0.0.1/", "http://good:pw@127.0.0.1/", "http://127.0.0.1:80@evil.example/",
    "https://hooks.example.com:443@169.254.169.254/",
    # IDNA and unicode dots, look-alike and invisible characters
    "http://127\u30020\u30020\u30021/", "http://127\uff0e0\uff0e0\uff0e1/", "http://127\uff610\uff610\uff611/",
    "http://127.0.0.1\u3002/", "http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/",
    "http://\u2460\u2461\u2466.\u24ea.\u24ea.\u2460/", "http://localhost\u2024/", "http://127.0.0.1\u200b/",
    "http://local\u00adhost/", "http://lo\u200dcalhost/", "http://\u217cocalhost/", "http://127.0.0.\u0661/",
    "http://metadata\u3002google\u3002internal/", "http://metadata.google.internal./", "http://METADATA.GOOGLE.INTERNAL/",
    # non-http schemes and scheme tricks
    "dict://127.0.0.1:11211/", "gopher://127.0.0.1:25/", "ws://127.0.0.1/", "wss://127.0.0.1/", "ldap://127.0.0.1/",
    "data:text/plain,hello", "jar:http://127.0.0.1!/", "http:127.0.0.1/", "http:/127.0.0.1/", "https:\\\\127.0.0.1",
    "HTTP://127.0.0.1/",
    # DNS names that resolve to internal addresses
    *(f"https://{name}/hook" for name in HOSTILE_DNS),
    "https://anything.attacker.example/hook",
]


def _parameters(test_function: Callable[..., Any]) -> list[Any]:
    """The argument values of a unit test's ``@pytest.mark.parametrize``."""
    (mark,) = [mark for mark in test_function.pytestmark if mark.name == "parametrize"]  # type: ignore[attr-defined]
    return list(mark.args[1])


def _first(value: Any) -> str:
    return value[0] if isinstance(value, tuple) else value


def unit_corpus_urls() -> tuple[list[str], dict[str, list[str]]]:
    """The unit suite's hostile URLs and the DNS table its name cases assume."""
    urls = [url for url, _ in unit_corpus.LITERAL_CORPUS]
    for test in (
        unit_corpus.test_every_spelling_of_loopback_is_normalized_and_refused,
        unit_corpus.test_numeric_spellings_of_other_unsafe_addresses_are_refused,
        unit_corpus.test_names_that_end_in_a_number_but_are_no_address_are_refused,
        unit_corpus.test_localhost_is_refused_without_asking_dns,
        unit_corpus.test_single_label_names_are_refused,
        unit_corpus.test_internal_names_are_refused_without_asking_dns,
        unit_corpus.test_schemes_other_than_http_and_https_are_refused,
        unit_corpus.test_userinfo_is_refused,
        unit_corpus.test_malformed_urls_are_refused,
        unit_corpus.test_private_ranges_stay_refused_even_on_the_local_stack,
        unit_corpus.test_loopback_literals_are_allowed_only_with_allow_loopback,
    ):
        urls.extend(_first(case) for case in _parameters(test))
    dns: dict[str, list[str]] = {}
    for name, address, _ in _parameters(unit_corpus.test_a_public_looking_name_that_resolves_to_an_unsafe_address_is_refused):
        urls.append(f"https://{name}/hook")
        dns[name] = [address]
    return urls, dns


class HostileResolver:
    """getaddrinfo as an attacker's DNS would answer it: every name is internal."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
        self.asked.append(host)
        answers = self.table.get(host, [UNKNOWN_NAME_ANSWER])
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in answers
        ]


@dataclass
class CorpusRun:
    tried: int
    outcomes: Counter[str]
    reasons: Counter[str]
    leaks: list[str]


def deliver_corpus(urls: Sequence[str], resolver: HostileResolver) -> CorpusRun:
    """With the cloud's settings, POST a signed body to every URL through ``deliver_to_url``;
    a leak is any URL whose outcome is not ``refused`` (it was sent somewhere)."""
    body = b'{"type":"tuning.job.succeeded","data":{"job_id":"ssrf"}}'
    headers = sign(generate_secret(), webhook_message_id("ssrf", "tuning.job.succeeded"), 1_750_000_000, body)
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    leaks: list[str] = []
    for url in urls:
        attempt = deliver_to_url(url, headers, body, allow_loopback=False, resolver=resolver, timeout_s=1.0)
        outcomes[attempt.outcome] += 1
        if attempt.outcome == "refused":
            reasons[(attempt.error or "").split(":", 1)[0]] += 1
        else:
            leaks.append(f"{url!r}: {attempt.outcome} {attempt.status} {attempt.error}")
    return CorpusRun(len(urls), outcomes, reasons, leaks)


def check_corpus_on_the_local_stack(urls: Sequence[str], resolver: HostileResolver) -> CorpusRun:
    """With the local stack's settings (loopback allowed) only check each URL, connecting nowhere:
    a leak is a URL let through to any address that is not loopback."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    leaks: list[str] = []
    for url in urls:
        try:
            target = check_webhook_url(url, allow_loopback=True, resolver=resolver)
        except UnsafeWebhookUrl as refusal:
            outcomes["refused"] += 1
            reasons[refusal.reason_code] += 1
            continue
        outcomes["loopback"] += 1
        if not all(ipaddress.ip_address(address).is_loopback for address in target.addresses):
            leaks.append(f"{url!r} -> {list(target.addresses)}")
    return CorpusRun(len(urls), outcomes, reasons, leaks)


def test_every_hostile_webhook_url_is_refused_before_any_connection(outcome):
    unit_urls, unit_dns = unit_corpus_urls()
    urls = list(dict.fromkeys([*unit_urls, *EXTRA_HOSTILE_URLS]))
    added_here = len(set(urls) - set(unit_urls))
    resolver = HostileResolver({**unit_dns, **HOSTILE_DNS})

    cloud = deliver_corpus(urls, resolver)
    local = check_corpus_on_the_local_stack(urls, resolver)

    assert cloud.leaks == [], "hostile URLs got past the check:\n" + "\n".join(cloud.leaks)
    assert local.leaks == [], "non-loopback URLs got past the check on the local stack:\n" + "\n".join(local.leaks)
    assert cloud.outcomes == Counter(refused=len(urls))
    assert local.outcomes["refused"] + local.outcomes["loopback"] == len(urls) and local.outcomes["refused"] > 0
    assert cloud.reasons[LOOPBACK_REASON] > 0 and cloud.reasons["private_address"] > 0 and cloud.reasons["metadata_address"] > 0
    outcome.record(
        area="ssrf",
        fault="SSRF: webhook URLs aimed at internal addresses",
        injected=(
            f"{len(urls)} distinct hostile URLs ({len(urls) - added_here} from the unit corpus, {added_here} more listed here): private, "
            "shared, loopback, link-local, metadata, ULA, NAT64 and mapped addresses; decimal/octal/hex/short IPv4; "
            "userinfo; IDNA and unicode dots; non-http schemes; names a hostile DNS answers with internal addresses"
        ),
        expected="every URL refused before connecting; with loopback allowed (local stack) only loopback gets through",
        observed=(
            f"cloud settings: {cloud.outcomes['refused']}/{cloud.tried} refused, {cloud.outcomes['delivered']} delivered, "
            f"{len(cloud.reasons)} distinct reasons; local stack: {local.outcomes['refused']} refused, "
            f"{local.outcomes['loopback']} loopback let through, {len(local.leaks)} non-loopback let through; "
            f"the hostile resolver was asked about {len(set(resolver.asked))} names"
        ),
        urls_tried=cloud.tried,
        refused=cloud.outcomes["refused"],
        delivered=cloud.outcomes["delivered"],
        connection_attempts=cloud.outcomes["failed"] + cloud.outcomes["delivered"],
        distinct_reasons=len(cloud.reasons),
        local_stack_refused=local.outcomes["refused"],
        local_stack_non_loopback_let_through=len(local.leaks),
    )


# --- redirects ------------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that hung up is expected
        pass


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1 answering every POST with ``status`` (and ``location``)."""

    server: _QuietServer
    paths: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def serve() -> Iterator[Callable[[int, str | None], LocalServer]]:
    started: list[LocalServer] = []

    def start(status: int, location: str | None = None) -> LocalServer:
        paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                paths.append(self.path)
                self.send_response(status)
                if location:
                    self.send_header("location", location)
                self.send_header("content-length", "0")
                self.send_header("connection", "close")
                self.end_headers()

            def do_GET(self) -> None:
                self.do_POST()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        local = LocalServer(server, paths)
        started.append(local)
        return local

    yield start
    for local in started:
        local.server.shutdown()
        local.server.server_close()


REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def test_a_redirect_to_a_private_address_is_never_followed(serve, outcome):
    inside = serve(200)  # stands in for an internal service: any request reaching it was followed
    locations = [METADATA_URL, "http://10.0.0.1/admin", "http://[::1]/", inside.url + "stolen"]
    body = b'{"type":"tuning.job.succeeded","data":{"job_id":"redirect"}}'
    headers = sign(generate_secret(), webhook_message_id("redirect", "tuning.job.succeeded"), 1_750_000_000, body)
    redirectors = []
    attempts = []
    for status in REDIRECT_STATUSES:
        for location in locations:
            redirector = serve(status, location)
            redirectors.append(redirector)
            target = check_webhook_url(redirector.url + "hook", allow_loopback=True)
            attempts.append((status, location, deliver(target, headers, body, timeout_s=3.0)))

    for status, location, attempt in attempts:
        assert (attempt.outcome, attempt.status) == ("failed", status), (location, attempt)
        assert attempt.error == f"HTTP {status} redirect to {location} not followed"
    assert [len(redirector.paths) for redirector in redirectors] == [1] * len(redirectors)
    assert inside.paths == []
    outcome.record(
        area="ssrf",
        fault="SSRF: a receiver redirects the delivery to an internal address",
        injected=(
            f"{len(attempts)} deliveries to real local servers answering {'/'.join(map(str, REDIRECT_STATUSES))} with a "
            "Location of the metadata server, 10.0.0.1, [::1] or a second local server"
        ),
        expected="each attempt failed with the 3xx status and the Location named; nothing followed",
        observed=(
            f"{sum(a.outcome == 'failed' for _, _, a in attempts)}/{len(attempts)} failed with their 3xx status, "
            f"{sum(len(r.paths) for r in redirectors)} requests reached the redirectors, {len(inside.paths)} reached the Location server"
        ),
        redirects_tried=len(attempts),
        failed=sum(a.outcome == "failed" for _, _, a in attempts),
        delivered=sum(a.outcome == "delivered" for _, _, a in attempts),
        requests_to_location=len(inside.paths),
    )
