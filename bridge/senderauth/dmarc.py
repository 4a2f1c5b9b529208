"""DMARC (RFC 7489): policy discovery, identifier alignment and the verdict.

Pure: no sockets, no clock, no environment. DNS goes only through the
injected Resolver; organizational domains come from the Public Suffix List
shipped inside the ``publicsuffixlist`` package (RFC 7489 § 3.2), loaded once
on first use. This module does not run SPF or DKIM; it judges their results.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from bridge.senderauth.resolver_protocol import Rcode, Resolver


class DmarcStatus(StrEnum):
    """DMARC results, named as in RFC 7489 § 11.2 / RFC 8601 § 2.7."""

    NONE = "none"
    PASS = "pass"  # noqa: S105  (a result name, not a secret)
    FAIL = "fail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class DmarcPolicy(StrEnum):
    """Requested Mail Receiver policy (RFC 7489 § 6.3 ``p=``)."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """The tags of a DMARC record this bridge uses (RFC 7489 § 6.3)."""

    policy: DmarcPolicy
    subdomain_policy: DmarcPolicy | None = None
    strict_dkim: bool = False  # adkim=s
    strict_spf: bool = False  # aspf=s
    pct: int = 100


@dataclass(frozen=True, slots=True)
class DmarcResult:
    """The DMARC verdict for one message.

    Attributes:
        result: pass only when an aligned SPF or DKIM pass exists.
        policy: the policy the domain owner asks for (``sp=`` for a
            subdomain whose record was found at the organizational domain);
            ``none`` when there is no record.
        domain: the domain whose ``_dmarc`` record applied; the From domain
            when no record was found.
        reason: why, in a few words.
        pct: the record's ``pct=`` (RFC 7489 § 6.6.4 sampling is up to the caller).
    """

    result: DmarcStatus
    policy: DmarcPolicy
    domain: str | None
    reason: str = ""
    pct: int = 100


@dataclass(frozen=True, slots=True)
class PolicyLookup:
    """Outcome of policy discovery (RFC 7489 § 6.6.3).

    ``record`` is None when there is no usable record; then ``status`` says
    whether that is ``none``, ``temperror`` or ``permerror``.
    """

    status: DmarcStatus
    record: DmarcRecord | None
    domain: str
    is_org_fallback: bool = False
    reason: str = ""


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def load_public_suffixes() -> None:
    """Parse the public suffix list now (~0.3 s of CPU) rather than inside the first message's
    analysis; long-running processes call this at start."""
    _psl()


# Cached: every message asks for its From domain and each DKIM/SPF domain, mostly the same
# few; publicsuffixlist IDNA-encodes and walks the labels each time (~0.1 ms).
@lru_cache(maxsize=4096)
def organizational_domain(domain: str) -> str:
    """The organizational domain (RFC 7489 § 3.2) of a host name.

    A public suffix itself, or an unknown single label, is its own
    organizational domain.
    """
    domain = domain.lower().rstrip(".")
    org: str | None = _psl().privatesuffix(domain)
    return org if org else domain


def is_public_suffix(domain: str) -> bool:
    """Whether a name is itself a public suffix (``com``, ``co.uk``), per the Public Suffix List."""
    domain = domain.lower().rstrip(".")
    return bool(domain) and _psl().publicsuffix(domain) == domain


def aligned(identifier: str, from_domain: str, strict: bool) -> bool:
    """Identifier alignment (RFC 7489 § 3.1): exact match, or same organizational domain."""
    a = identifier.lower().rstrip(".")
    b = from_domain.lower().rstrip(".")
    if not a or not b:
        return False
    if strict:
        return a == b
    return organizational_domain(a) == organizational_domain(b)


def parse_record(text: str) -> DmarcRecord | str:
    """Parse a DMARC TXT record; returns the record or an error text.

    RFC 7489 § 6.6.3: an invalid or missing ``p=`` with a valid ``rua=`` is
    treated as ``p=none``; without ``rua=`` the record is unusable.
    """
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    policy = _policy(tags.get("p"))
    if policy is None:
        if tags.get("rua", "").lower().startswith("mailto:"):
            policy = DmarcPolicy.NONE
        else:
            return "record has no valid p= tag"
    try:
        pct = min(100, max(0, int(tags.get("pct", "100"))))
    except ValueError:
        pct = 100  # RFC 7489 § 6.3: unknown values are ignored
    return DmarcRecord(
        policy=policy,
        subdomain_policy=_policy(tags.get("sp")),
        strict_dkim=tags.get("adkim", "r").lower() == "s",
        strict_spf=tags.get("aspf", "r").lower() == "s",
        pct=pct,
    )


def _policy(value: str | None) -> DmarcPolicy | None:
    try:
        return DmarcPolicy(value.lower()) if value is not None else None
    except ValueError:
        return None


def discover_policy(resolver: Resolver, from_domain: str) -> PolicyLookup:
    """Find the DMARC record for a From domain (RFC 7489 § 6.6.3).

    Query ``_dmarc.<from domain>``; if it has no record, query
    ``_dmarc.<organizational domain>``.
    """
    from_domain = from_domain.lower().rstrip(".")
    found = _lookup(resolver, from_domain)
    if found is not None:
        return found
    org = organizational_domain(from_domain)
    if org != from_domain:
        found = _lookup(resolver, org)
        if found is not None:
            return PolicyLookup(found.status, found.record, org, True, found.reason)
    return PolicyLookup(DmarcStatus.NONE, None, from_domain, reason="no DMARC record")


def _lookup(resolver: Resolver, domain: str) -> PolicyLookup | None:
    answer = resolver.txt(f"_dmarc.{domain}")
    if answer.rcode is Rcode.TEMPFAIL:
        return PolicyLookup(DmarcStatus.TEMPERROR, None, domain, reason="DNS failure")
    records = [r.decode("utf-8", "replace") for r in answer.records]
    # RFC 7489 § 6.6.3 step 3: records that do not start with v=DMARC1 are discarded.
    dmarc = [r for r in records if r.replace(" ", "").lower().startswith("v=dmarc1")]
    if not dmarc:
        return None
    if len(dmarc) > 1:  # step 5: several records means no DMARC processing
        return PolicyLookup(DmarcStatus.NONE, None, domain, reason="several DMARC records")
    parsed = parse_record(dmarc[0])
    if isinstance(parsed, str):
        return PolicyLookup(DmarcStatus.PERMERROR, None, domain, reason=parsed)
    return PolicyLookup(DmarcStatus.NONE, parsed, domain)


def evaluate(
    lookup: PolicyLookup,
    from_domain: str,
    spf_pass_domain: str | None,
    dkim_pass_domains: list[str],
) -> DmarcResult:
    """Judge DMARC from policy discovery and the authenticated identifiers.

    Args:
        lookup: result of ``discover_policy``.
        from_domain: the RFC 5322.From domain.
        spf_pass_domain: the SPF-authenticated domain, None unless SPF passed.
        dkim_pass_domains: d= of every passing DKIM signature.

    Returns:
        pass when one identifier aligns (RFC 7489 § 4.2), otherwise fail, or
        the lookup's none/temperror/permerror when there is no record.
    """
    record = lookup.record
    if record is None:
        return DmarcResult(lookup.status, DmarcPolicy.NONE, lookup.domain, lookup.reason)
    policy = record.policy
    if lookup.is_org_fallback and record.subdomain_policy is not None:
        policy = record.subdomain_policy  # RFC 7489 § 6.3 sp=
    for domain in dkim_pass_domains:
        if aligned(domain, from_domain, record.strict_dkim):
            return DmarcResult(
                DmarcStatus.PASS,
                policy,
                lookup.domain,
                f"aligned DKIM pass d={domain}",
                record.pct,
            )
    if spf_pass_domain and aligned(spf_pass_domain, from_domain, record.strict_spf):
        return DmarcResult(
            DmarcStatus.PASS,
            policy,
            lookup.domain,
            f"aligned SPF pass {spf_pass_domain}",
            record.pct,
        )
    return DmarcResult(
        DmarcStatus.FAIL,
        policy,
        lookup.domain,
        "no aligned SPF or DKIM pass",
        record.pct,
    )
