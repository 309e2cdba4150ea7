"""SSRF defence for webhook URLs: parse like a client, resolve once, refuse unsafe addresses, pin.

``check_webhook_url`` turns an endpoint URL into a ``ResolvedTarget`` whose ``ip`` the delivery
connects to (keeping ``host`` for the Host header and TLS), so the name cannot be re-resolved
to something else between the check and the connection (DNS rebinding). It refuses, with a
reason code:

* schemes other than http/https, userinfo (``user:pass@``), malformed URLs and hosts;
* hosts spelled as numbers the way clients read them (``2130706433``, ``0x7f.1``,
  ``0177.0.0.1``, ``127.1``, full-width digits, ``[::ffff:127.0.0.1]``), normalized first and
  then judged as the address they are;
* every address that is not plainly public: loopback (unless ``allow_loopback``), private,
  shared (100.64/10), link-local and the metadata server, unique-local, site-local, multicast,
  unspecified, documentation, benchmarking and other reserved ranges, NAT64, 6to4, Teredo and
  IPv4-compatible IPv6, and IPv4-mapped IPv6 forms of any refused IPv4 address;
* single-label and internal names (``metadata``, ``*.internal``, ``*.local``, ...);
* a name if ANY of its addresses is unsafe;
* hosts outside ``allowed_hosts`` when that list is given (``example.com`` or ``*.example.com``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import SplitResult, quote, urlsplit

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
"""Called like ``socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)``; returns its 5-tuples."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH: Final = 2048
ALLOWED_SCHEMES: Final = {"http": 80, "https": 443}
INTERNAL_SUFFIXES: Final = ("localhost", "internal", "local", "localdomain", "home.arpa", "intranet", "lan")
"""Names under these suffixes never leave the local network (``metadata.google.internal``...)."""

# reason codes
INVALID_URL: Final = "invalid_url"
SCHEME_NOT_ALLOWED: Final = "scheme_not_allowed"
USERINFO_NOT_ALLOWED: Final = "userinfo_not_allowed"
INVALID_PORT: Final = "invalid_port"
INVALID_HOST: Final = "invalid_host"
UNQUALIFIED_HOST: Final = "unqualified_host"
INTERNAL_HOST: Final = "internal_host"
HOST_NOT_ALLOWED: Final = "host_not_allowed"
UNRESOLVABLE: Final = "unresolvable"
LOOPBACK_ADDRESS: Final = "loopback_address"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_IPV4_RULES: Final[tuple[tuple[ipaddress.IPv4Network, str], ...]] = (
    (_V4("0.0.0.0/32"), "unspecified_address"),
    (_V4("0.0.0.0/8"), "reserved_address"),
    (_V4("10.0.0.0/8"), "private_address"),
    (_V4("100.64.0.0/10"), "shared_address"),
    (_V4("127.0.0.0/8"), LOOPBACK_ADDRESS),
    (_V4("169.254.169.254/32"), "metadata_address"),
    (_V4("169.254.0.0/16"), "link_local_address"),
    (_V4("172.16.0.0/12"), "private_address"),
    (_V4("192.0.0.0/24"), "reserved_address"),
    (_V4("192.0.2.0/24"), "documentation_address"),
    (_V4("192.88.99.0/24"), "reserved_address"),
    (_V4("192.168.0.0/16"), "private_address"),
    (_V4("198.18.0.0/15"), "reserved_address"),
    (_V4("198.51.100.0/24"), "documentation_address"),
    (_V4("203.0.113.0/24"), "documentation_address"),
    (_V4("224.0.0.0/4"), "multicast_address"),
    (_V4("240.0.0.0/4"), "reserved_address"),
)
_IPV6_RULES: Final[tuple[tuple[ipaddress.IPv6Network, str], ...]] = (
    (_V6("::/128"), "unspecified_address"),
    (_V6("::1/128"), LOOPBACK_ADDRESS),
    (_V6("::/96"), "ipv4_compatible_address"),
    (_V6("64:ff9b::/96"), "nat64_address"),
    (_V6("64:ff9b:1::/48"), "nat64_address"),
    (_V6("100::/64"), "reserved_address"),
    (_V6("2001::/32"), "teredo_address"),
    (_V6("2001:db8::/32"), "documentation_address"),
    (_V6("2001::/23"), "reserved_address"),
    (_V6("2002::/16"), "6to4_address"),
    (_V6("3fff::/20"), "documentation_address"),
    (_V6("5f00::/16"), "reserved_address"),
    (_V6("fc00::/7"), "unique_local_address"),
    (_V6("fe80::/10"), "link_local_address"),
    (_V6("fec0::/10"), "site_local_address"),
    (_V6("ff00::/8"), "multicast_address"),
)
_GLOBAL_UNICAST_V6: Final = _V6("2000::/3")
_DESCRIPTIONS: Final = {
    "unspecified_address": "the unspecified address",
    "reserved_address": "a reserved address",
    "private_address": "a private address",
    "shared_address": "a shared (carrier-grade NAT) address",
    LOOPBACK_ADDRESS: "a loopback address",
    "metadata_address": "the cloud metadata server",
    "link_local_address": "a link-local address",
    "documentation_address": "a documentation address",
    "multicast_address": "a multicast address",
    "ipv4_compatible_address": "an IPv4-compatible IPv6 address",
    "nat64_address": "a NAT64 address",
    "teredo_address": "a Teredo address",
    "6to4_address": "a 6to4 address",
    "unique_local_address": "a unique-local address",
    "site_local_address": "a site-local address",
}

_HOST_CHARS = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_DECIMAL = re.compile(r"[0-9]+")
_OCTAL = re.compile(r"[0-7]*")
_HEX = re.compile(r"[0-9a-fA-F]*")
_ENDS_IN_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_FORBIDDEN_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


class UnsafeWebhookUrl(ValueError):
    """A webhook URL refused before any connection. ``reason_code`` is a short stable code
    (see the module constants and the ``*_address`` codes); ``message`` explains."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class ResolvedTarget:
    """A checked URL pinned to one address. ``host`` is the normalized host (lowercase ASCII,
    no trailing dot; an IP literal in its canonical form, without brackets); ``ip`` is the
    address to connect to; ``addresses`` all the addresses the host resolved to (all checked)."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str
    addresses: tuple[str, ...] = field(default=(), compare=False)

    @property
    def host_is_ip(self) -> bool:
        return _ip_or_none(self.host) is not None

    @property
    def host_header(self) -> str:
        """The Host header a client would send: ``host`` or ``host:port`` (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == ALLOWED_SCHEMES.get(self.scheme) else f"{host}:{self.port}"

    @property
    def request_target(self) -> str:
        """Path and query of the URL (``/`` when empty), percent-encoded where needed."""
        parts = urlsplit(self.url)
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
        return f"{path}?{query}" if query else path


def check_webhook_url(
    url: str,
    *,
    allow_loopback: bool,
    allowed_hosts: Sequence[str] = (),
    resolver: Resolver | None = None,
) -> ResolvedTarget:
    """Check ``url`` and pin it to one address; raise UnsafeWebhookUrl when it is refused.

    ``allow_loopback`` (the local stack only) lets loopback addresses and ``localhost`` through;
    private and every other refused range stay refused. ``allowed_hosts``, when not empty,
    limits hosts to exact names or ``*.suffix`` patterns (subdomains only). ``resolver``
    defaults to ``socket.getaddrinfo``; IP literals are never passed to it.
    """
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeWebhookUrl(SCHEME_NOT_ALLOWED, f"only http and https URLs are allowed, not {scheme or 'no scheme'!r}")
    host_text, port = _split_netloc(parts.netloc, ALLOWED_SCHEMES[scheme])
    host, literal = _normalize_host(host_text)
    patterns = [_normalize_pattern(pattern) for pattern in allowed_hosts]
    if patterns and not any(_host_matches(host, pattern) for pattern in patterns):
        raise UnsafeWebhookUrl(HOST_NOT_ALLOWED, f"{host} is not in the allowed hosts")

    if literal is not None:
        addresses = [str(literal)]
    else:
        _check_name(host, allow_loopback)
        addresses = _resolve(host, port, resolver or socket.getaddrinfo)

    pinned: list[str] = []
    for address in addresses:
        reason, effective = classify_address(address, allow_loopback=allow_loopback)
        if reason is not None:
            via = "" if literal is not None else f"{host} resolves to "
            shown = address if str(effective) == str(address) else f"{address} (IPv4-mapped {effective})"
            hint = " (allowed only on the local stack, allow_loopback=True)" if reason == LOOPBACK_ADDRESS else ""
            raise UnsafeWebhookUrl(reason, f"{via}{shown}: {_DESCRIPTIONS.get(reason, reason)}{hint}")
        pinned.append(str(effective))
    pinned = list(dict.fromkeys(pinned))
    return ResolvedTarget(url=url, scheme=scheme, host=host, port=port, ip=pinned[0], addresses=tuple(pinned))


def classify_address(address: IPAddress | str, *, allow_loopback: bool = False) -> tuple[str | None, IPAddress]:
    """``(reason, effective address)``: reason None when the address is safe to connect to.
    An IPv4-mapped IPv6 address is judged (and returned) as the IPv4 address inside it."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    reason: str | None = None
    if isinstance(ip, ipaddress.IPv4Address):
        reason = next((why for network, why in _IPV4_RULES if ip in network), None)
        if reason is None and not ip.is_global:
            reason = "reserved_address"
    else:
        reason = next((why for network, why in _IPV6_RULES if ip in network), None)
        if reason is None and (ip not in _GLOBAL_UNICAST_V6 or not ip.is_global):
            reason = "reserved_address"
    if reason == LOOPBACK_ADDRESS and allow_loopback:
        reason = None
    return reason, ip


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url:
        raise UnsafeWebhookUrl(INVALID_URL, "the URL must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(INVALID_URL, f"the URL is longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN_URL_CHARS.search(url):
        raise UnsafeWebhookUrl(INVALID_URL, "the URL holds whitespace, control characters or a backslash")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise UnsafeWebhookUrl(INVALID_URL, f"the URL does not parse: {error}") from None
    if not parts.netloc:
        raise UnsafeWebhookUrl(INVALID_URL if parts.scheme.lower() in ALLOWED_SCHEMES else SCHEME_NOT_ALLOWED, "the URL names no host (expected scheme://host/...)")
    return parts


def _split_netloc(netloc: str, default_port: int) -> tuple[str, int]:
    if "@" in netloc:
        raise UnsafeWebhookUrl(USERINFO_NOT_ALLOWED, "credentials in the URL (user:pass@host) are not allowed")
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise UnsafeWebhookUrl(INVALID_HOST, "unterminated [IPv6] host")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise UnsafeWebhookUrl(INVALID_HOST, "unexpected text after the [IPv6] host")
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = netloc.partition(":")
        if ":" in port_text:
            raise UnsafeWebhookUrl(INVALID_HOST, "an IPv6 host must be written in [brackets]")
    if not port_text:
        return host, default_port
    if not _DECIMAL.fullmatch(port_text) or not 0 < int(port_text) < 65536:
        raise UnsafeWebhookUrl(INVALID_PORT, f"port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _normalize_host(text: str) -> tuple[str, IPAddress | None]:
    """(normalized host, the IP literal it spells or None)."""
    if not text:
        raise UnsafeWebhookUrl(INVALID_HOST, "the URL has an empty host")
    if text.startswith("["):
        inner = text[1:-1]
        if "%" in inner:
            raise UnsafeWebhookUrl(INVALID_HOST, "IPv6 zone identifiers are not allowed")
        try:
            ip6 = ipaddress.IPv6Address(inner)
        except ValueError:
            raise UnsafeWebhookUrl(INVALID_HOST, f"{text} is not an IPv6 address") from None
        return str(ip6), ip6
    if "%" in text:
        raise UnsafeWebhookUrl(INVALID_HOST, "percent-encoded hosts are not allowed")
    try:
        # IDNA (as clients do) before anything else: it also folds full-width digits and dots
        host = text.encode("idna").decode("ascii").lower() if not text.isascii() else text.lower()
    except UnicodeError:
        raise UnsafeWebhookUrl(INVALID_HOST, f"{text!r} is not a valid host name") from None
    ip4 = _parse_ipv4(host)
    if ip4 is not None:
        return str(ip4), ip4
    host = host[:-1] if host.endswith(".") else host
    if not _HOST_CHARS.fullmatch(host) or len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        raise UnsafeWebhookUrl(INVALID_HOST, f"{text!r} is not a valid host name")
    return host, None


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The WHATWG URL IPv4 parser: ``None`` for a domain name, the address for any numeric
    spelling (1 to 4 parts, each decimal, ``0x`` hex or ``0`` octal), UnsafeWebhookUrl for a
    name that ends in a number yet is no valid address."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if not (_DECIMAL.fullmatch(last) or _ENDS_IN_HEX.fullmatch(last)):
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if len(parts) > 4 or any(number is None for number in numbers):
        raise UnsafeWebhookUrl(INVALID_HOST, f"{host!r} ends in a number but is not an IPv4 address")
    values = [number for number in numbers if number is not None]
    if any(value > 255 for value in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise UnsafeWebhookUrl(INVALID_HOST, f"{host!r} is out of the IPv4 range")
    address = values[-1]
    for index, value in enumerate(values[:-1]):
        address += value * 256 ** (3 - index)
    return ipaddress.IPv4Address(address)


def _ipv4_number(part: str) -> int | None:
    if not part:
        return None
    if part[:2] in ("0x", "0X"):
        digits, pattern, radix = part[2:], _HEX, 16
    elif len(part) > 1 and part[0] == "0":
        digits, pattern, radix = part[1:], _OCTAL, 8
    else:
        digits, pattern, radix = part, _DECIMAL, 10
    if not pattern.fullmatch(digits):
        return None
    return int(digits, radix) if digits else 0


def _check_name(host: str, allow_loopback: bool) -> None:
    if host == "localhost" or host.endswith(".localhost"):
        if not allow_loopback:
            raise UnsafeWebhookUrl(LOOPBACK_ADDRESS, f"{host} is this machine (allowed only on the local stack, allow_loopback=True)")
        return
    if "." not in host:
        raise UnsafeWebhookUrl(UNQUALIFIED_HOST, f"{host!r} is a single-label name; use a fully qualified public name")
    if any(host == suffix or host.endswith("." + suffix) for suffix in INTERNAL_SUFFIXES):
        raise UnsafeWebhookUrl(INTERNAL_HOST, f"{host} is an internal name")


def _resolve(host: str, port: int, resolver: Resolver) -> list[str]:
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise UnsafeWebhookUrl(UNRESOLVABLE, f"{host} does not resolve: {error}") from None
    addresses = []
    for info in infos or ():
        try:
            sockaddr = info[4]
            addresses.append(str(sockaddr[0]))
        except (IndexError, TypeError):
            continue
    if not addresses:
        raise UnsafeWebhookUrl(UNRESOLVABLE, f"{host} resolves to no address")
    for address in addresses:
        if _ip_or_none(address.split("%", 1)[0]) is None:
            raise UnsafeWebhookUrl(UNRESOLVABLE, f"{host} resolves to {address!r}, not an IP address")
    return [address.split("%", 1)[0] for address in addresses]


def _normalize_pattern(pattern: str) -> str:
    text = pattern.strip().lower().rstrip(".")
    wildcard = text.startswith("*.")
    name = text[2:] if wildcard else text
    if not name or "*" in name:
        raise ValueError(f"allowed host {pattern!r} must be a host name or *.suffix")
    if not name.isascii():
        name = name.encode("idna").decode("ascii")
    ip = _ip_or_none(name.strip("[]"))
    if ip is not None:
        if wildcard:
            raise ValueError(f"allowed host {pattern!r}: a wildcard cannot apply to an IP address")
        name = str(ip)
    return ("*." + name) if wildcard else name


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
