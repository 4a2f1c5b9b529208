"""Sender verification of inbound mail: SPF, DKIM and DMARC into one AuthReport.

Pure: no sockets, no Redis, no Flask, no environment, no clock of its own
(``now`` is passed in). All DNS goes through the injected ``Resolver``
(``bridge.senderauth.resolver_protocol``). Reads only ``ParsedMessage.raw`` (for DKIM)
and ``ParsedMessage.tree`` (headers); never re-parses the message.

``verified`` is true on a DMARC pass, i.e. SPF or DKIM passing for a
domain aligned with the visible From domain (RFC 7489 § 4.2); passing for
some other domain never verifies the From. The one other way is ARC
(RFC 8617): when DMARC does not pass here, an intact chain whose newest
sets come from sealers the account trusts, and whose oldest trusted set
recorded ``dmarc=pass`` for the From domain, verifies it too (RFC 7489
§ 7.2 local policy; the rule is in ``bridge.senderauth.arc``). ARC is always
evaluated and reported; without trusted sealers it never verifies. The
provider's own ``Authentication-Results`` are reported as text and never
trusted.

Pieces: ``bridge.senderauth.received`` (which hop is the SMTP client),
``bridge.senderauth.spf`` (pyspf), ``bridge.senderauth.dkim`` (dkimpy),
``bridge.senderauth.dmarc`` (policy and alignment), ``bridge.senderauth.arc`` (dkimpy's
ARC verifier and the trusted-sealer rule).
"""

from __future__ import annotations

import dataclasses
import email.utils
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bridge.mail.message import ParsedMessage
from bridge.senderauth.arc import ArcHop, ArcResult, ArcStatus, arc_vouch, verify_arc
from bridge.senderauth.dkim import DkimResult, DkimStatus, verify_dkim
from bridge.senderauth.dmarc import (
    DmarcPolicy,
    DmarcResult,
    DmarcStatus,
    aligned,
    discover_policy,
    evaluate,
)
from bridge.senderauth.received import (
    DEFAULT_TRUSTED_RECEIVERS,
    ClientSearch,
    TrustedReceivers,
    find_client,
)
from bridge.senderauth.resolver_protocol import Resolver
from bridge.senderauth.spf import SpfResult, SpfStatus, check_host

__all__ = [
    "DEFAULT_TRUSTED_RECEIVERS",
    "ArcResult",
    "ArcStatus",
    "AuthReport",
    "DkimResult",
    "DkimStatus",
    "DmarcPolicy",
    "DmarcResult",
    "DmarcStatus",
    "SpfResult",
    "SpfStatus",
    "VerifiedVia",
    "verify_sender",
]


class VerifiedVia(StrEnum):
    """What made ``verified`` true."""

    DMARC = "dmarc"  # an aligned SPF or DKIM pass checked here
    ARC = "arc"  # a trusted ARC sealer's recorded DMARC pass


@dataclass(frozen=True, slots=True)
class AuthReport:
    """Who sent a message, as far as DNS-based authentication can tell.

    Attributes:
        verified: True on a DMARC pass for the From domain, or when a
            trusted ARC sealer vouches for one (``verified_via`` says which).
        from_domain: the single RFC 5322.From domain; None when there is no
            From address or more than one.
        dmarc: the DMARC verdict and the domain owner's policy.
        spf: SPF for the client found in the trusted Received chain.
        dkim: one result per DKIM-Signature, top to bottom.
        provider_results: the Authentication-Results fields written inside
            the trusted chain, verbatim and newline-separated; "" if none.
        arc: the ARC chain's verdict (always evaluated).
        verified_via: ``dmarc`` or ``arc`` when verified, else None.
        arc_vouch: the ARC set whose recorded DMARC pass verified the
            message, when ``verified_via`` is ``arc``.
    """

    verified: bool
    from_domain: str | None
    dmarc: DmarcResult
    spf: SpfResult
    dkim: tuple[DkimResult, ...]
    provider_results: str
    arc: ArcResult = ArcResult(ArcStatus.NONE)
    verified_via: VerifiedVia | None = None
    arc_vouch: ArcHop | None = None


def verify_sender(
    parsed: ParsedMessage,
    resolver: Resolver,
    trusted_receivers: Sequence[str] = (),
    *,
    trusted_arc_sealers: Sequence[str] = (),
    now: int | None = None,
) -> AuthReport:
    """Authenticate the sender of one delivered message.

    Args:
        parsed: the message, parsed once by ``bridge.mail.message.parse``.
        resolver: the DNS seam.
        trusted_receivers: the account's receiving hosts, added to
            ``DEFAULT_TRUSTED_RECEIVERS``: host names, ``.suffix`` patterns
            (any subdomain) or IP networks (``10.0.0.0/8``).
        trusted_arc_sealers: ARC sealing domains (each covers its
            subdomains) whose recorded DMARC pass may verify a message that
            fails DMARC here; empty turns that off.
        now: Unix time for SPF's ``%{t}`` macro; pyspf's clock when None.

    Returns:
        The report. DNS failures and bad records are results, not exceptions.
    """
    trusted = TrustedReceivers.from_patterns([*DEFAULT_TRUSTED_RECEIVERS, *trusted_receivers])
    received = _header_values(parsed, "Received")
    search = find_client(received, trusted)
    spf = _check_spf(parsed, resolver, search, now)
    signatures = verify_dkim(parsed.raw, resolver)
    arc = verify_arc(parsed.raw, resolver) if _has_arc(parsed) else ArcResult(ArcStatus.NONE, reason="no ARC sets")
    provider = _provider_results(parsed, search.boundary)
    from_domain, problem = _from_domain(parsed)
    if from_domain is None:
        dmarc = DmarcResult(DmarcStatus.PERMERROR, DmarcPolicy.NONE, None, problem)
        return AuthReport(False, None, dmarc, spf, tuple(signatures), provider, arc)
    lookup = discover_policy(resolver, from_domain)
    strict_dkim = lookup.record.strict_dkim if lookup.record else False
    signatures = [dataclasses.replace(sig, aligned=aligned(sig.domain, from_domain, strict_dkim)) for sig in signatures]
    dmarc = evaluate(
        lookup,
        from_domain,
        spf.domain if spf.result is SpfStatus.PASS else None,
        [sig.domain for sig in signatures if sig.result is DkimStatus.PASS],
    )
    if dmarc.result is DmarcStatus.PASS:
        return AuthReport(True, from_domain, dmarc, spf, tuple(signatures), provider, arc, VerifiedVia.DMARC)
    vouch = arc_vouch(arc, from_domain, trusted_arc_sealers)
    via = VerifiedVia.ARC if vouch is not None else None
    return AuthReport(vouch is not None, from_domain, dmarc, spf, tuple(signatures), provider, arc, via, vouch)


def _has_arc(parsed: ParsedMessage) -> bool:
    # Most mail has no ARC header; skip dkimpy's second parse of the message for it.
    return any(name.lower() in _ARC_FIELDS for name in parsed.tree.keys())


_ARC_FIELDS = frozenset({"arc-seal", "arc-message-signature", "arc-authentication-results"})


def _header_values(parsed: ParsedMessage, name: str) -> list[str]:
    return [str(value) for value in parsed.tree.get_all(name, [])]


def _check_spf(parsed: ParsedMessage, resolver: Resolver, search: ClientSearch, now: int | None) -> SpfResult:
    hop = search.hop
    if hop is None or hop.ip is None:
        return SpfResult(SpfStatus.NONE, reason=search.reason)
    return_paths = _header_values(parsed, "Return-Path")
    if not return_paths:
        return SpfResult(SpfStatus.NONE, ip=hop.ip, helo=hop.helo, reason="no Return-Path")
    # The topmost Return-Path is the one the delivering MTA wrote (RFC 5321 § 4.4).
    mail_from = _reverse_path(return_paths[0])
    helo = hop.helo or ""
    if not mail_from and not helo:
        return SpfResult(SpfStatus.NONE, ip=hop.ip, reason="null sender and no HELO")
    # An empty reverse-path makes pyspf check postmaster@HELO (RFC 7208 § 2.4).
    return check_host(resolver, hop.ip, mail_from, helo, now)


def _reverse_path(value: str) -> str:
    """The address inside a Return-Path value; "" for the null path ``<>``."""
    text = value.strip()
    if text.startswith("<"):
        text = text[1:].split(">", 1)[0]
    # RFC 5321 § 4.1.2 source routes ("@a,@b:user@d") are ignored.
    return text.rsplit(":", 1)[-1].strip() if text.startswith("@") else text.strip()


def _from_domain(parsed: ParsedMessage) -> tuple[str | None, str]:
    values = _header_values(parsed, "From")
    if not values:
        return None, "no From header"
    addresses = [addr for _name, addr in email.utils.getaddresses(values) if addr]
    if len(addresses) != 1:
        # RFC 7489 § 6.6.1: DMARC needs exactly one author domain.
        return None, f"{len(addresses)} From addresses; need exactly one"
    local, at, domain = addresses[0].rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not at or not local or not domain or "." not in domain:
        return None, "From address has no usable domain"
    return domain, ""


def _provider_results(parsed: ParsedMessage, boundary: int) -> str:
    # Authentication-Results written inside the trusted chain: those above
    # the Received field that follows the boundary hop (providers add theirs
    # just below their own Received field, RFC 8601 § 5).
    found: list[str] = []
    seen_received = 0
    for name, value in parsed.tree.items():
        lname = name.lower()
        if lname == "received":
            seen_received += 1
            if seen_received > boundary + 1:
                break
        elif lname == "authentication-results":
            found.append(" ".join(str(value).split()))
    return "\n".join(found)
