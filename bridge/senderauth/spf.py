"""SPF check_host() (RFC 7208) through pyspf, with DNS only via the injected Resolver.

Pure: no sockets, no clock reads of our own, no environment. pyspf takes no
resolver argument, so ``_SeamQuery`` subclasses ``spf.query`` and overrides its
one DNS entry point, ``query.dns()``; the module-global ``spf.DNSLookup`` is
never called or patched. This module does not decide which IP or sender to
check: ``bridge.senderauth.received`` and ``bridge.senderauth.results`` do that.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import spf

from bridge.senderauth.resolver_protocol import DnsAnswer, Rcode, Resolver


class SpfStatus(StrEnum):
    """SPF results, named as in RFC 7208 § 2.6 and RFC 8601 § 2.7.2."""

    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"  # noqa: S105  (a result name, not a secret)
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


@dataclass(frozen=True, slots=True)
class SpfResult:
    """Outcome of one SPF evaluation.

    Attributes:
        result: the check_host() result.
        domain: the domain checked: the MAIL FROM domain, or the HELO name when
            MAIL FROM was empty (RFC 7208 § 2.4); None if no check ran.
        ip: the client IP that was checked.
        helo: the client's HELO/EHLO name.
        reason: pyspf's explanation or why no check ran.
    """

    result: SpfStatus
    domain: str | None = None
    ip: str | None = None
    helo: str | None = None
    reason: str = ""


_VOID_LIMIT: int = spf.MAX_VOID_LOOKUPS


class _SeamQuery(spf.query):  # type: ignore[misc]  # pyspf ships no type information
    """A pyspf query whose every DNS lookup goes to our Resolver."""

    def __init__(self, resolver: Resolver, ip: str, sender: str, helo: str) -> None:
        # strict=True: RFC 7208 processing limits, no type-99 SPF lookups
        # (RFC 7208 § 3.1 retired the SPF RR type). querytime=0: the overall
        # time bound is the resolver's per-query timeout times the RFC 7208
        # § 4.6.4 lookup limits, so pyspf never reads the clock for it.
        super().__init__(i=ip, s=sender, h=helo, strict=True, querytime=0)
        self._resolver = resolver

    def dns(
        self,
        name: str,
        qtype: str,
        cnames: dict[str, str] | None = None,
        ignore_void: bool = False,
    ) -> list[object]:
        name = str(name).rstrip(".").lower()
        if not name or any(not 0 < len(label) < 64 for label in name.split(".")):
            return []  # RFC 7208 § 4.3: malformed names match nothing
        cached: list[object] | None = self.cache.get((name, qtype))
        if cached:
            return cached
        result = self._lookup(name, qtype)
        if result:
            self.cache[(name, qtype)] = result
        elif not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > _VOID_LIMIT:  # RFC 7208 § 4.6.4
                raise spf.PermError(f"Void lookup limit of {_VOID_LIMIT} exceeded")
        return result

    def validated_ptrs(self) -> list[str]:
        # RFC 7208 § 5.5: a DNS error on the PTR lookup makes "ptr" not match;
        # an error on one name's A/AAAA lookup skips that name. pyspf would
        # turn either into temperror.
        try:
            names: list[str] = self.dns_ptr(self.i)[: spf.MAX_PTR]
        except spf.TempError:
            return []
        validated = []
        for name in names:
            try:
                addresses = self.dns_a(name, self.A)
            except spf.TempError:
                continue
            if self.cidrmatch(addresses, self.cidrmax):
                validated.append(name)
        return validated

    def _lookup(self, name: str, qtype: str) -> list[object]:
        answer: DnsAnswer[str]
        if qtype == "TXT":
            txt = self._resolver.txt(name)
            _raise_on_tempfail(txt.rcode, name, qtype)
            # pyspf joins the strings of each record itself.
            return [[record] for record in txt.records]
        if qtype == "A":
            answer = self._resolver.a(name)
        elif qtype == "AAAA":
            answer = self._resolver.aaaa(name)
        elif qtype == "PTR":
            answer = self._resolver.ptr(name)
        elif qtype == "MX":
            mx = self._resolver.mx(name)
            _raise_on_tempfail(mx.rcode, name, qtype)
            return [(r.preference, r.exchange) for r in mx.records]
        else:
            return []  # type 99 "SPF" is never queried with strict=True
        _raise_on_tempfail(answer.rcode, name, qtype)
        return list(answer.records)


def _raise_on_tempfail(rcode: Rcode, name: str, qtype: str) -> None:
    if rcode is Rcode.TEMPFAIL:  # RFC 7208 § 5: DNS error -> temperror
        raise spf.TempError(f"DNS temporary failure: {name} {qtype}")


def check_host(resolver: Resolver, ip: str, mail_from: str, helo: str, now: int | None = None) -> SpfResult:
    """Evaluate SPF for one client.

    Args:
        resolver: the DNS seam.
        ip: client IP address.
        mail_from: the envelope sender (reverse-path); empty for a null
            reverse-path, which makes the HELO identity the one checked
            (RFC 7208 § 2.4).
        helo: the HELO/EHLO name.
        now: Unix time for the ``%{t}`` macro (RFC 7208 § 7.3); pyspf's
            own clock when None.

    Returns:
        The SPF result; DNS and record errors come back as temperror/permerror.
    """
    domain = mail_from.rpartition("@")[2] if mail_from else helo
    base = SpfResult(SpfStatus.NONE, domain=domain or None, ip=ip, helo=helo or None)
    try:
        query = _SeamQuery(resolver, ip, mail_from, helo)
        if now is not None:
            query.t = str(now)
        outcome = query.check()
    except (spf.PermError, ValueError, UnicodeError) as exc:
        return _with(base, SpfStatus.PERMERROR, str(exc))
    except spf.TempError as exc:
        return _with(base, SpfStatus.TEMPERROR, str(exc))
    result, _code, explanation = outcome
    try:
        status = SpfStatus(str(result))
    except ValueError:
        status = SpfStatus.PERMERROR  # pyspf's lax-mode "ambiguous"/"unknown"
    return _with(base, status, str(explanation))


def _with(base: SpfResult, status: SpfStatus, reason: str) -> SpfResult:
    return SpfResult(status, base.domain, base.ip, base.helo, reason)
