"""Conventions of one MTA or provider family that the generic reason rules get wrong.

Pure: no I/O. ``classifier`` decides every recipient with the generic rules
(``reasons``) first; ``apply`` then corrects the few readings where a family
of reports consistently means something else than its words or code say in
general. Each rule is keyed on what identifies the family in the report
itself (the software's own notice or DSN fields, the reporting or remote
host's domain, the report's From address), never on a file or a test
address, and each one is supported either by at least two reports of the
family in the visible corpus that agree, or by the family's published
documentation or source (cited at the rule). ``bench/score_bounces.py
--families`` shows, per family, how consistent the visible reports are.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from bridge.bounces.dsn import Dsn
from bridge.bounces.model import BounceRecipient, Reason
from bridge.bounces.parts import Message, header
from bridge.bounces.reasons import is_hard, report_action

R = Reason

POWERMTA = "powermta"
OPENSMTPD = "opensmtpd"
EZWEB = "ezweb"
ZOHO = "zoho"
AOL = "aol"

_FROM_DOMAIN_RE = re.compile(r"@([A-Za-z0-9.\-]+)>?\s*(?:\(.*\))?\s*$")
# OpenSMTPD's smtpd/bounce.c opens every notice with this sentence.
_OPENSMTPD_RE = re.compile(r"This is the MAILER-DAEMON, please DO NOT REPLY to this e-?mail")
# OpenSMTPD writes "address: <failstr>" with a fixed set of failure strings
# (smtpd/mta.c relay->failstr, smtpd/queue.c "Envelope expired"). Each string
# names the cause, and OpenSMTPD repeats it unchanged in its "warning" (still
# queued) and "error" notices: the visible reports agree (a network error and
# a missing MX in delay warnings are read as the named cause, "Envelope
# expired" as expiry, "Domain does not exist" in a failure as an unknown
# host), so the generic "a delay report is the queue-time warning" reading
# does not apply to them.
_OPENSMTPD_FAILURES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (R.EXPIRED, re.compile(r"\bEnvelope expired\b")),
    # DNS_ENOTFOUND ("No MX found for domain"): the domain names no mail
    # host, so the address cannot be reached (hard, as an unknown host is).
    (
        R.HOSTUNKNOWN,
        re.compile(r"\b(?:Invalid domain name|Domain does not exist|Host not found|No MX found for domain)\b"),
    ),
    # RFC 7505 null MX, and every MX refusing every message.
    (R.NOTACCEPT, re.compile(r"\b(?:Domain does not accept mail|Destination seem to reject all mails)\b")),
    (
        R.NETWORKERROR,
        re.compile(
            r"\b(?:Network error on destination MXs|Temporary failure in MX lookup|No valid route to remote MX|"
            r"No valid route to destination|Address family mismatch on destination MXs|"
            r"Could not retrieve source address|Loop detected)\b"
        ),
    ),
    (R.SECURITYERROR, re.compile(r"\bCould not retrieve credentials\b")),
)
# EZweb (KDDI/au) puts its own verdict above the remote reply it quotes; a
# disabled account is reported as "550 user unknown" by the mailbox server
# but as this sentence by the gateway, and the gateway's verdict is the one
# that holds (both visible EZweb reports with the sentence are suspensions,
# one of them quoting a "user unknown" reply).
_EZWEB_DISABLED_RE = re.compile(r"The user\(s\) account is disabled", re.IGNORECASE)
# KDDI/au's inbound servers (*.ezweb.ne.jp, msmx.au.com) answer an unknown
# address with "550 <address>: User unknown", also after DATA, and with an
# empty "550 : User unknown" when a filter refused the message (the
# ``reasons`` module reads that shape). The visible reports from these hosts
# agree (two without a written stage, three at DATA with 5.1.1); a bulk
# sender's notes on au's replies (note.com/sendmagic, "SMTP応答コードについて
# 【au編】", third-party) describe the echoed form the same way, adding that
# au also uses it for a recipient's reception block.
_KDDI_DOMAINS = ("ezweb.ne.jp", "au.com")
_KDDI_UNKNOWN_RE = re.compile(r">\s*:\s*user unknown", re.IGNORECASE)
_AOL_HOST_RE = re.compile(r"(?:^|\.)(?:mx|mail)\.aol\.com$", re.IGNORECASE)


def identify(msg: Message, notice: str, parsed: Dsn | None) -> str | None:
    """Name the family that wrote the report, when a convention below depends on it.

    Args:
        msg: the report.
        notice: its human-readable text.
        parsed: its RFC 3464 fields, if any.

    Returns:
        POWERMTA, OPENSMTPD, EZWEB, ZOHO, AOL or None.
    """
    if parsed is not None and any(
        name.startswith("x-powermta-") for block in parsed.recipients for name in block.fields
    ):
        # PowerMTA's own DSN extension fields (X-PowerMTA-VirtualMTA,
        # X-PowerMTA-BounceCategory).
        return POWERMTA
    if _OPENSMTPD_RE.search(notice):
        return OPENSMTPD
    sender = _from_domain(msg)
    if sender == "ezweb.ne.jp":
        return EZWEB
    if sender.endswith("zoho.com") or msg.get("X-ZohoMail") is not None:
        return ZOHO
    reporting = parsed.message_fields.get("reporting-mta", "") if parsed is not None else ""
    if sender == "aol.com" or _AOL_HOST_RE.search(reporting.rpartition(";")[2].strip()):
        return AOL
    return None


def _from_domain(msg: Message) -> str:
    match = _FROM_DOMAIN_RE.search(header(msg, "From"))
    return match.group(1).lower() if match else ""


def apply(family: str | None, notice: str, recipients: Sequence[BounceRecipient]) -> list[BounceRecipient]:
    """Return the recipients with the family's conventions applied (hard flag recomputed)."""
    out = []
    for row in recipients:
        reason = _reason(family, notice, row)
        # The action follows an expired reason (reasons.report_action).
        action = report_action(row.action, reason)
        if reason is not row.reason or action != row.action:
            row = dataclasses.replace(row, reason=reason, action=action, hard=is_hard(reason, row.status, action))
        out.append(row)
    return out


def _reason(family: str | None, notice: str, row: BounceRecipient) -> Reason:
    if row.action in ("delivered", "relayed", "expanded"):
        return row.reason
    if family == POWERMTA and row.status[1:] == ".2.1":
        # PowerMTA spells its code out ("Status: 5.2.1 (mailbox disabled,
        # not accepting messages)", RFC 3463 X.2.1) and means it, whatever
        # the remote's words: both visible PowerMTA reports with X.2.1
        # quote "User Unknown" and are suspensions.
        return R.SUSPEND
    if family == OPENSMTPD:
        named = next((reason for reason, rx in _OPENSMTPD_FAILURES if rx.search(row.diagnostic)), None)
        if named is not None:
            return named
    if family == EZWEB and _EZWEB_DISABLED_RE.search(notice):
        return R.SUSPEND
    if family == ZOHO and (row.reply_code or "").startswith("4"):
        # Zoho's reports quote the remote reply as "ERROR_CODE :421" /
        # "ResponseCode 421" under a generic headline (even "This is a
        # permanent error"); with a transient code the message is still in
        # Zoho's queue ("Message will be retried for 4 more day(s)"): both
        # visible Zoho reports with a 4xx code are the queue-time warning.
        return R.EXPIRED
    if family == AOL and row.status[1:] == ".4.4":
        # AOL's outbound relays (*.mx.aol.com) return X.4.4 "unable to
        # route" for a destination whose DNS gives no usable answer; all
        # three visible AOL reports with X.4.4 (a "Host not found", a
        # malformed MX reply, an "Email routing issue due to network") name
        # an address that cannot be reached, not a passing network fault.
        return R.HOSTUNKNOWN
    if row.reason is R.FILTERED and _is_kddi(row) and _KDDI_UNKNOWN_RE.search(row.diagnostic):
        # Per recipient: KDDI is the receiving provider, not the reporter.
        return R.USERUNKNOWN
    return row.reason


def _is_kddi(row: BounceRecipient) -> bool:
    domain = row.recipient.rpartition("@")[2].lower()
    remote = (row.remote_mta or "").lower()
    return domain in _KDDI_DOMAINS or remote.endswith(".ezweb.ne.jp") or remote == "msmx.au.com"
