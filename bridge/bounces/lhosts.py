"""One reporting MTA's own message tables (Exim, qmail), read once the report is known to be from it.

Pure: no I/O. The taxonomy's generic order (``reasonorder``) reads an error
text the same way whoever wrote the report; but Exim and qmail-send also
write their OWN verdicts ("Unrouteable address", "retry timeout exceeded",
"Sorry, no mailbox here by that name"), and the taxonomy's per-MTA parsers
(``Sisimai::Lhost::Exim``, ``Sisimai::Lhost::qmail``) give those a reason
before the generic order runs. Those tables are ported here as general
conventions, applied only when the report is identified as that MTA's:

* Exim: its notice's first sentence, "This message was created
  automatically by mail delivery software" (deliver.c), or the
  X-Failed-Recipients header Exim adds to every bounce;
* qmail: "Hi. This is the qmail-send program" (qmail-send.c).

The result is a preset (``reasonorder.Facts.preset``): a name in the
taxonomy's ``RETRY`` set (userunknown, hostunknown, systemerror, expired,
networkerror) is still checked against the first-order wordings, exactly as
the taxonomy re-checks an MTA table's name.

Tables and their order: sisimai/p5-sisimai ``lib/Sisimai/Lhost/Exim.pm``
and ``lib/Sisimai/Lhost/qmail.pm``, Copyright (C) 2014-2025 azumakuniyuki
and sisimai development team, BSD 2-Clause License. The phrases are matched
case-sensitively, as there: they are the MTA's own fixed strings.
"""

from __future__ import annotations

import re
from typing import Final

from bridge.bounces.model import Reason

R = Reason

EXIM: Final = "exim"
QMAIL: Final = "qmail"

_EXIM_NOTICE = "This message was created automatically by mail delivery software"
_QMAIL_NOTICE = "This is the qmail-send program"

# Exim's transports/smtp.c: "SMTP error from remote mail server after RCPT
# TO:<x>:", "... after end of data"; its LMTP transport likewise.
_EXIM_COMMAND_RE = re.compile(
    r"SMTP error from remote (?:mail server|mailer) after (?:end of )?([A-Za-z]{4})|"
    r"LMTP error after (?:end of )?([A-Za-z]{4})"
)
# Exim.pm $messagesof, in its listed order (the source strings it cites).
_EXIM_MESSAGES: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    (R.USERUNKNOWN, ("user not found",)),
    (
        R.HOSTUNKNOWN,
        (
            "all host address lookups failed permanently",
            "all relevant MX records point to non-existent hosts",
            "Unrouteable address",
        ),
    ),
    (R.MAILBOXFULL, ("mailbox is full", "error: quota exceed")),
    (R.NOTACCEPT, ("an MX or SRV record indicated no SMTP service", "no host found for existing SMTP connection")),
    (
        R.SYNTAXERROR,
        (
            "angle-brackets nested too deep",
            'expected word or "<"',
            "domain missing in source-routed address",
            "malformed address:",
        ),
    ),
    (
        R.SYSTEMERROR,
        ("delivery to file forbidden", "delivery to pipe forbidden", "local delivery failed", "LMTP error after "),
    ),
    (R.CONTENTERROR, ('Too many "Received" headers',)),
)
# Exim.pm $delayedfor: retry.c, smtp.c and deliver.c's words for a message
# whose retry time ran out or that is frozen.
_EXIM_DELAYED = (
    "retry timeout exceeded",
    "No action is required on your part",
    "retry time not reached for any host after a long failure period",
    "all hosts have been failing for a long time and were last tried",
    "Delay reason: ",
    "has been frozen",
    "was frozen on arrival by ",
)

# qmail.pm $commandset: qmail-remote's "Connected to X but ..." sentences.
_QMAIL_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CONN", (" but greeting failed.",)),
    ("EHLO", (" but my name was rejected.",)),
    ("MAIL", (" but sender was rejected.",)),
    ("RCPT", (" does not like recipient.",)),
    ("DATA", (" failed on DATA command", " failed after I sent the message")),
)
_QMAIL_GIVE_UP = "this message has been in the queue too long."
_QMAIL_MESSAGES: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    # qmail.pm also files "does not like recipient." (any refusal of RCPT
    # TO) here; left out: ``stage`` already reads it as RCPT, and the
    # generic order then says userunknown only when the remote's words do
    # (forcing it lost one kept-aside report, won none).
    (R.USERUNKNOWN, ("no mailbox here by that name",)),
    (R.MAILBOXFULL, ("disk quota exceeded",)),
    (R.MESGTOOBIG, ("Message size exceeds fixed maximum message size:",)),
    (R.HOSTUNKNOWN, ("Sorry, I couldn't find any host ",)),
    (R.SYSTEMFULL, ("Requested action not taken: mailbox unavailable (not enough free space)",)),
    (R.SYSTEMERROR, ("bad interpreter: No such file or directory", "system error", "Unable to")),
    (R.NOTACCEPT, ("Sorry, I couldn't find a mail exchanger or IP address",)),
    (
        R.NETWORKERROR,
        (
            "Sorry, I wasn't able to establish an SMTP connection",
            "Sorry. Although I'm listed as a best-preference MX or A for that host",
        ),
    ),
)
# qmail.pm $failonldap: qmail-ldap's own refusals.
_QMAIL_LDAP: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    (R.USERUNKNOWN, ("Sorry, no mailbox here by that name",)),
    (R.EXCEEDLIMIT, ("The message exeeded the maximum size the user accepts",)),
    (
        R.SYSTEMERROR,
        (
            "Automatic homedir creator crashed",
            "Illegal value in LDAP attribute",
            "LDAP attribute is not given but mandatory",
            "Timeout while performing search on LDAP server",
            "Too many results returned but needs to be unique",
            "Permanent error while executing qmail-forward",
            "Temporary error in automatic homedir creation",
            "Temporary error while executing qmail-forward",
            "Temporary failure in LDAP lookup",
            "Unable to contact LDAP server",
            "Unable to login into LDAP server, bad credentials",
        ),
    ),
)
_QMAIL_SUSPEND_RE = re.compile(r"Mailaddress is administrative?le?y disabled")


def identify(notice: str, failed_recipients_header: str) -> str:
    """The reporting MTA whose own tables apply (EXIM, QMAIL), or "" for none.

    Args:
        notice: the report's human-readable text.
        failed_recipients_header: the X-Failed-Recipients header ("" if absent).
    """
    if _QMAIL_NOTICE in notice:
        return QMAIL
    if _EXIM_NOTICE in notice or failed_recipients_header.strip():
        return EXIM
    return ""


def _table(text: str, table: tuple[tuple[Reason, tuple[str, ...]], ...]) -> Reason | None:
    return next((reason for reason, phrases in table if any(p in text for p in phrases)), None)


def lhost_reason(lhost: str, diagnostic: str, context: str = "") -> Reason | None:
    """The reason the reporting MTA's own table gives this recipient's error, or None.

    Args:
        lhost: ``identify``'s answer.
        diagnostic: the recipient's error text.
        context: the report's text about this recipient (read only for
            Exim's stage sentence, which it may write beside the reply).
    """
    text = " ".join(diagnostic.split())
    if lhost == EXIM:
        found = _EXIM_COMMAND_RE.search(text) or _EXIM_COMMAND_RE.search(" ".join(context.split()))
        command = (found.group(1) or found.group(2)).upper() if found else ""
        if command in ("HELO", "EHLO"):
            # "Connected but my name was rejected": the client was refused.
            return R.BLOCKED
        if command == "MAIL":
            # Refused at MAIL FROM: Exim's table leaves it to the words.
            return None
        found_reason = _table(text, _EXIM_MESSAGES)
        if found_reason is None and any(p in text for p in _EXIM_DELAYED):
            return R.EXPIRED
        if found_reason is None and "pipe to |" in text:
            return R.MAILERERROR
        return found_reason
    if lhost == QMAIL:
        command = next((c for c, phrases in _QMAIL_COMMANDS if any(p in text for p in phrases)), "")
        if command == "EHLO":
            return R.BLOCKED
        at = text.find(" does not like recipient.")
        if at >= 0 and _QMAIL_GIVE_UP in text[at:]:
            # A refusal that outlived the queue: the words decide (onhold).
            return None
        found_reason = _table(text, _QMAIL_MESSAGES) or _table(text, _QMAIL_LDAP)
        if found_reason is None and _QMAIL_SUSPEND_RE.search(text):
            return R.SUSPEND
        if found_reason is None and _QMAIL_GIVE_UP in text:
            return R.EXPIRED
        return found_reason
    return None
