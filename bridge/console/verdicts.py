"""A message's ``auth`` verdict in plain words, for the message browser. Pure: the record's JSON in.

The headline answers the one question an operator has ("did this really come
from who it says?"); the lines say what each check found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Verdict:
    verified: bool | None  # None: the bridge did not check this message
    headline: str
    lines: tuple[str, ...]


def _dkim_line(sig: dict[str, Any]) -> str:
    aligned = "aligned with From" if sig.get("aligned") else "not aligned with From"
    return (
        f"DKIM: {sig.get('result')} for {sig.get('domain') or '?'} (selector {sig.get('selector') or '?'}, {aligned})"
    )


def plain(auth: object) -> Verdict:
    if not isinstance(auth, dict):
        return Verdict(None, "Not checked: the bridge did not see this message arrive.", ())
    domain = auth.get("fromDomain") or "the From domain"
    dmarc = auth.get("dmarc") or {}
    spf = auth.get("spf") or {}
    arc = auth.get("arc") or {}
    lines = [
        f"DMARC: {dmarc.get('result', 'none')}"
        + (f" (policy {dmarc['policy']})" if dmarc.get("policy") else "")
        + (f" for {dmarc['domain']}" if dmarc.get("domain") else ""),
        f"SPF: {spf.get('result', 'none')}"
        + (f" for {spf['domain']}" if spf.get("domain") else "")
        + (f" from {spf['ip']}" if spf.get("ip") else ""),
        *(_dkim_line(s) for s in auth.get("dkim") or []),
    ]
    if not auth.get("dkim"):
        lines.append("DKIM: no signature")
    if arc.get("result") not in (None, "none"):
        lines.append(
            f"ARC: {arc.get('result')}"
            + (f", trusted sealer {arc['trustedSealer']}" if arc.get("trustedSealer") else "")
        )
    if auth.get("verified"):
        via = auth.get("verifiedVia") or "dmarc"
        return Verdict(True, f"Verified: this message really comes from {domain} (via {via}).", tuple(lines))
    return Verdict(False, f"Not verified: nothing proves this message comes from {domain}.", tuple(lines))
