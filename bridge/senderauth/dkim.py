"""DKIM verification (RFC 6376, RFC 8301, RFC 8463) of every signature, through dkimpy.

Pure: no sockets, no environment. dkimpy is always called with ``dnsfunc=``
built from the injected Resolver, never with its default DNS. dkimpy itself
reads the clock for the t=/x= checks (RFC 6376 § 3.5); that is its only
side input. This module reports one result per ``DKIM-Signature`` and does
not judge alignment or policy: ``bridge.senderauth.dmarc`` does.

dkimpy answers only True/False or raises; the RFC 8601 result names are
recovered here from what the DNS callback saw and from the exception class:

* pass      signature and body hash verify with an acceptable key;
* fail      body hash or signature mismatch (RFC 6376 § 6.1.3);
* temperror key lookup failed temporarily (RFC 6376 § 6.1.2);
* permerror anything else that makes the signature unverifiable: bad tags,
  no key record, bad or revoked key, rsa-sha1 (RFC 8301 § 3.1), RSA keys
  under 1024 bits (RFC 8301 § 3.2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from bridge.senderauth.resolver_protocol import Rcode, Resolver

MIN_RSA_BITS = 1024  # RFC 8301 § 3.2

_DnsFunc = Callable[..., "bytes | None"]


class DkimStatus(StrEnum):
    """DKIM results, named as in RFC 8601 § 2.7.1."""

    NONE = "none"
    PASS = "pass"  # noqa: S105  (a result name, not a secret)
    FAIL = "fail"
    POLICY = "policy"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


@dataclass(frozen=True, slots=True)
class DkimResult:
    """Outcome for one DKIM-Signature.

    Attributes:
        result: the RFC 8601 result.
        domain: the signing domain (d=), lower case; "" if unreadable.
        selector: the selector (s=); "" if unreadable.
        aligned: whether d= aligns with the From domain (set by the caller
            that knows the DMARC mode; False here).
        reason: why, in a few words.
    """

    result: DkimStatus
    domain: str
    selector: str
    aligned: bool = False
    reason: str = ""


@dataclass
class _KeyLookup:
    """What the DNS callback saw for the signature being verified."""

    rcode: Rcode | None = None
    record: bytes | None = None


def _make_dnsfunc(resolver: Resolver, seen: _KeyLookup) -> _DnsFunc:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        answer = resolver.txt(name.decode("ascii", "replace"))
        seen.rcode = answer.rcode
        if answer.rcode is Rcode.TEMPFAIL:
            raise dkim.DnsTimeoutError(f"temporary DNS failure for {name!r}")
        # RFC 6376 § 3.6.2.2: several TXT records for one key are ambiguous;
        # use the first, as dkimpy's own lookup does.
        seen.record = answer.records[0] if answer.records else None
        return seen.record

    return dnsfunc


def verify_dkim(raw: bytes, resolver: Resolver) -> list[DkimResult]:
    """Verify every DKIM-Signature of a message.

    Args:
        raw: the message bytes exactly as fetched.
        resolver: the DNS seam for key records.

    Returns:
        One result per DKIM-Signature header, top to bottom; empty if none.
    """
    try:
        verifier = dkim.DKIM(raw, minkey=MIN_RSA_BITS)
    except dkim.DKIMException as exc:
        return [DkimResult(DkimStatus.PERMERROR, "", "", reason=f"unparseable message: {exc}")]
    headers: list[tuple[bytes, bytes]] = verifier.headers
    signatures = [value for name, value in headers if name.lower() == b"dkim-signature"]
    return [_verify_one(verifier, idx, value, resolver) for idx, value in enumerate(signatures)]


def _verify_one(verifier: dkim.DKIM, idx: int, value: bytes, resolver: Resolver) -> DkimResult:
    try:
        tags: dict[bytes, bytes] = parse_tag_value(value)
    except InvalidTagValueList as exc:
        return DkimResult(DkimStatus.PERMERROR, "", "", reason=f"bad tag list: {exc}")
    domain = _text(tags.get(b"d", b"")).lower()
    selector = _text(tags.get(b"s", b""))

    def result(status: DkimStatus, reason: str) -> DkimResult:
        return DkimResult(status, domain, selector, reason=reason)

    if tags.get(b"a", b"").strip().lower() == b"rsa-sha1":
        return result(DkimStatus.PERMERROR, "rsa-sha1 is not accepted (RFC 8301 § 3.1)")
    seen = _KeyLookup()
    try:
        ok = verifier.verify(idx=idx, dnsfunc=_make_dnsfunc(resolver, seen))
    except dkim.ValidationError as exc:
        if "body hash mismatch" in str(exc):
            return result(DkimStatus.FAIL, "body hash mismatch")
        return result(DkimStatus.PERMERROR, f"invalid signature: {exc}")
    except dkim.KeyFormatError as exc:  # raised after verification for small keys
        return result(DkimStatus.PERMERROR, f"unacceptable key: {exc}")
    except dkim.DKIMException as exc:
        return result(DkimStatus.PERMERROR, f"{type(exc).__name__}: {exc}")
    if ok:
        return result(DkimStatus.PASS, "signature verified")
    return _classify_false(seen, result)


def _classify_false(seen: _KeyLookup, result: Callable[[DkimStatus, str], DkimResult]) -> DkimResult:
    if seen.rcode is Rcode.TEMPFAIL:
        return result(DkimStatus.TEMPERROR, "key lookup failed temporarily")
    if seen.rcode is None:
        return result(DkimStatus.PERMERROR, "signature not verifiable")
    if seen.record is None:
        return result(DkimStatus.PERMERROR, "no key record for selector")  # RFC 6376 § 6.1.2
    try:
        dkim.evaluate_pk(b"key", seen.record)
    except dkim.DKIMException as exc:
        return result(DkimStatus.PERMERROR, f"bad key record: {exc}")
    except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
        return result(DkimStatus.PERMERROR, f"bad key record: {exc}")
    return result(DkimStatus.FAIL, "signature did not verify")


def _text(value: bytes) -> str:
    return re.sub(r"\s+", "", value.decode("utf-8", "replace"))
