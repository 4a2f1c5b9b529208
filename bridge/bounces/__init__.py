"""Bounce, complaint and auto-reply classification of inbound mail.

Pure: no I/O, no clock, no environment. ``classify`` reads only
``ParsedMessage.tree`` (and never mutates it) and returns a value. Module map:

    model       value types (Kind, Reason, BounceRecipient, Report)
    parts       MIME access: decoded headers and texts, returned message
    dsn         RFC 3464 delivery-status parsing, per recipient
    textbounce  non-DSN bounce heuristics (Exim, qmail, Sendmail v5, ...)
    stage       the SMTP command (RCPT, DATA, MAIL, ...) a refusal answered
    codes       SMTP reply / RFC 3463 status code extraction
    statuses    enhanced status code (RFC 3463, IANA, Microsoft) to reason
    providers   providers' documented error codes (GoDaddy, Cox, Spectrum, Orange)
    causes      specific-cause wordings (PTR, TLS, reputation, auth, spam, ...)
    addressing  mailbox, address and host wordings (unknown, full, moved, ...)
    wordings    the ordered wording table and text_reason
    reasonorder the taxonomy's own decision order (Sisimai's Reason/Status/Command, ported)
    lhosts      one reporting MTA's own message tables (Exim, qmail), once identified
    reasons     reason decision (code vs words vs stage), hard/soft verdict
    documented  wordings documented by MTA sources and providers (documented.jsonl)
    plainwords  plain-language wordings: a subject and what happened to it
    nearest     last resort: the reason of the most similar documented example
    phrases     the wording tables' building block (alternation, phrases_of)
    families    conventions of one MTA/provider family (PowerMTA, OpenSMTPD, EZweb, KDDI, Zoho, AOL)
    arf         RFC 5965 feedback reports and non-ARF complaint forwards
    autoreply   RFC 3834 and vacation replies
    classifier  the order of the checks and the assembly of a Report

May import: mail.
Purity: all
"""

from __future__ import annotations

from bridge.bounces.classifier import classify as _classify_tree
from bridge.bounces.model import REASON_CLASS, BounceRecipient, Kind, Reason, Report
from bridge.mail.message import ParsedMessage

__all__ = ["REASON_CLASS", "BounceRecipient", "Kind", "Reason", "Report", "classify"]


def classify(parsed: ParsedMessage) -> Report | None:
    """Decide whether a message is a bounce, complaint, auto-reply or success DSN.

    Bounces are decided first: failure reports also carry
    ``Auto-Submitted: auto-replied`` (RFC 3834 § 5), so an auto-reply is
    only what remains.

    Args:
        parsed: the message, parsed once by ``bridge.mail.message.parse``.

    Returns:
        A Report, or None for ordinary mail.
    """
    return _classify_tree(parsed.tree)
