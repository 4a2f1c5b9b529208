"""An in-process authoritative DNS server (dnslib) for SPF/DKIM/DMARC tests.

Owns a dnslib UDP + TCP server pair on one free loopback port and a record
table that tests change at runtime. Unknown names get NXDOMAIN; known names
without the asked type get NOERROR with no answer (NODATA), which SPF's void
lookup rule (RFC 7208 § 4.6.4) depends on. TXT values over 255 bytes are split
into several character-strings (RFC 1035 § 3.3.14). Names listed with
``set_failure`` answer SERVFAIL. No pytest imports: bench/ may reuse it. Also provides ``SilentUdpServer``,
a socket that reads queries and never answers, for timeout tests.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer

HOST = "127.0.0.1"
_QUIET = "-request,-reply,-truncated,-error,-recv,-send,-data"


def txt_rdata(value: str | bytes) -> TXT:
    """A TXT rdata, split into 255-byte character-strings."""
    data = value.encode() if isinstance(value, str) else value
    return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])


def _key(name: str) -> str:
    return str(DNSLabel(name)).lower()


class _TableResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[Any]] = {}
        self.servfail: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname.rstrip("."), qtype))
            if qname in self.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            found = list(self.records.get((qname, qtype), []))
            exists = any(name == qname for name, _ in self.records)
        for rdata in found:
            reply.add_answer(RR(request.q.qname, getattr(QTYPE, qtype), rdata=rdata, ttl=300))
        if not found and not exists:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class DnsServer:
    """dnslib on 127.0.0.1:<free port>, UDP and TCP, records editable at runtime."""

    def __init__(self) -> None:
        self._table = _TableResolver()
        self.port = _free_port()
        self._servers: list[DNSServer] = []

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` for ``bridge.senderauth.resolver.DnsResolver(servers=[...])``."""
        return (HOST, self.port)

    def start(self) -> None:
        if self._servers:
            return
        logger = DNSLogger(log=_QUIET, prefix=False)
        self._servers = [
            DNSServer(self._table, port=self.port, address=HOST, logger=logger, tcp=tcp) for tcp in (False, True)
        ]
        for server in self._servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers = []

    def add(self, name: str, rtype: str, value: Any) -> None:
        """Add one record; ``value`` is text (TXT/A/AAAA/PTR), or ``(pref, host)`` for MX."""
        with self._table.lock:
            self._table.records.setdefault((_key(name), rtype), []).append(_rdata(rtype, value))

    def remove(self, name: str, rtype: str | None = None) -> None:
        """Remove the records of a name (of one type, or all of them)."""
        with self._table.lock:
            for key in [k for k in self._table.records if k[0] == _key(name)]:
                if rtype is None or key[1] == rtype:
                    del self._table.records[key]

    def set_failure(self, name: str, failing: bool = True) -> None:
        """Make queries for ``name`` answer SERVFAIL (or stop doing so)."""
        with self._table.lock:
            (self._table.servfail.add if failing else self._table.servfail.discard)(_key(name))

    def reset(self) -> None:
        """Forget every record, failure and logged query."""
        with self._table.lock:
            self._table.records.clear()
            self._table.servfail.clear()
            self._table.queries.clear()

    @property
    def queries(self) -> list[tuple[str, str]]:
        """``(name, type)`` of every query received, oldest first."""
        with self._table.lock:
            return list(self._table.queries)


def _rdata(rtype: str, value: Any) -> Any:
    if rtype == "TXT":
        return txt_rdata(value)
    if rtype == "MX":
        preference, host = value
        return MX(host, preference)
    factory = {"A": A, "AAAA": AAAA, "PTR": PTR}[rtype]
    return factory(value)


def _free_port() -> int:
    # A port free for both UDP and TCP at the same time.
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port on loopback")


class SilentUdpServer:
    """A UDP socket on loopback that receives DNS queries and never answers."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((HOST, 0))
        self.port = int(self._sock.getsockname()[1])

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)

    def close(self) -> None:
        self._sock.close()
