"""Value types of bounce classification: Kind, Reason, BounceRecipient, Report.

Pure: no I/O. Holds only data shapes; every rule lives in the sibling modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What an inbound message is, as far as delivery reporting goes."""

    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    AUTOREPLY = "autoreply"
    DELIVERED = "delivered"


class Reason(StrEnum):
    """Why a recipient failed: the Sisimai 5.2 reason taxonomy.

    The corpus expectations use these names, and they are finer than most
    callers need; ``REASON_CLASS`` folds them into a few coarse classes.
    """

    USERUNKNOWN = "userunknown"
    HOSTUNKNOWN = "hostunknown"
    HASMOVED = "hasmoved"
    NOTACCEPT = "notaccept"
    MAILBOXFULL = "mailboxfull"
    SYSTEMFULL = "systemfull"
    EXPIRED = "expired"
    FILTERED = "filtered"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    SPAMDETECTED = "spamdetected"
    POLICYVIOLATION = "policyviolation"
    BADREPUTATION = "badreputation"
    REQUIREPTR = "requireptr"
    AUTHFAILURE = "authfailure"
    SECURITYERROR = "securityerror"
    NORELAYING = "norelaying"
    VIRUSDETECTED = "virusdetected"
    CONTENTERROR = "contenterror"
    NOTCOMPLIANTRFC = "notcompliantrfc"
    SYNTAXERROR = "syntaxerror"
    FAILEDSTARTTLS = "failedstarttls"
    NETWORKERROR = "networkerror"
    TOOMANYCONN = "toomanyconn"
    SPEEDING = "speeding"
    SYSTEMERROR = "systemerror"
    MAILERERROR = "mailererror"
    SUSPEND = "suspend"
    MESGTOOBIG = "mesgtoobig"
    EXCEEDLIMIT = "exceedlimit"
    ONHOLD = "onhold"
    UNDEFINED = "undefined"
    DELIVERED = "delivered"
    FEEDBACK = "feedback"
    VACATION = "vacation"


# Coarse classes, following the mapping suggested by the corpus README. The
# content rejections it leaves out are grouped with "blocked" (the receiver
# refused the message itself) and protocol-level failures with "temporary".
REASON_CLASS: dict[Reason, str] = {
    Reason.USERUNKNOWN: "userunknown",
    Reason.HOSTUNKNOWN: "userunknown",
    Reason.HASMOVED: "userunknown",
    Reason.NOTACCEPT: "userunknown",
    Reason.MAILBOXFULL: "mailboxfull",
    Reason.SYSTEMFULL: "mailboxfull",
    Reason.EXPIRED: "expired",
    Reason.FILTERED: "blocked",
    Reason.REJECTED: "blocked",
    Reason.BLOCKED: "blocked",
    Reason.SPAMDETECTED: "blocked",
    Reason.POLICYVIOLATION: "blocked",
    Reason.BADREPUTATION: "blocked",
    Reason.REQUIREPTR: "blocked",
    Reason.AUTHFAILURE: "blocked",
    Reason.SECURITYERROR: "blocked",
    Reason.NORELAYING: "blocked",
    Reason.VIRUSDETECTED: "blocked",
    Reason.CONTENTERROR: "blocked",
    Reason.NOTCOMPLIANTRFC: "blocked",
    Reason.SYNTAXERROR: "temporary",
    Reason.FAILEDSTARTTLS: "temporary",
    Reason.NETWORKERROR: "temporary",
    Reason.TOOMANYCONN: "temporary",
    Reason.SPEEDING: "temporary",
    Reason.SYSTEMERROR: "temporary",
    Reason.MAILERERROR: "temporary",
    Reason.SUSPEND: "suspend",
    Reason.MESGTOOBIG: "size",
    Reason.EXCEEDLIMIT: "size",
    Reason.ONHOLD: "undecided",
    Reason.UNDEFINED: "undecided",
    Reason.DELIVERED: "delivered",
    Reason.FEEDBACK: "feedback",
    Reason.VACATION: "vacation",
}


@dataclass(frozen=True, slots=True)
class BounceRecipient:
    """One recipient of a delivery report.

    Attributes:
        recipient: the failed (or delivered) address, lower-cased domain.
        action: RFC 3464 § 2.3.3 action: failed, delayed, delivered, relayed,
            expanded.
        status: RFC 3463 enhanced status code, ``X.0.0`` when the report
            carries only the class.
        reply_code: RFC 5321 three-digit reply code, or None.
        diagnostic: the remote or local error text, one line.
        remote_mta: host that produced the error, if named.
        reason: classified reason.
        hard: True when retrying the address is pointless (see ``reasons``).
    """

    recipient: str
    action: str
    status: str
    reply_code: str | None
    diagnostic: str
    remote_mta: str | None
    reason: Reason
    hard: bool


@dataclass(frozen=True, slots=True)
class Report:
    """The classification of one inbound message.

    Attributes:
        kind: bounce, complaint, autoreply or delivered.
        recipients: one entry per recipient; for complaints the complaining
            mailbox, for auto-replies the address that answered.
        reporting_mta: RFC 3464 Reporting-MTA (or the ARF reporter), if any.
        original_message_id: Message-ID of the message this report is about,
            without angle brackets.
        feedback_type: RFC 5965 Feedback-Type for complaints.
    """

    kind: Kind
    recipients: tuple[BounceRecipient, ...] = ()
    reporting_mta: str | None = None
    original_message_id: str | None = None
    feedback_type: str | None = None
