"""The production DNS resolver for mail authentication (dnspython), with a small cache.

I/O adapter: implements ``bridge.senderauth.resolver_protocol.Resolver`` over UDP/TCP
DNS. It owns per-query timeouts and a TTL-bounded, size-bounded, thread-safe
in-memory cache. It never raises for DNS outcomes: NXDOMAIN, NODATA and
temporary failures (timeout, SERVFAIL, unreachable servers) are returned as
``DnsAnswer`` values, so dnspython exception types never leave this module.
It knows nothing about SPF, DKIM or DMARC.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import dns.exception
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.resolver

from bridge.senderauth.resolver_protocol import DnsAnswer, MxRecord, Rcode

T = TypeVar("T")
R = TypeVar("R", bound=dns.rdata.Rdata)

# Negative answers are cached briefly (RFC 2308 § 5 lets a resolver cap the
# negative TTL); temporary failures are never cached.
NEGATIVE_TTL = 60.0


class DnsResolver:
    """dnspython-backed ``Resolver`` with timeouts and a TTL-bounded cache.

    Args:
        servers: ``(address, port)`` pairs to query; None reads the system
            configuration (``/etc/resolv.conf``).
        timeout: seconds allowed for one query, retries included.
        max_ttl: upper bound, in seconds, on how long an answer is cached.
        max_entries: cache size; the least recently used entry goes first.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        servers: list[tuple[str, int]] | None = None,
        timeout: float = 3.0,
        *,
        max_ttl: float = 300.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if servers is None:
            self._resolver = dns.resolver.Resolver()
        else:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(address, port) for address, port in servers]
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._max_ttl = max_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], tuple[float, DnsAnswer[object]]] = OrderedDict()

    def txt(self, name: str) -> DnsAnswer[bytes]:
        # RFC 7208 § 3.3 / RFC 6376 § 3.6.2.2: join a record's strings as-is.
        return self._query(name, "TXT", dns.rdtypes.ANY.TXT.TXT, lambda rd: b"".join(rd.strings))

    def a(self, name: str) -> DnsAnswer[str]:
        return self._query(name, "A", dns.rdtypes.IN.A.A, lambda rd: str(rd.address))

    def aaaa(self, name: str) -> DnsAnswer[str]:
        return self._query(name, "AAAA", dns.rdtypes.IN.AAAA.AAAA, lambda rd: str(rd.address))

    def mx(self, name: str) -> DnsAnswer[MxRecord]:
        return self._query(
            name,
            "MX",
            dns.rdtypes.ANY.MX.MX,
            lambda rd: MxRecord(int(rd.preference), _host(rd.exchange)),
        )

    def ptr(self, name: str) -> DnsAnswer[str]:
        return self._query(name, "PTR", dns.rdtypes.ANY.PTR.PTR, lambda rd: _host(rd.target))

    def clear(self) -> None:
        """Drop every cached answer."""
        with self._lock:
            self._cache.clear()

    def _query(self, name: str, rtype: str, kind: type[R], convert: Callable[[R], T]) -> DnsAnswer[T]:
        key = (name.lower().rstrip("."), rtype)
        cached = self._cached(key)
        if cached is not None:
            return cached  # type: ignore[return-value]  # stored under the same rtype
        answer, ttl = self._resolve(key[0], rtype, kind, convert)
        if answer.rcode is not Rcode.TEMPFAIL:
            self._store(key, answer, ttl)  # type: ignore[arg-type]
        return answer

    def _resolve(self, name: str, rtype: str, kind: type[R], convert: Callable[[R], T]) -> tuple[DnsAnswer[T], float]:
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            return DnsAnswer(Rcode.NXDOMAIN), NEGATIVE_TTL  # a name that cannot exist
        try:
            result = self._resolver.resolve(qname, rtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return DnsAnswer(Rcode.NXDOMAIN), NEGATIVE_TTL
        except dns.exception.DNSException:
            # Timeout, SERVFAIL/REFUSED from every server (NoNameservers),
            # malformed replies: all temporary for RFC 7208 § 5 / RFC 6376 § 6.1.2.
            return DnsAnswer(Rcode.TEMPFAIL), 0.0
        if result.rrset is None:
            return DnsAnswer(Rcode.NOERROR), NEGATIVE_TTL
        records = tuple(convert(rd) for rd in result.rrset if isinstance(rd, kind))
        return DnsAnswer(Rcode.NOERROR, records), float(result.rrset.ttl)

    def _cached(self, key: tuple[str, str]) -> DnsAnswer[object] | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            expires, answer = entry
            if expires <= self._clock():
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return answer

    def _store(self, key: tuple[str, str], answer: DnsAnswer[object], ttl: float) -> None:
        ttl = min(ttl, self._max_ttl)
        if ttl <= 0:
            return
        with self._lock:
            self._cache[key] = (self._clock() + ttl, answer)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)


def _host(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()
