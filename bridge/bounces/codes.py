"""Find SMTP reply codes and enhanced status codes in free text.

Pure: no I/O. Owns the regular expressions for RFC 5321 § 4.2 reply codes and
RFC 3463 enhanced status codes, tuned to avoid IP addresses, dates and
version numbers that look alike.
"""

from __future__ import annotations

import re

# RFC 3463 § 2: class "." subject "." detail; class is 2, 4 or 5, subject and
# detail up to three digits. Lookarounds keep "192.0.2.5" from matching.
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]|\s*[ap]m\b)", re.IGNORECASE)
# RFC 5321 § 4.2: three digits then a space, a hyphen (multi-line reply) or
# the end. Must not be part of a longer number, an address or a time.
_REPLY_RE = re.compile(
    r"(?<![\w.:/#\-\[=])([245][0-5]\d)(?:[ \-]|$)(?!:|\s*(?:bytes|days|hours|minutes)\b)", re.MULTILINE
)
# A reply code a vendor labels instead of quoting the reply (Zoho
# "ERROR_CODE :421", "ResponseCode 421").
_LABELLED_REPLY_RE = re.compile(r"\b(?:error_code|response ?code|reply ?code)\s*:?\s*([245]\d\d)\b", re.IGNORECASE)
_DSN_STATUS_RE = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")


def find_status(text: str, klass: str | None = None) -> str | None:
    """Return the enhanced status code of the failure in text: the first specific failure code.

    A transcript quotes the replies that went well before the one that
    failed ("250 2.1.5 Ok", then "451 4.3.0 Error"): the failure is the
    report's subject, a 2.X.X code only when there is no other. Weak failure
    codes give way to a more specific one later in the text: X.Y.0 says only
    the class or the subject ("5.1.0 - Unknown address error 550-'5.2.2 ...
    Mailbox Full'"), and X.4.7 "delivery time expired" is, per
    RFC 3463 § 3.5, to be replaced by "the code for the actual problem found
    when delivery was attempted" when there is one ("554 4.4.7 Message
    expired: ... <421 4.4.2 Connection timed out>").

    Args:
        text: diagnostic text.
        klass: when given ("4" or "5"), only codes of that class count.

    Returns:
        The code like "5.1.1", or None.
    """
    success: str | None = None
    weak: str | None = None
    for match in _STATUS_RE.finditer(text):
        if klass is not None and match.group(1) != klass:
            continue
        code = ".".join(match.groups())
        if match.group(1) == "2":
            success = success or code
        elif is_weak(code):
            weak = weak or code
        else:
            return code
    return weak or success


def is_weak(code: str) -> bool:
    """X.Y.0 and X.4.7: codes a more specific one in the same text replaces.

    RFC 3463 § 3.3-3.9: the detail 0 of every subject is "other or
    undefined" status of that subject (X.0.0 says only the class, X.1.0 only
    "something about the address"); § 3.5 asks X.4.7 to give way to the
    actual problem's code.
    """
    return code.endswith(".0") or code.endswith(".4.7")


def find_reply_code(text: str) -> str | None:
    """Return the first SMTP reply code that starts an error reply in text (250 only when none does)."""
    success: str | None = None
    for match in _REPLY_RE.finditer(text):
        code = match.group(1)
        if code[0] in "45":
            return code
        if code == "250":
            success = success or code
    labelled = _LABELLED_REPLY_RE.search(text)
    if labelled and labelled.group(1)[0] in "45":
        return labelled.group(1)
    return success


def parse_dsn_status(value: str) -> str | None:
    """Read an RFC 3464 § 2.3.4 Status field ("5.1.1 (comment)")."""
    match = _DSN_STATUS_RE.match(value)
    return ".".join(match.groups()) if match else None


def is_generic(status: str) -> bool:
    """True for X.0.0-style codes that say only the class (RFC 3463 § 3.1)."""
    parts = status.split(".")
    return len(parts) == 3 and parts[1] == "0" and parts[2] == "0"


def is_specific_failure(status: str) -> bool:
    """True for a failure code that names a subject and a detail (4.2.2, 5.7.1; not 5.0.0, 5.7.0, 2.x.x)."""
    parts = status.split(".")
    return len(parts) == 3 and parts[0] in "45" and parts[1] != "0" and not parts[2].startswith("0")
