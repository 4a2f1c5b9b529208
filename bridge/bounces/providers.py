"""Error codes that large mailbox providers document for their refusals.

Pure: no I/O. Some providers append their own code to every SMTP reply and
publish what each code means; the code then says more than the generic words
around it ("Mail rejected", "Service refused, please try later"). Only codes
with a published meaning are listed, each table with the page it follows:

* GoDaddy / secureserver.net ``IBnnn`` (godaddy.com help "Fix rejected email
  with a bounce error");
* Cox ``AUP#CXxxx`` / ``AUP#IPBLnnnn`` (cox.com postmaster "email error codes");
* Spectrum / Charter ``AUP#I-nnnn`` and ``AUP#O-nnnn`` (spectrum.net "understanding
  email error codes");
* Orange / Wanadoo / La Poste ``OFRnnn_nnn`` / ``LPNnnn_nnn`` (Orange postmaster
  SMTP error codes, as collected by postmastery.com and smtpfieldmanual.com).
"""

from __future__ import annotations

import re

from bridge.bounces.model import Reason

R = Reason

_GODADDY_RE = re.compile(r"\bIB(\d{3})\b")
_GODADDY: dict[str, Reason] = {
    "401": R.SECURITYERROR,  # authentication not allowed on inbound servers
    "501": R.NOTCOMPLIANTRFC,  # blank From: address
    "502": R.NOTCOMPLIANTRFC,  # an IP address as the From: address
    "506": R.REJECTED,  # From: domain is invalid
    "508": R.AUTHFAILURE,  # invalid SPF record
    "108": R.REQUIREPTR,  # reverse DNS for this IP failed
    "212": R.SPAMDETECTED,  # content judged to be spam
    "705": R.VIRUSDETECTED,  # virus infected message
    "605": R.TOOMANYCONN,  # too many recipients
    "007": R.TOOMANYCONN,  # too many sessions from this IP
    "101": R.SPEEDING,  # server temporarily unavailable (volume)
    "110": R.BLOCKED,  # IP blocked for an hour (spam)
    "111": R.BLOCKED,  # IP blocked for the day (spam)
    "112": R.BLOCKED,  # IP blocked for an hour (invalid recipients)
    "113": R.BLOCKED,  # IP blocked for the day (invalid recipients)
    "504": R.SPEEDING,  # too many messages this hour
    "510": R.SPEEDING,  # too many messages per session
    "607": R.SPEEDING,  # too many recipients this hour
    "103": R.BADREPUTATION,  # poor reputation on Cloudmark CSI
    "104": R.BLOCKED,  # Spamhaus SBL
    "105": R.BLOCKED,  # Spamhaus XBL
    "106": R.BLOCKED,  # Spamhaus PBL
}

_COX_RE = re.compile(r"AUP#([A-Z]{2,}\d*)\b")
_COX: dict[str, Reason] = {
    "CXBL": R.BLOCKED,  # sending IP blocked for spam-like behaviour
    "CDRBL": R.BLOCKED,  # sending IP temporarily blocked (dynamic RBL)
    "CXDNS": R.REQUIREPTR,  # reverse DNS of the connecting IP fails
    "CXSNDR": R.AUTHFAILURE,  # sender domain fails SPF / DKIM
    "CXSMTP": R.REJECTED,  # SMTP protocol violation, sender not verified
    "CXCNCT": R.TOOMANYCONN,  # too many concurrent connections
    "CXMXRT": R.TOOMANYCONN,  # too many recipients, wait before sending more
    "CXTHRT": R.SECURITYERROR,  # sending limited: suspicious account activity
    "CXMJ": R.SECURITYERROR,  # sending blocked: suspicious account activity
}
_COX_PREFIXES: tuple[tuple[str, Reason], ...] = (("IPBL", R.BLOCKED), ("URLBL", R.SPAMDETECTED))

# Spectrum: "AUP#I-1310" (incoming) or "AUP#O-1310" (outgoing); ranges of the
# four-digit number share a meaning.
_SPECTRUM_RE = re.compile(r"AUP#[IO]n?-?(\d{4})\b", re.IGNORECASE)
_SPECTRUM: tuple[tuple[int, int, Reason], ...] = (
    (1000, 1000, R.BLOCKED),  # IP blocked for suspicious activity
    (1010, 1080, R.REJECTED),  # sending account blocked or limited
    (1090, 1090, R.SYSTEMERROR),  # cannot be processed now
    (1100, 1150, R.REQUIREPTR),  # no full-circle (forward-confirmed) DNS
    (1160, 1190, R.POLICYVIOLATION),  # against the sender domain's policy
    (1200, 1250, R.BLOCKED),  # listed by Cloudmark CSI or Spamhaus
    (1260, 1260, R.NETWORKERROR),  # IPv6 not accepted
    (1300, 1340, R.TOOMANYCONN),  # too many concurrent or total connections
    (1350, 1490, R.SPEEDING),  # message, recipient or invalid-recipient rate
    (1500, 1520, R.REJECTED),  # sending as another address or domain
    (1530, 1530, R.MESGTOOBIG),  # larger than 20 MB
    (1540, 1550, R.SPEEDING),  # too many messages per session / recipients
    (1560, 1560, R.POLICYVIOLATION),  # too many invalid recipients
    (1580, 1580, R.SPEEDING),  # too many recipients in a short period
)

# Orange/La Poste: the three digits after the underscore carry the meaning
# ("Invalid recipient. OFR_416", "LPN007_426"); the prefix names the server.
_ORANGE_RE = re.compile(r"\b(?:OFR|LPN|OUK)[0-9A-Z]*_(\d{3})\b", re.IGNORECASE)
_ORANGE: dict[str, Reason] = {
    "101": R.BLOCKED,  # blocked by our services (block list)
    "102": R.BLOCKED,  # source IP blocked for spam
    "103": R.BLOCKED,  # service refused
    "104": R.TOOMANYCONN,  # too many connections
    "305": R.SECURITYERROR,  # invalid authentication code
    "401": R.AUTHFAILURE,  # SPF: not allowed to send mail
    "402": R.SECURITYERROR,  # authentication required
    "403": R.REJECTED,  # invalid sender
    "405": R.REJECTED,  # invalid sender
    "415": R.REJECTED,  # invalid sender
    "416": R.USERUNKNOWN,  # invalid recipient
    "417": R.MAILBOXFULL,  # recipient over quota
    "420": R.SUSPEND,  # archived recipient
    "421": R.REJECTED,  # mail from not owned by user
    "426": R.SUSPEND,  # recipient account is blocked
    "505": R.SYSTEMERROR,  # service refused, try later (end of DATA)
    "506": R.SPAMDETECTED,  # mail rejected (content)
    "510": R.BLOCKED,  # service refused (end of DATA)
    "514": R.MESGTOOBIG,  # message size limit reached
    "517": R.AUTHFAILURE,  # DMARC verification failed
    "630": R.POLICYVIOLATION,  # client host rejected
    "999": R.BLOCKED,  # service refused
}


def provider_reason(text: str) -> Reason | None:
    """Return the reason a provider's documented error code in text names, or None."""
    if "IB" in text:
        match = _GODADDY_RE.search(text)
        if match and match.group(1) in _GODADDY:
            return _GODADDY[match.group(1)]
    if "AUP#" in text.upper():
        spectrum = _SPECTRUM_RE.search(text)
        if spectrum:
            number = int(spectrum.group(1))
            return next((reason for low, high, reason in _SPECTRUM if low <= number <= high), None)
        cox = _COX_RE.search(text)
        if cox:
            code = cox.group(1)
            return _COX.get(code) or next((r for prefix, r in _COX_PREFIXES if code.startswith(prefix)), None)
    orange = _ORANGE_RE.search(text)
    return _ORANGE.get(orange.group(1)) if orange else None
