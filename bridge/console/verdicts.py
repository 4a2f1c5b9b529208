"""A message's ``auth`` verdict in plain words, for the message browser. Pure: the message's JSON in.

The headline answers the one question an operator has ("did this really come
from who it says?"); the lines say what each check found. Two shapes are read:
the full report of an event (``dmarc``, ``spf`` … as objects, ``dkim`` a list of
signatures) and the compact verdict the message index keeps (each check's
result as a string, ``dkimDomains``, ``arcSealer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Verdict:
    verified: bool | None  # None: the bridge did not check this message
    headline: str
    lines: tuple[str, ...]


def _check(value: object) -> dict[str, Any]:
    """A check as an object, whichever shape it came in (a bare result string in the compact verdict)."""
    if isinstance(value, dict):
        return value
    return {"result": value} if isinstance(value, str) else {}


def _dkim_lines(auth: dict[str, Any]) -> list[str]:
    dkim = auth.get("dkim")
    if isinstance(dkim, list):
        return [
            f"DKIM: {s.get('result')} for {s.get('domain') or '?'} (selector {s.get('selector') or '?'}, "
            f"{'aligned with From' if s.get('aligned') else 'not aligned with From'})"
            for s in dkim
            if isinstance(s, dict)
        ] or ["DKIM: no signature"]
    if isinstance(dkim, str):
        domains = auth.get("dkimDomains") or []
        return [f"DKIM: {dkim}" + (f" for {', '.join(domains)}" if domains else "")]
    return ["DKIM: no signature"]


def plain(auth: object) -> Verdict:
    if not isinstance(auth, dict):
        return Verdict(None, "Not checked: the bridge did not see this message arrive.", ())
    domain = auth.get("fromDomain") or "the From domain"
    dmarc, spf, arc = _check(auth.get("dmarc")), _check(auth.get("spf")), _check(auth.get("arc"))
    lines = [
        f"DMARC: {dmarc.get('result') or 'none'}"
        + (f" (policy {dmarc['policy']})" if dmarc.get("policy") else "")
        + (f" for {dmarc['domain']}" if dmarc.get("domain") else ""),
        f"SPF: {spf.get('result') or 'none'}"
        + (f" for {spf['domain']}" if spf.get("domain") else "")
        + (f" from {spf['ip']}" if spf.get("ip") else ""),
        *_dkim_lines(auth),
    ]
    sealer = arc.get("trustedSealer") or auth.get("arcSealer")
    if arc.get("result") not in (None, "none"):
        lines.append(f"ARC: {arc.get('result')}" + (f", trusted sealer {sealer}" if sealer else ""))
    if auth.get("verified"):
        via = auth.get("verifiedVia") or "dmarc"
        return Verdict(True, f"Verified: this message really comes from {domain} (via {via}).", tuple(lines))
    return Verdict(False, f"Not verified: nothing proves this message comes from {domain}.", tuple(lines))
