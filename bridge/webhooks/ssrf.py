"""Which webhook URLs and addresses the bridge may send to (SSRF policy).

Pure: no I/O, no DNS. ``check_url`` validates the URL's shape (every
environment); ``refusal`` says why an address must not be contacted in
production. Resolving names and connecting only to vetted addresses is the
adapter's job (``bridge/webhooks/dispatcher.py``), which asks this module about every
address a name resolves to, at registration and again at connect time.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
SCHEMES = ("http", "https")

# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which is what
# the packet really reaches: NAT64 (RFC 6052, RFC 8215) and IPv4-compatible (RFC 4291 § 2.5.5.1).
_EMBEDS_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)
# IPv4 ranges Python 3.11 does not flag, yet no public receiver lives in: RFC 6598 shared
# address space (carrier-grade NAT) and RFC 6890 IETF protocol assignments.
_SPECIAL_IPV4 = (ipaddress.IPv4Network("100.64.0.0/10"), ipaddress.IPv4Network("192.0.0.0/24"))
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")  # RFC 4193


@dataclass(frozen=True, slots=True)
class Target:
    """The parts of a webhook URL the connection needs."""

    scheme: str
    host: str  # lower-cased; IPv6 without brackets
    port: int


def check_url(url: str) -> Target:
    """Validate a webhook URL's shape.

    Raises:
        ValueError: not http(s), no host, credentials in the URL, a fragment,
            whitespace, control or non-ASCII characters, a bad port, or too long.
    """
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("the URL contains whitespace or control characters")
    if not url.isascii():
        raise ValueError("the URL must be ASCII: punycode the host, percent-encode the path")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError("the URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("the URL must not contain credentials")
    if parts.fragment:
        raise ValueError("the URL must not contain a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("the URL has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("the URL has an invalid port") from exc
    scheme = parts.scheme.lower()
    return Target(scheme=scheme, host=host.lower(), port=port or (443 if scheme == "https" else 80))


def parse_address(value: str) -> IPAddress | None:
    """The address of an IP literal (IPv6 zone ids refused), else None for a host name."""
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast destination, or None when it is.

    IPv4-mapped, NAT64, 6to4 and IPv4-compatible IPv6 addresses are
    judged by the IPv4 address they carry, since that is where packets go.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal(embedded)
            return None if reason is None else f"{reason} (embedded in {address})"
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL, "unique-local"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (isinstance(address, ipaddress.IPv4Address) and any(address in n for n in _SPECIAL_IPV4), "special-purpose"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "not globally routable"),
    )
    for matched, reason in checks:
        if matched:
            return f"{reason} address {address}"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in ipaddress.IPv6Network("::/127"):
        return None  # :: and ::1 are IPv6's own unspecified and loopback
    for network in _EMBEDS_IPV4:
        if address in network:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
