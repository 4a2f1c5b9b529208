"""Enhanced status codes (RFC 3463, the IANA registry, Microsoft's extensions) to a Reason.

Pure: no I/O. Owns what a status code alone says about a failure. Only codes
whose meaning is specific enough to name a reason are listed; X.0.0, X.7.0,
X.7.1 and friends ("other", "delivery not authorized") are left to the text,
and ``reasons`` decides when a code outweighs the words next to it.
"""

from __future__ import annotations

from bridge.bounces.codes import is_generic
from bridge.bounces.model import Reason

R = Reason

# "subject.detail" -> reason, after the IANA "SMTP Enhanced Status Codes"
# registry (RFC 3463, 3886, 4954, 5248, 6710, 7293, 7372, 7505, 8689).
_STATUS_TABLE: dict[str, Reason] = {
    # X.1.0 "other address status": in practice the recipient address (a
    # sender-address refusal says "sender", which the wordings catch first).
    "1.0": R.USERUNKNOWN,
    "1.1": R.USERUNKNOWN,
    "1.2": R.HOSTUNKNOWN,
    "1.3": R.USERUNKNOWN,
    # X.1.4 "destination mailbox address ambiguous": the address names more
    # than one mailbox, none refused as unknown; the taxonomy files it as
    # filtered (Sisimai::SMTP::Status).
    "1.4": R.FILTERED,
    "1.6": R.HASMOVED,
    "1.7": R.REJECTED,
    "1.8": R.REJECTED,
    "1.9": R.SYSTEMERROR,  # RFC 3886: relayed to a non-compliant mailer, not a relay refusal
    "1.10": R.NOTACCEPT,  # RFC 7505: recipient domain has a null MX
    "2.1": R.SUSPEND,
    "2.2": R.MAILBOXFULL,
    "2.3": R.EXCEEDLIMIT,
    # X.2.4 mailing-list expansion problem: the list refused or failed the
    # post, not a local mailer program.
    "2.4": R.FILTERED,
    "3.0": R.SYSTEMERROR,
    "3.1": R.SYSTEMFULL,
    "3.2": R.NOTACCEPT,
    "3.3": R.SYSTEMERROR,
    "3.4": R.MESGTOOBIG,
    "3.5": R.SYSTEMERROR,
    "4.0": R.NETWORKERROR,
    "4.1": R.EXPIRED,
    "4.2": R.NETWORKERROR,
    "4.3": R.SYSTEMERROR,
    "4.4": R.HOSTUNKNOWN,
    "4.5": R.SYSTEMFULL,
    "4.6": R.NETWORKERROR,
    "4.7": R.EXPIRED,
    "4.8": R.FAILEDSTARTTLS,  # Exchange Online: MX hosts failed MTA-STS validation
    "5.1": R.SYNTAXERROR,
    "5.2": R.SYNTAXERROR,
    "5.3": R.TOOMANYCONN,  # too many recipients for one transaction
    "5.4": R.SYNTAXERROR,
    "5.5": R.SYSTEMERROR,  # wrong protocol version
    "7.2": R.FILTERED,
    "7.3": R.SECURITYERROR,
    "7.4": R.SECURITYERROR,
    "7.5": R.SECURITYERROR,
    "7.6": R.SECURITYERROR,
    "7.7": R.SECURITYERROR,
    "7.8": R.SECURITYERROR,
    "7.9": R.SECURITYERROR,
    "7.10": R.FAILEDSTARTTLS,
    "7.11": R.FAILEDSTARTTLS,
    "7.13": R.SUSPEND,  # user account disabled
    "7.14": R.SECURITYERROR,  # trust relationship required (RFC 5248)
    "7.15": R.SECURITYERROR,
    "7.16": R.MESGTOOBIG,  # message too big for the specified priority (RFC 6710)
    "7.17": R.HASMOVED,  # mailbox owner has changed (RFC 7293)
    "7.18": R.HASMOVED,  # domain owner has changed (RFC 7293)
    "7.20": R.AUTHFAILURE,
    "7.21": R.AUTHFAILURE,
    "7.22": R.AUTHFAILURE,
    "7.23": R.AUTHFAILURE,
    "7.24": R.AUTHFAILURE,
    "7.25": R.REQUIREPTR,
    "7.26": R.AUTHFAILURE,
    "7.27": R.NOTACCEPT,  # RFC 7505: sender domain has a null MX
    # IANA: "mail flood detected", the message is part of a flood of similar
    # abusive messages: spam, as the taxonomy files it, not a sending rate.
    "7.28": R.SPAMDETECTED,
    "7.29": R.AUTHFAILURE,
    "7.30": R.FAILEDSTARTTLS,  # REQUIRETLS support required (RFC 8689)
    # Microsoft's three-digit details (learn.microsoft.com, "Email
    # non-delivery reports and SMTP errors in Exchange Online").
    "1.351": R.USERUNKNOWN,
    "4.14": R.NETWORKERROR,  # hop count exceeded
    "4.300": R.EXPIRED,  # message expired
    "4.310": R.HOSTUNKNOWN,  # DNS domain does not exist
    "4.312": R.NETWORKERROR,
    "4.316": R.EXPIRED,  # message expired, connection refused
    "4.317": R.FAILEDSTARTTLS,  # STARTTLS is required to send mail
    "7.54": R.NORELAYING,
    "7.57": R.SECURITYERROR,  # client not authenticated to send
    "7.321": R.FAILEDSTARTTLS,  # starttls-not-supported
    "7.322": R.FAILEDSTARTTLS,  # certificate-expired
    "7.506": R.BLOCKED,  # bad HELO
    "7.507": R.BLOCKED,  # rejected by the recipient's organisation (IP)
    "7.509": R.AUTHFAILURE,  # does not pass DMARC verification
    "7.510": R.BLOCKED,  # the recipient does not accept email over IPv6
    "7.511": R.BLOCKED,  # banned sender
    "7.512": R.NOTCOMPLIANTRFC,  # From: must be RFC 5322 § 3.6.2 compliant
    "7.513": R.BLOCKED,  # customer block list
    "7.515": R.AUTHFAILURE,  # does not meet the required authentication level
    "7.650": R.BADREPUTATION,  # rate limited due to IP reputation
    "7.708": R.BADREPUTATION,  # traffic not accepted from this IP
    "7.750": R.BLOCKED,
}
# Microsoft ranges, as "class.subject" and details: 5.7.606-649 "banned
# sending IP"; 4.7.500-699 and 4.7.850-899 "access denied, please try again
# later" (an IP under evaluation). Exact entries above win (4.7.650 is
# reputation).
_STATUS_RANGES: tuple[tuple[str, int, int, Reason], ...] = (
    ("5.7", 606, 649, R.BLOCKED),
    ("4.7", 500, 699, R.BLOCKED),
    ("4.7", 850, 899, R.BLOCKED),
)


def status_reason(status: str | None) -> Reason | None:
    """Return the reason a specific enhanced status code implies, or None if generic.

    Args:
        status: a code such as "5.2.2" or "5.7.606"; None when unknown.

    Returns:
        The reason, or None for X.0.0, X.7.1 and other codes that say too
        little on their own.
    """
    parts = status.split(".") if status else []
    if len(parts) != 3 or is_generic(status or ""):
        return None
    klass, subject, detail = parts
    if klass == "4" and subject == "4" and detail == "4":
        # RFC 3463 X.4.4 "unable to route" serves "both permanent and
        # persistent transient errors": transient, the route may come back
        # (network trouble); permanent, the domain has none (host unknown).
        return R.NETWORKERROR
    found = _STATUS_TABLE.get(f"{subject}.{detail}")
    if found is not None:
        return found
    if subject == "6":
        # RFC 3463 X.6.X: message content or media status, whatever the detail
        # (Exchange Online 5.6.11 "invalid characters").
        return R.CONTENTERROR
    if len(detail) == 3 and detail.isdigit():
        number = int(detail)
        for prefix, low, high, reason in _STATUS_RANGES:
            if f"{klass}.{subject}" == prefix and low <= number <= high:
                return reason
    return None
