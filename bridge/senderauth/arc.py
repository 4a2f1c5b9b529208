"""ARC (RFC 8617): validate the Authenticated Received Chain and decide whether a trusted sealer vouches for the From.

Pure: no sockets, no environment. dkimpy's ARC verifier is always called
with ``dnsfunc=`` built from the injected Resolver (``bridge.senderauth.dkim``),
never with its default DNS; like DKIM it reads the clock only for the
``t=`` sanity check. The DNS callback mirrors ``bridge.senderauth.dkim``'s. ARC-Authentication-Results are parsed here
(RFC 8601 syntax), without the optional ``authres`` package.

Two questions, kept apart:

* ``verify_arc``: is the chain intact? ``pass`` when every ARC-Seal and the
  newest ARC-Message-Signature validate and the recorded ``cv=`` values
  are consistent (RFC 8617 § 5.2); ``fail`` otherwise, including a chain
  some sealer already declared failed; ``none`` without ARC sets.
* ``arc_vouch``: may a DMARC failure be overridden (RFC 7489 § 7.2 local
  policy, RFC 8617 § 7.2)? Only when the chain passes, the trusted sealers
  form an unbroken run ending at the NEWEST set, and the AAR of the OLDEST
  set of that run records ``dmarc=pass`` with ``header.from`` equal to the
  From domain. Why the oldest of the run: it is the earliest view of the
  message by someone we trust, taken before later trusted hops handled it;
  an untrusted set anywhere after it could have rewritten the message and
  re-signed its own AMS (the seals cover only ARC headers), so trust stops
  at the first untrusted set counting back from the newest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import dkim

from bridge.senderauth.resolver_protocol import Rcode, Resolver


class ArcStatus(StrEnum):
    """Chain validation results (RFC 8617 § 4.4, ``cv=`` and ``arc=``)."""

    NONE = "none"
    PASS = "pass"  # noqa: S105  (a result name, not a secret)
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class ArcHop:
    """One ARC set, as sealed.

    Attributes:
        instance: the ``i=`` of the set (1 = oldest).
        domain: the sealer, the ARC-Seal's ``d=``, lower case.
        selector: the ARC-Seal's ``s=``.
        cv: the chain validation status the sealer recorded (``cv=``).
        seal_valid: whether this ARC-Seal's signature verified.
        ams_valid: whether this set's ARC-Message-Signature verified
            (only the newest must: older hops may have been modified since).
        aar_dmarc: the ``dmarc=`` results recorded in this set's
            ARC-Authentication-Results, as (result, header.from) pairs.
    """

    instance: int
    domain: str
    selector: str
    cv: str
    seal_valid: bool
    ams_valid: bool
    aar_dmarc: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ArcResult:
    """The chain's verdict.

    Attributes:
        result: pass, fail or none.
        hops: the sets dkimpy got to, oldest first (a chain that breaks
            stops the walk, so a failed chain may list only its newer sets).
        reason: why, in a few words.
    """

    result: ArcStatus
    hops: tuple[ArcHop, ...] = ()
    reason: str = ""

    @property
    def sealers(self) -> tuple[str, ...]:
        """Distinct sealing domains, oldest first."""
        return tuple(dict.fromkeys(hop.domain for hop in self.hops))


def verify_arc(raw: bytes, resolver: Resolver) -> ArcResult:
    """Validate the ARC chain of a message (RFC 8617 § 5.2).

    Args:
        raw: the message bytes exactly as fetched.
        resolver: the DNS seam for the sealers' key records.

    Returns:
        The verdict with one ``ArcHop`` per set dkimpy examined. Malformed
        chains and DNS failures are a ``fail`` result, never an exception.
    """
    seen: list[Rcode] = []

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        answer = resolver.txt(name.decode("ascii", "replace"))
        seen.append(answer.rcode)
        if answer.rcode is Rcode.TEMPFAIL:
            raise dkim.DnsTimeoutError(f"temporary DNS failure for {name!r}")
        # Several key records are ambiguous (RFC 6376 § 3.6.2.2): take the first, as dkimpy does.
        return answer.records[0] if answer.records else None

    try:
        cv, data, reason = dkim.ARC(raw).verify(dnsfunc=dnsfunc)
    except dkim.DKIMException as exc:  # unparseable message or set; dkimpy raises before the walk
        return ArcResult(ArcStatus.FAIL, (), f"{type(exc).__name__}: {exc}")
    except (IndexError, KeyError, ValueError, TypeError) as exc:
        # dkimpy indexes into sets it assumes well formed (an AMS whose i= is not followed
        # by ";" has no match, for one); a malformed chain is a fail, never a crash.
        return ArcResult(ArcStatus.FAIL, (), f"{type(exc).__name__}: {exc}")
    hops = tuple(sorted((_hop(item) for item in data), key=lambda hop: hop.instance))
    text = str(reason)
    if cv == dkim.CV_Pass:
        return ArcResult(ArcStatus.PASS, hops, "chain validated")
    if cv == dkim.CV_None:
        return ArcResult(ArcStatus.NONE, hops, "no ARC sets")
    if Rcode.TEMPFAIL in seen:
        text += " (a key lookup failed temporarily)"
    # dkimpy answers None for a chain an earlier sealer declared failed (cv=fail):
    # RFC 8617 § 5.2 step 2 makes that a fail for us too.
    return ArcResult(ArcStatus.FAIL, hops, text)


def _hop(item: dict[str, Any]) -> ArcHop:
    def text(key: str) -> str:
        value = item.get(key, b"")
        return value.decode("ascii", "replace").strip() if isinstance(value, bytes) else str(value)

    aar = item.get("aar-value", b"")
    return ArcHop(
        instance=int(item["instance"]),
        domain=text("as-domain").lower(),
        selector=text("as-selector"),
        cv=text("cv").lower(),
        seal_valid=bool(item.get("as-valid", False)),
        ams_valid=bool(item.get("ams-valid", False)),
        aar_dmarc=tuple(dmarc_results(aar.decode("utf-8", "replace") if isinstance(aar, bytes) else str(aar))),
    )


def sealer_trusted(domain: str, trusted: Iterable[str]) -> bool:
    """Whether a sealing domain is trusted: equal to a trusted name or a subdomain of one.

    The owner of a domain controls the key records of its subdomains, so
    trusting ``google.com`` covers ``lists.google.com``; never the reverse.
    """
    domain = domain.lower().rstrip(".")
    for name in trusted:
        name = name.lower().strip().rstrip(".")
        if name and (domain == name or domain.endswith("." + name)):
            return True
    return False


def arc_vouch(arc: ArcResult, from_domain: str, trusted: Sequence[str]) -> ArcHop | None:
    """The trusted set whose recorded DMARC pass may stand in for ours, if any.

    Args:
        arc: the verdict of ``verify_arc``.
        from_domain: the RFC 5322.From domain.
        trusted: the account's trusted sealer names (empty = ARC overrides off).

    Returns:
        The oldest set of the unbroken trusted run ending at the newest set,
        when the chain passes and that set's AAR says ``dmarc=pass`` for
        ``header.from`` = the From domain (and no other DMARC result for it);
        otherwise None.
    """
    if arc.result is not ArcStatus.PASS or not arc.hops or not trusted:
        return None
    run: ArcHop | None = None
    for hop in reversed(arc.hops):  # newest first
        if not sealer_trusted(hop.domain, trusted):
            break
        run = hop
    if run is None:
        return None
    domain = from_domain.lower().rstrip(".")
    results = {result for result, header_from in run.aar_dmarc if header_from == domain}
    return run if results == {"pass"} else None


_COMMENT_OR_QUOTE = re.compile(r'"(?:[^"\\]|\\.)*"|\(')


def _strip_comments(text: str) -> str:
    """Remove RFC 5322 comments (nested parentheses), keeping quoted strings."""
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if depth == 0 and ch == '"':
            match = _COMMENT_OR_QUOTE.match(text, i)
            end = match.end() if match else len(text)
            out.append(text[i:end])
            i = end
            continue
        if ch == "\\" and depth:
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
        i += 1
    return "".join(out)


def dmarc_results(aar: str) -> list[tuple[str, str]]:
    """The ``dmarc=`` results of an ARC-Authentication-Results value (RFC 8601 § 2.2).

    Args:
        aar: the header value, ``i=N; authserv-id; method=result props; ...``.

    Returns:
        (result, header.from) pairs, lower case; header.from is "" when absent.
    """
    found: list[tuple[str, str]] = []
    parts = [p.strip() for p in _strip_comments(aar).split(";")]
    for part in parts[2:]:  # after "i=N" and the authserv-id
        tokens = re.sub(r"\s*=\s*", "=", part).split()
        if not tokens:
            continue
        method, _, result = tokens[0].partition("=")
        if method.split("/", 1)[0].lower() != "dmarc":  # "dmarc/1" carries a version (RFC 8601 § 2.2)
            continue
        header_from = ""
        for token in tokens[1:]:
            name, _, value = token.partition("=")
            if name.lower() == "header.from":
                header_from = value.strip('"').rsplit("@", 1)[-1].lower().rstrip(".")
        found.append((result.strip().lower(), header_from))
    return found
