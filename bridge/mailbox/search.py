"""The API's ``search`` object as IMAP SEARCH atoms (RFC 3501 § 6.4.4; X-GM-RAW on Gmail).

Pure. Values are quoted strings; dates are day-granular as IMAP's SINCE/BEFORE are
(``SINCE`` includes its day, ``BEFORE`` excludes its own).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bridge.errors import Unprocessable

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STRINGS = (("from", "FROM"), ("to", "TO"), ("cc", "CC"), ("subject", "SUBJECT"), ("body", "BODY"), ("text", "TEXT"))
_BOOLEANS = (("seen", "SEEN", "UNSEEN"), ("flagged", "FLAGGED", "UNFLAGGED"), ("answered", "ANSWERED", "UNANSWERED"),
             ("draft", "DRAFT", "UNDRAFT"), ("deleted", "DELETED", "UNDELETED"))  # fmt: skip


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_date(value: str) -> str:
    """RFC 3501 date (``7-Dec-2026``) of an ISO date or RFC 3339 time (its calendar day as written)."""
    day = date.fromisoformat(value[:10]) if len(value) >= 10 else datetime.fromisoformat(value).date()
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


def criteria(search: dict[str, Any], *, gmail: bool) -> list[str]:
    """The atoms for ``UID SEARCH``; ALL when the search is empty.

    Raises:
        Unprocessable: gmailRaw on a server without X-GM-EXT-1 (code searchNotSupported).
    """
    atoms: list[str] = []
    for name, key in _STRINGS:
        if search.get(name) is not None:
            atoms += [key, quote(str(search[name]))]
    for name, yes, no in _BOOLEANS:
        if search.get(name) is not None:
            atoms.append(yes if search[name] else no)
    if search.get("since"):
        atoms += ["SINCE", imap_date(str(search["since"]))]
    if search.get("before"):
        atoms += ["BEFORE", imap_date(str(search["before"]))]
    for name, value in (search.get("header") or {}).items():
        atoms += ["HEADER", quote(str(name)), quote(str(value))]
    if search.get("uid"):
        atoms += ["UID", str(search["uid"])]
    if search.get("larger") is not None:
        atoms += ["LARGER", str(int(search["larger"]))]
    if search.get("smaller") is not None:
        atoms += ["SMALLER", str(int(search["smaller"]))]
    if search.get("gmailRaw"):
        if not gmail:
            raise Unprocessable("gmailRaw needs a Gmail account (X-GM-EXT-1)", code="searchNotSupported")
        atoms += ["X-GM-RAW", quote(str(search["gmailRaw"]))]
    return atoms or ["ALL"]
