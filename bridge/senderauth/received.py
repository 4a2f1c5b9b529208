"""Find the SMTP client of a delivered message in its ``Received:`` trace.

Pure: no I/O, no DNS, no clock. The bridge reads mail over IMAP and never sees
the SMTP connection, so SPF (RFC 7208) needs the client IP and HELO name that
the account's own receiving host wrote into the trace. This module parses the
``Received:`` formats of real MTAs and walks the trace; it does not evaluate
SPF and never trusts a name the client could choose.

Trust model (RFC 5321 § 4.4: each MTA prepends its own trace field, so only
the top of the trace was written by the mailbox provider):

* walk from the top; a field without a ``from`` clause or client IP (local
  injection, ``qmail invoked``, Gmail's ``by <ip> with SMTP``, LMTP) carries
  no client and is skipped;
* a client is internal only when its IP is not globally routable or lies in a
  trusted network; such hops are skipped too. The client's HELO and
  reverse-DNS names are never used for this, because the client chooses them;
* the first hop from a public client is the provider's edge: it must be
  written ``by`` a trusted receiver (host name patterns) and is the answer.
  If its writer is not trusted the walk stops with no answer, since that
  field and everything below it may be forged by the sender.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Receiving hosts of the big mailbox providers. A leading dot means "any
# subdomain". Network entries cover relays that use public addresses for
# internal hops: Exchange Online writes its own 2603:10xx:: datacenter
# addresses in the ``from`` side of every internal hop.
DEFAULT_TRUSTED_RECEIVERS: tuple[str, ...] = (
    ".google.com",  # Gmail and Google Workspace: mx.google.com
    ".outlook.com",  # Outlook.com and Exchange Online (prod / protection)
    ".office365.com",
    ".messagingengine.com",  # Fastmail
    ".fastmail.com",
    ".mail.icloud.com",  # iCloud: *.mail.icloud.com, *.me.com front ends
    ".me.com",
    ".mac.com",
    ".yahoo.com",  # Yahoo / AOL: *.mail.*.yahoo.com
    ".yahoodns.net",
    ".aol.com",
    ".zoho.com",  # Zoho: mx.zoho.com, mx.zoho.eu, ...
    ".zoho.eu",
    ".zohomail.com",
    ".protonmail.ch",
    ".gmx.net",
    ".web.de",
    ".mail.ru",
    ".yandex.net",
    "2603:10a6::/32",  # Exchange Online internal hops (EMEA)
    "2603:10b6::/32",  # Exchange Online internal hops (Americas)
    "2603:1096::/32",  # Exchange Online internal hops (APAC)
    "2603:10c6::/32",
    "2603:1086::/32",
)


@dataclass(frozen=True, slots=True)
class Hop:
    """One parsed ``Received:`` field.

    Attributes:
        by: the receiving host, lower case, no trailing dot; None if absent.
        helo: the HELO/EHLO argument the client gave, if recorded.
        ip: the client IP, normalised; None if the field has none.
        has_from: whether the field has a ``from`` clause at all.
    """

    by: str | None
    helo: str | None
    ip: str | None
    has_from: bool


@dataclass(frozen=True, slots=True)
class TrustedReceivers:
    """Host name patterns and networks of the account's receiving hosts."""

    exact: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> TrustedReceivers:
        """Build from entries like ``mx.example.com``, ``.google.com`` or ``10.1.0.0/16``.

        Entries that are neither a host name nor an IP network are ignored.
        """
        exact: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in patterns:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            net = _as_network(entry)
            if net is not None:
                networks.append(net)
            elif entry.startswith("."):
                suffixes.append(entry)
            else:
                exact.add(entry)
        return cls(frozenset(exact), tuple(suffixes), tuple(networks))

    def host_matches(self, host: str) -> bool:
        """True if ``host`` (a name or IP literal) is one of the trusted receivers."""
        host = host.lower().rstrip(".")
        ip = parse_ip(host)
        if ip is not None:
            return self.ip_trusted(ip)
        return host in self.exact or any(host.endswith(sfx) for sfx in self.suffixes)

    def ip_trusted(self, ip: IPAddress) -> bool:
        """True if ``ip`` is inside one of the trusted networks."""
        return any(ip.version == net.version and ip in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class ClientSearch:
    """Result of the trace walk: the external hop, or why there is none.

    Attributes:
        hop: the first hop from outside, or None.
        reason: what was found, or why nothing was.
        boundary: index (0 = topmost) of the field where the provider's own
            trace ends: the external hop, the first field by an untrusted
            host, or the number of fields when the walk ran off the end.
    """

    hop: Hop | None
    reason: str
    boundary: int


def _as_network(entry: str) -> IPNetwork | None:
    if "/" not in entry:
        return None
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def parse_ip(text: str) -> IPAddress | None:
    """Parse an address as written in trace fields: ``[1.2.3.4]``, ``[IPv6:...]``, ``::ffff:...``."""
    text = text.strip().strip("[]")
    if text[:5].lower() == "ipv6:":  # RFC 5321 § 4.1.3 address literal
        text = text[5:]
    text = text.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


_BY = re.compile(r"(?:^|[\s)])by\s+([^\s;()]+)", re.IGNORECASE)
_FROM = re.compile(r"^\s*from\s+(.*?)(?=(?:\s|\))by\s|$)", re.IGNORECASE | re.DOTALL)
_BRACKETED = re.compile(r"\[([^\]\s]+)\]")
_HELO_EQ = re.compile(r"\bhelo=([^\s)]+)", re.IGNORECASE)  # Exim
_HELO_PAREN = re.compile(r"\((?:HELO|EHLO)\s+([^\s)]+)\)", re.IGNORECASE)  # qmail
_PAREN_IP = re.compile(r"\((?:[^()@\s]*@)?([0-9A-Fa-f:.]+)\)")  # Microsoft, qmail


def parse_received(value: str) -> Hop:
    """Parse one ``Received:`` field value (RFC 5321 § 4.4) of any common MTA.

    Handles Postfix/Sendmail/Gmail ``from helo (rdns [ip])``, Exim
    ``from rdns ([ip]:port helo=x)`` and ``from [ip] (helo=x)``, Microsoft
    ``from helo (ip)``, qmail ``from rdns (HELO x) (user@ip)`` and IPv6
    literals in each of them.
    """
    text = " ".join(value.split())
    text = text.rsplit(";", 1)[0] if ";" in text else text  # drop the date-time
    by_match = _BY.search(text)
    by = by_match.group(1).lower().rstrip(".") if by_match else None
    from_match = _FROM.match(text)
    if from_match is None:
        return Hop(by=by, helo=None, ip=None, has_from=False)
    clause = from_match.group(1).strip()
    first = clause.split(" ", 1)[0]
    ip = _client_ip(clause, first)
    helo = _client_helo(clause, first)
    return Hop(by=by, helo=helo, ip=ip, has_from=True)


def _client_ip(clause: str, first: str) -> str | None:
    # The client address is the bracketed literal the receiver recorded; the
    # first token is the client's own HELO name and is ignored unless nothing
    # else is there (Exim without reverse DNS writes "from [ip] (helo=x)").
    rest = clause[len(first) :]
    for pattern in (_HELO_EQ, _HELO_PAREN):  # a HELO may itself be "[ip]"
        rest = pattern.sub(" ", rest)
    for candidate in [*_BRACKETED.findall(rest), *_PAREN_IP.findall(rest)]:
        ip = parse_ip(candidate)
        if ip is not None:
            return str(ip)
    if first.startswith("["):
        ip = parse_ip(first.split("]:", 1)[0])
        return str(ip) if ip is not None else None
    return None


def _client_helo(clause: str, first: str) -> str | None:
    for pattern in (_HELO_EQ, _HELO_PAREN):
        found = pattern.search(clause)
        if found:
            return found.group(1).rstrip(".")
    # Otherwise the first token is the HELO name (Postfix, Sendmail, Gmail,
    # Microsoft) or, for Exim, the verified host name or address literal that
    # the HELO matched (Exim leaves helo= out when they are equal).
    if first and first.lower() != "unknown":
        return first.rstrip(".")
    return None


def is_internal(ip_text: str, trusted: TrustedReceivers) -> bool:
    """True if a client address belongs to the receiving side, not the internet."""
    ip = parse_ip(ip_text)
    if ip is None:
        return False
    return not ip.is_global or trusted.ip_trusted(ip)


def find_client(received: Sequence[str], trusted: TrustedReceivers) -> ClientSearch:
    """Walk the trace from the top and return the first hop that came from outside.

    Args:
        received: ``Received:`` field values, topmost (newest) first.
        trusted: the account's receiving hosts.

    Returns:
        A ``ClientSearch`` with the hop, or with ``hop=None`` and a reason.
    """
    for index, value in enumerate(received):
        hop = parse_received(value)
        if not hop.has_from or hop.ip is None or is_internal(hop.ip, trusted):
            # Internal delivery hops (LMTP, content filters, relays between
            # private or trusted addresses) need no trusted writer: the walk
            # can only get below the provider's edge hop by passing a hop
            # from a public client, and that one is checked next.
            continue
        if hop.by is None or not trusted.host_matches(hop.by):
            reason = f"hop by untrusted host {hop.by or '(none)'}"
            return ClientSearch(None, reason, index)
        return ClientSearch(hop, f"client {hop.ip} seen by {hop.by}", index)
    if not received:
        return ClientSearch(None, "no Received header", 0)
    reason = "no external hop in the trusted Received chain"
    return ClientSearch(None, reason, len(received))
