"""SSRF refusals for webhook URLs. Names resolve through a stub resolver; nothing connects."""

from __future__ import annotations

import socket

import pytest

from shared.webhooks import ResolvedTarget, UnsafeWebhookUrl, check_webhook_url

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class StubResolver:
    """getaddrinfo stand-in: name -> addresses; records what it was asked."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        results = []
        for address in self.table[host]:
            if ":" in address:
                results.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                results.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return results


def no_dns(host, *args, **kwargs):
    raise AssertionError(f"the resolver must not be asked about {host!r}")


def refused(url: str, *, allow_loopback: bool = False, resolver=no_dns, allowed_hosts=()) -> UnsafeWebhookUrl:
    with pytest.raises(UnsafeWebhookUrl) as caught:
        check_webhook_url(url, allow_loopback=allow_loopback, allowed_hosts=allowed_hosts, resolver=resolver)
    error = caught.value
    assert error.reason_code and error.message
    return error


# --- literal addresses ---------------------------------------------------------------------

LITERAL_CORPUS = [
    ("http://10.0.0.1/", "private_address"),
    ("http://10.255.255.255/", "private_address"),
    ("http://172.16.0.1/", "private_address"),
    ("http://172.31.255.254/", "private_address"),
    ("http://192.168.1.1/", "private_address"),
    ("http://100.64.0.1/", "shared_address"),
    ("http://100.127.255.254/", "shared_address"),
    ("http://127.0.0.1/", "loopback_address"),
    ("http://127.255.0.9/", "loopback_address"),
    ("http://169.254.169.254/computeMetadata/v1/", "metadata_address"),
    ("http://169.254.10.1/", "link_local_address"),
    ("http://0.0.0.0/", "unspecified_address"),
    ("http://0.1.2.3/", "reserved_address"),
    ("http://224.0.0.1/", "multicast_address"),
    ("http://239.255.255.250/", "multicast_address"),
    ("http://240.0.0.1/", "reserved_address"),
    ("http://255.255.255.255/", "reserved_address"),
    ("http://192.0.2.10/", "documentation_address"),
    ("http://198.18.0.1/", "reserved_address"),
    ("http://[::1]/", "loopback_address"),
    ("http://[::]/", "unspecified_address"),
    ("http://[fe80::1]/", "link_local_address"),
    ("http://[fc00::1]/", "unique_local_address"),
    ("http://[fd00:ec2::254]/", "unique_local_address"),
    ("http://[fec0::1]/", "site_local_address"),
    ("http://[ff02::1]/", "multicast_address"),
    ("http://[::ffff:10.0.0.1]/", "private_address"),
    ("http://[::ffff:127.0.0.1]/", "loopback_address"),
    ("http://[::ffff:169.254.169.254]/", "metadata_address"),
    ("http://[::ffff:a9fe:a9fe]/", "metadata_address"),
    ("http://[::10.0.0.1]/", "ipv4_compatible_address"),
    ("http://[::127.0.0.1]/", "ipv4_compatible_address"),
    ("http://[64:ff9b::a00:1]/", "nat64_address"),
    ("http://[64:ff9b::7f00:1]/", "nat64_address"),
    ("http://[64:ff9b:1::a00:1]/", "nat64_address"),
    ("http://[2002:7f00:1::]/", "6to4_address"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "teredo_address"),
    ("http://[2001:db8::1]/", "documentation_address"),
    ("http://[100::1]/", "reserved_address"),
    ("http://[::ffff:0:7f00:1]/", "reserved_address"),
]


@pytest.mark.parametrize(("url", "reason"), LITERAL_CORPUS)
def test_non_public_address_literals_are_refused_with_a_reason(url, reason):
    assert refused(url).reason_code == reason


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # decimal
        "http://0x7f000001/",  # hex, one part
        "http://0x7f.1/",  # hex + short
        "http://0x7F.0x0.0x0.0x1/",
        "http://0177.0.0.1/",  # octal
        "http://0177.1/",
        "http://017700000001/",
        "http://127.1/",  # short forms
        "http://127.0.1/",
        "http://127.0.0.1./",  # trailing dot
        "http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/",  # full-width digits and dots
        "http://[::ffff:127.0.0.1]/",
        "http://[0:0:0:0:0:ffff:7f00:1]/",
    ],
)
def test_every_spelling_of_loopback_is_normalized_and_refused(url):
    assert refused(url).reason_code == "loopback_address"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://167772161/", "private_address"),  # 10.0.0.1
        ("http://0xa9fea9fe/", "metadata_address"),  # 169.254.169.254
        ("http://0251.0376.0251.0376/", "metadata_address"),
        ("http://169.254.43518/", "metadata_address"),
        ("http://0/", "unspecified_address"),
        ("http://0x/", "unspecified_address"),
        ("http://192.168.257/", "private_address"),  # 192.168.1.1
    ],
)
def test_numeric_spellings_of_other_unsafe_addresses_are_refused(url, reason):
    assert refused(url).reason_code == reason


@pytest.mark.parametrize(
    "url",
    ["http://1.2.3.4.5/", "http://256.1.1.1/", "http://1.2.3.08/", "http://0x100000000/", "http://127..1/", "http://4294967296/", "http://08/", "http://1.2.3.0x1ff/"],
)
def test_names_that_end_in_a_number_but_are_no_address_are_refused(url):
    assert refused(url).reason_code == "invalid_host"


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://localhost/", "http://LOCALHOST:8080/", "http://localhost./", "http://api.localhost/"])
def test_localhost_is_refused_without_asking_dns(url):
    assert refused(url).reason_code == "loopback_address"


@pytest.mark.parametrize(
    ("name", "address", "reason"),
    [
        ("intranet.example.com", "10.1.2.3", "private_address"),
        ("db.example.com", "172.20.0.5", "private_address"),
        ("router.example.com", "192.168.0.1", "private_address"),
        ("cgnat.example.com", "100.100.100.200", "shared_address"),
        ("self.example.com", "127.0.0.1", "loopback_address"),
        ("meta.example.com", "169.254.169.254", "metadata_address"),
        ("zero.example.com", "0.0.0.0", "unspecified_address"),
        ("six.example.com", "::1", "loopback_address"),
        ("ula.example.com", "fd12:3456::1", "unique_local_address"),
        ("ll.example.com", "fe80::1%eth0", "link_local_address"),
        ("mapped.example.com", "::ffff:10.0.0.1", "private_address"),
        ("nat64.example.com", "64:ff9b::a00:1", "nat64_address"),
    ],
)
def test_a_public_looking_name_that_resolves_to_an_unsafe_address_is_refused(name, address, reason):
    error = refused(f"https://{name}/hook", resolver=StubResolver({name: [address]}))
    assert error.reason_code == reason
    assert name in error.message


def test_a_name_with_one_public_and_one_private_address_is_refused():
    resolver = StubResolver({"rebind.example.com": [PUBLIC_V4, "10.0.0.7"]})
    assert refused("https://rebind.example.com/", resolver=resolver).reason_code == "private_address"


def test_a_name_with_a_private_address_listed_first_is_refused():
    resolver = StubResolver({"rebind.example.com": ["192.168.1.20", PUBLIC_V4]})
    assert refused("https://rebind.example.com/", resolver=resolver).reason_code == "private_address"


@pytest.mark.parametrize("url", ["http://metadata/", "http://intranet/"])
def test_single_label_names_are_refused(url):
    assert refused(url).reason_code == "unqualified_host"


@pytest.mark.parametrize("url", ["http://metadata.google.internal/computeMetadata/v1/", "http://printer.local/", "http://nas.home.arpa/"])
def test_internal_names_are_refused_without_asking_dns(url):
    assert refused(url).reason_code == "internal_host"


def test_a_name_that_does_not_resolve_is_refused():
    assert refused("https://nowhere.example.com/", resolver=StubResolver({})).reason_code == "unresolvable"


def test_a_name_that_resolves_to_nothing_is_refused():
    assert refused("https://empty.example.com/", resolver=StubResolver({"empty.example.com": []})).reason_code == "unresolvable"


# --- accepted and pinned -------------------------------------------------------------------


def test_a_public_name_is_accepted_and_pinned_to_its_address():
    resolver = StubResolver({"hooks.example.com": [PUBLIC_V4]})
    target = check_webhook_url("https://hooks.example.com/tunewire?x=1", allow_loopback=False, resolver=resolver)
    assert target == ResolvedTarget(url="https://hooks.example.com/tunewire?x=1", scheme="https", host="hooks.example.com", port=443, ip=PUBLIC_V4)
    assert target.host_header == "hooks.example.com"
    assert target.request_target == "/tunewire?x=1"
    assert resolver.asked == ["hooks.example.com"]


def test_the_first_of_several_public_addresses_is_pinned():
    resolver = StubResolver({"hooks.example.com": [PUBLIC_V6, PUBLIC_V4, PUBLIC_V4]})
    target = check_webhook_url("http://Hooks.Example.COM.:8443", allow_loopback=False, resolver=resolver)
    assert (target.host, target.port, target.ip) == ("hooks.example.com", 8443, PUBLIC_V6)
    assert target.addresses == (PUBLIC_V6, PUBLIC_V4)
    assert target.host_header == "hooks.example.com:8443"
    assert target.request_target == "/"


def test_a_public_address_literal_is_accepted_without_dns():
    target = check_webhook_url(f"http://{PUBLIC_V4}:8080/x", allow_loopback=False, resolver=no_dns)
    assert (target.host, target.ip, target.port) == (PUBLIC_V4, PUBLIC_V4, 8080)


def test_an_ipv4_mapped_public_address_is_pinned_as_ipv4():
    target = check_webhook_url(f"http://[::ffff:{PUBLIC_V4}]/", allow_loopback=False, resolver=no_dns)
    assert target.ip == PUBLIC_V4


def test_an_international_name_is_resolved_in_its_ascii_form():
    resolver = StubResolver({"xn--bcher-kva.example": [PUBLIC_V4]})
    target = check_webhook_url("https://bücher.example/", allow_loopback=False, resolver=resolver)
    assert target.host == "xn--bcher-kva.example"


# --- the local stack -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://[::1]:8080/hook", "http://127.1:8080/", "http://[::ffff:127.0.0.1]:9/"])
def test_loopback_literals_are_allowed_only_with_allow_loopback(url):
    assert refused(url).reason_code == "loopback_address"
    target = check_webhook_url(url, allow_loopback=True, resolver=no_dns)
    assert target.ip in {"127.0.0.1", "::1"}


def test_localhost_is_allowed_with_allow_loopback_when_it_resolves_to_loopback():
    resolver = StubResolver({"localhost": ["127.0.0.1", "::1"]})
    target = check_webhook_url("http://localhost:8085/hook", allow_loopback=True, resolver=resolver)
    assert (target.ip, target.host_header) == ("127.0.0.1", "localhost:8085")


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://192.168.1.1/", "http://169.254.169.254/", "http://0.0.0.0/", "http://[fd00::1]/", "http://[::ffff:10.0.0.1]/"])
def test_private_ranges_stay_refused_even_on_the_local_stack(url):
    assert refused(url, allow_loopback=True).reason_code != "loopback_address"


def test_localhost_resolving_to_a_private_address_is_refused_even_on_the_local_stack():
    resolver = StubResolver({"localhost": ["127.0.0.1", "10.0.0.1"]})
    assert refused("http://localhost/", allow_loopback=True, resolver=resolver).reason_code == "private_address"


# --- URL shape -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/", "file:///etc/passwd", "gopher://hooks.example.com/", "javascript:alert(1)", "hooks.example.com/path", "//hooks.example.com/"],
)
def test_schemes_other_than_http_and_https_are_refused(url):
    assert refused(url).reason_code == "scheme_not_allowed"


@pytest.mark.parametrize(
    "url",
    ["https://user:pass@hooks.example.com/", "https://user@hooks.example.com/", "https://hooks.example.com@127.0.0.1/", "http://@hooks.example.com/"],
)
def test_userinfo_is_refused(url):
    assert refused(url).reason_code == "userinfo_not_allowed"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com\\@127.0.0.1/", "invalid_url"),
        ("http://hooks.example.com /", "invalid_url"),
        ("http://hooks.exa\tmple.com/", "invalid_url"),
        ("http://hooks.example.com:0/", "invalid_port"),
        ("http://hooks.example.com:65536/", "invalid_port"),
        ("http://hooks.example.com:80a/", "invalid_port"),
        ("http://%31%32%37.0.0.1/", "invalid_host"),
        ("http://[fe80::1%25eth0]/", "invalid_host"),
        ("http://[::1/", "invalid_url"),
        ("http://exa$mple.com/", "invalid_host"),
        ("http:///path", "invalid_url"),
        ("", "invalid_url"),
        ("https://" + "a" * 2100 + ".com/", "invalid_url"),
    ],
)
def test_malformed_urls_are_refused(url, reason):
    assert refused(url).reason_code == reason


# --- allowlist -----------------------------------------------------------------------------


def test_an_allowlist_admits_exact_names_and_subdomains_of_a_wildcard():
    resolver = StubResolver({name: [PUBLIC_V4] for name in ("hooks.example.com", "a.b.partner.io")})
    allowed = ["hooks.example.com", "*.partner.io"]
    check_webhook_url("https://hooks.example.com/", allow_loopback=False, allowed_hosts=allowed, resolver=resolver)
    check_webhook_url("https://a.b.partner.io/", allow_loopback=False, allowed_hosts=allowed, resolver=resolver)


@pytest.mark.parametrize("url", ["https://other.example.com/", "https://partner.io/", "https://evilpartner.io/", "https://hooks.example.com.evil.io/", f"https://{PUBLIC_V4}/"])
def test_an_allowlist_refuses_every_other_host_before_resolving_it(url):
    error = refused(url, allowed_hosts=["hooks.example.com", "*.partner.io"])
    assert error.reason_code == "host_not_allowed"


def test_an_allowlisted_host_is_still_refused_when_it_resolves_to_a_private_address():
    resolver = StubResolver({"hooks.example.com": ["10.0.0.1"]})
    assert refused("https://hooks.example.com/", allowed_hosts=["hooks.example.com"], resolver=resolver).reason_code == "private_address"


@pytest.mark.parametrize("pattern", ["*", "*.", "foo.*.com", ""])
def test_a_malformed_allowlist_pattern_is_an_error(pattern):
    with pytest.raises(ValueError):
        check_webhook_url("https://hooks.example.com/", allow_loopback=False, allowed_hosts=[pattern], resolver=no_dns)
