"""The taxonomy's own decision order: Sisimai's ``Reason.get``/``anotherone``, status names and command finder.

Pure: no I/O. The reason names this package reports are Sisimai's, and a
name is not only defined by the wordings filed under it (``taxonomy``) but by
the order and the conditions under which those wordings are tried. This
module ports that algorithm, as general conventions rather than per-file
rules, from sisimai/p5-sisimai v5.1.0:

* ``Sisimai::SMTP::Status`` ``name`` (the code -> reason table,
  ``STATUS_NAME``) and ``find`` (``find_status``: X.0.0 and 4.4.7 give way to
  any other code in the same text);
* ``Sisimai::SMTP::Command`` ``find`` (``find_command``: the last SMTP
  command an error text names, read case-sensitively, as MTAs write them);
* ``Sisimai::Reason`` ``get``: for an SMTP diagnostic, each reason of the
  first order is tried with its ``true`` test, which combines the status
  code's name, the SMTP command the error answered and the wording lists.
  Notably: an unknown-user wording is ``userunknown`` only when the status
  names an unknown user (X.1.1, X.1.3, X.1.0: unless another listed cause
  such as a full mailbox or a block is also worded) or the refusal answered
  RCPT TO; at DATA or at an unknown stage the same words are ``filtered``;
  refusals by sender are ``rejected`` only at MAIL FROM, at DATA, or with
  an unspecific status; spam wordings do not count before DATA;
* ``anotherone``: when no first-order test holds, the status code's name
  decides unless it is one of the names worth a retry (``RETRY``) or the
  diagnostic is not an SMTP reply; then the second-order wording lists,
  X.6 -> contenterror, X.7 -> securityerror, X-Unix -> mailererror, a
  5.0x/4.0x reply -> syntaxerror, a delay report -> expired, a refusal at
  EHLO/HELO -> blocked; finally ``onhold`` for an error text nothing
  explains, ``undefined`` for none.

Callers give the facts a report states (``Facts``); ``reason_of`` returns
the name, or None where Sisimai would fall to ``onhold``/``undefined`` (the
caller decides those, with its own documented last resorts).

Algorithm and lists: Copyright (C) 2014-2025 azumakuniyuki and sisimai
development team, BSD 2-Clause License (as ``taxonomy``; the licence of
``tests/corpora/bounces``, ``LICENSE-set-of-emails``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.bounces.model import Reason
from bridge.bounces.taxonomy import TAXONOMY_WORDS, aligned

R = Reason

# Sisimai::SMTP::Status StandardCode: the reason each code names.
STATUS_NAME: dict[str, Reason] = {
    "2.1.5": R.DELIVERED,
    "4.1.6": R.HASMOVED,
    "4.1.7": R.REJECTED,
    "4.1.8": R.REJECTED,
    "4.1.9": R.SYSTEMERROR,
    "4.2.1": R.SUSPEND,
    "4.2.2": R.MAILBOXFULL,
    "4.2.3": R.EXCEEDLIMIT,
    "4.2.4": R.FILTERED,
    "4.3.1": R.SYSTEMFULL,
    "4.3.2": R.NOTACCEPT,
    "4.3.3": R.SYSTEMERROR,
    "4.3.5": R.SYSTEMERROR,
    "4.4.1": R.EXPIRED,
    "4.4.2": R.NETWORKERROR,
    "4.4.3": R.SYSTEMERROR,
    "4.4.4": R.NETWORKERROR,
    "4.4.5": R.SYSTEMFULL,
    "4.4.6": R.NETWORKERROR,
    "4.4.7": R.EXPIRED,
    "4.4.8": R.NETWORKERROR,
    "4.5.3": R.SYSTEMERROR,
    "4.5.5": R.SYSTEMERROR,
    "4.6.0": R.CONTENTERROR,
    "4.6.2": R.CONTENTERROR,
    "4.6.5": R.CONTENTERROR,
    "4.7.1": R.BLOCKED,
    "4.7.2": R.BLOCKED,
    "4.7.5": R.SECURITYERROR,
    "4.7.6": R.SECURITYERROR,
    "4.7.7": R.SECURITYERROR,
    "4.7.12": R.SECURITYERROR,
    "4.7.15": R.SECURITYERROR,
    "4.7.16": R.MESGTOOBIG,
    "4.7.24": R.AUTHFAILURE,
    "4.7.25": R.REQUIREPTR,
    "4.7.26": R.AUTHFAILURE,
    "5.1.0": R.USERUNKNOWN,
    "5.1.1": R.USERUNKNOWN,
    "5.1.2": R.HOSTUNKNOWN,
    "5.1.3": R.USERUNKNOWN,
    "5.1.4": R.FILTERED,
    "5.1.6": R.HASMOVED,
    "5.1.7": R.REJECTED,
    "5.1.8": R.REJECTED,
    "5.1.9": R.SYSTEMERROR,
    "5.1.10": R.NOTACCEPT,
    "5.2.0": R.FILTERED,
    "5.2.1": R.FILTERED,
    "5.2.2": R.MAILBOXFULL,
    "5.2.3": R.EXCEEDLIMIT,
    "5.2.4": R.FILTERED,
    "5.3.0": R.SYSTEMERROR,
    "5.3.1": R.SYSTEMFULL,
    "5.3.2": R.NOTACCEPT,
    "5.3.3": R.SYSTEMERROR,
    "5.3.4": R.MESGTOOBIG,
    "5.3.5": R.SYSTEMERROR,
    "5.4.0": R.NETWORKERROR,
    "5.4.3": R.SYSTEMERROR,
    "5.4.4": R.HOSTUNKNOWN,
    "5.5.2": R.SYNTAXERROR,
    "5.5.3": R.TOOMANYCONN,
    "5.5.4": R.SYSTEMERROR,
    "5.5.5": R.SYSTEMERROR,
    "5.5.6": R.SYNTAXERROR,
    "5.6.0": R.CONTENTERROR,
    "5.6.1": R.CONTENTERROR,
    "5.6.2": R.CONTENTERROR,
    "5.6.3": R.CONTENTERROR,
    "5.6.5": R.CONTENTERROR,
    "5.6.6": R.CONTENTERROR,
    "5.6.7": R.CONTENTERROR,
    "5.6.8": R.CONTENTERROR,
    "5.6.9": R.CONTENTERROR,
    "5.7.0": R.SECURITYERROR,
    "5.7.1": R.SECURITYERROR,
    "5.7.2": R.SECURITYERROR,
    "5.7.3": R.SECURITYERROR,
    "5.7.4": R.SECURITYERROR,
    "5.7.5": R.SECURITYERROR,
    "5.7.6": R.SECURITYERROR,
    "5.7.7": R.SECURITYERROR,
    "5.7.8": R.SECURITYERROR,
    "5.7.9": R.SECURITYERROR,
    "5.7.10": R.SECURITYERROR,
    "5.7.11": R.SECURITYERROR,
    "5.7.13": R.SUSPEND,
    "5.7.14": R.SECURITYERROR,
    "5.7.15": R.SECURITYERROR,
    "5.7.16": R.MESGTOOBIG,
    "5.7.17": R.HASMOVED,
    "5.7.18": R.HASMOVED,
    "5.7.19": R.SECURITYERROR,
    "5.7.20": R.AUTHFAILURE,
    "5.7.21": R.AUTHFAILURE,
    "5.7.22": R.AUTHFAILURE,
    "5.7.23": R.AUTHFAILURE,
    "5.7.24": R.AUTHFAILURE,
    "5.7.25": R.REQUIREPTR,
    "5.7.26": R.AUTHFAILURE,
    "5.7.27": R.NOTACCEPT,
    "5.7.28": R.SPAMDETECTED,
    "5.7.29": R.AUTHFAILURE,
    "5.7.30": R.SECURITYERROR,
}

# Sisimai::Reason->retry: names a status or an MTA table gives that are
# checked again against the words (a code this vague is not the last word).
RETRY = frozenset(
    {
        R.UNDEFINED,
        R.ONHOLD,
        R.SYSTEMERROR,
        R.SECURITYERROR,
        R.EXPIRED,
        R.SUSPEND,
        R.NETWORKERROR,
        R.HOSTUNKNOWN,
        R.USERUNKNOWN,
    }
)
# The order of ``anotherone``'s wording lists ($ClassOrder->[1]).
_SECOND_ORDER: tuple[Reason, ...] = (
    R.MAILBOXFULL,
    R.AUTHFAILURE,
    R.BADREPUTATION,
    R.SPEEDING,
    R.SPAMDETECTED,
    R.VIRUSDETECTED,
    R.POLICYVIOLATION,
    R.NORELAYING,
    R.SYSTEMERROR,
    R.NETWORKERROR,
    R.SUSPEND,
    R.CONTENTERROR,
    R.SYSTEMFULL,
    R.NOTACCEPT,
    R.EXPIRED,
    R.SECURITYERROR,
    R.MAILERERROR,
)
_BEFORE_DATA = frozenset({"CONN", "EHLO", "HELO", "MAIL", "RCPT"})
_HASMOVED_WORDS = (" has been replaced by ",)
# Rejected's exclusions: these are about the recipient or the client IP.
_NOT_REJECTED = ("5.1.0 address rejected", "recipient address rejected", "sender ip address rejected")
_WORDS: dict[Reason, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    reason: (phrases, pairs) for reason, phrases, pairs in TAXONOMY_WORDS
}
_WORDS[R.HASMOVED] = (_HASMOVED_WORDS, ())
# SMTP commands Sisimai's finder recognises, in its order; the 4-letter
# prefix is the command's name.
_COMMANDS = (
    "HELO",
    "EHLO",
    "STARTTLS",
    "AUTH PLAIN",
    "AUTH LOGIN",
    "AUTH CRAM-",
    "AUTH DIGEST-",
    "MAIL F",
    "RCPT",
    "RCPT T",
    "DATA",
    "QUIT",
    "XFORWARD",
)
_COMMAND_TEST = ("HELO", "EHLO", "MAIL", "RCPT", "DATA", "QUIT", "RSET", "NOOP", "VRFY", "ETRN", "EXPN", "HELP")
_COMMAND_TEST_MORE = ("AUTH", "STARTTLS", "XFORWARD", "CONN")
_COMMAND_NAMES = {"STAR": "STARTTLS", "XFOR": "XFORWARD"}


# Tokens only one MTA writes, and the reason its Sisimai module presets for
# them before the reason order runs (case-sensitive, as the MTAs write them).
# Exchange 2007 and later (Lhost/Exchange2007.pm $ndrsubject): the NDR's
# component.category code; Gmail (Lhost/Gmail.pm $statetable): the SMTP
# state its relay failed in.
MTA_PRESETS: tuple[tuple[str, Reason], ...] = (
    ("SMTPSEND.DNS.NonExistentDomain", R.HOSTUNKNOWN),
    ("SMTPSEND.DNS.MxLoopback", R.NETWORKERROR),
    ("RESOLVER.ADR.BadPrimary", R.SYSTEMERROR),
    ("RESOLVER.ADR.RecipNotFound", R.USERUNKNOWN),
    ("RESOLVER.ADR.ExRecipNotFound", R.USERUNKNOWN),
    ("RESOLVER.ADR.RecipLimit", R.TOOMANYCONN),
    ("RESOLVER.ADR.InvalidInSmtp", R.SYSTEMERROR),
    ("RESOLVER.ADR.Ambiguous", R.SYSTEMERROR),
    ("RESOLVER.RST.AuthRequired", R.SECURITYERROR),
    ("RESOLVER.RST.NotAuthorized", R.REJECTED),
    ("RESOLVER.RST.RecipSizeLimit", R.MESGTOOBIG),
    ("QUEUE.Expired", R.EXPIRED),
    ("(state 6).", R.SYSTEMERROR),
    ("(state 8).", R.SYSTEMERROR),
    ("(state 9).", R.SYSTEMERROR),
    ("(state 12).", R.NORELAYING),
    ("(state 13).", R.BLOCKED),
    ("(state 14).", R.USERUNKNOWN),
    ("(state 15).", R.FILTERED),
    ("(state 17).", R.FILTERED),
    ("(state 18).", R.FILTERED),
)


def mta_preset(diagnostic: str) -> Reason | None:
    """The reason an MTA's own table gives a token in its error text, or None."""
    return next((reason for token, reason in MTA_PRESETS if token in diagnostic), None)


@dataclass(frozen=True, slots=True)
class Facts:
    """What a report states about one recipient, as Sisimai's ``Fact`` holds it.

    Attributes:
        diagnostic: the remote's error text (Diagnostic-Code or its
            equivalent), any case.
        status: the enhanced status code ("" when none).
        reply: the SMTP reply code ("" when none).
        command: the SMTP command the error answered (CONN, EHLO, HELO,
            MAIL, RCPT, DATA; "" when unknown).
        action: the report's action ("failed", "delayed", ...).
        diagnostic_type: "SMTP" for an SMTP reply or an unlabelled text,
            "X-UNIX" for a local program's exit.
        preset: a reason an MTA or provider table already gave, or None.
    """

    diagnostic: str
    status: str = ""
    reply: str = ""
    command: str = ""
    action: str = "failed"
    diagnostic_type: str = "SMTP"
    preset: Reason | None = None


def status_name(status: str) -> Reason | None:
    """The reason a status code names in the taxonomy's table (Sisimai's ``Status->name``), or None."""
    return STATUS_NAME.get(status) if status else None


def find_command(text: str) -> str:
    """The last SMTP command an error text names ("" if none): Sisimai's ``SMTP::Command->find``.

    Case-sensitive on purpose: MTAs write the commands they sent in capitals
    ("in reply to RCPT TO command", "after end of DATA"), and lower-case
    "data" or "mail from" in a remote's prose is not a stage.
    """
    if not (any(c in text for c in _COMMAND_TEST) or any(c in text for c in _COMMAND_TEST_MORE)):
        return ""
    found: list[str] = []
    previous = 0
    for command in _COMMANDS:
        at = text.find(command, previous)
        if at < 0:
            continue
        if at + 4 > len(text):
            break
        previous = at
        name = text[at : at + 4]
        if name in found:
            continue
        found.append(_COMMAND_NAMES.get(name, name))
    return found[-1] if found else ""


def matches(reason: Reason, low: str) -> bool:
    """True when a lower-case error text carries a wording the taxonomy files under ``reason``."""
    if reason is R.REJECTED and any(phrase in low for phrase in _NOT_REJECTED):
        return False
    phrases, pairs = _WORDS.get(reason, ((), ()))
    return any(phrase in low for phrase in phrases) or any(aligned(low, pair) for pair in pairs)


def _true(reason: Reason, facts: Facts, low: str, named: Reason | None) -> bool:  # noqa: PLR0911, PLR0912
    """Sisimai's ``Reason::<X>->true``: does the first-order test for ``reason`` hold?"""
    if facts.preset is reason:
        return True
    command = facts.command
    if reason in (R.MAILBOXFULL, R.EXCEEDLIMIT, R.SPEEDING, R.SUSPEND, R.SPAMDETECTED) and not facts.status:
        # These tests need a status code (even a pseudo one) to run at all.
        return False
    if reason in (R.MAILBOXFULL, R.EXCEEDLIMIT, R.AUTHFAILURE, R.REQUIREPTR, R.TOOMANYCONN, R.BLOCKED):
        return named is reason or matches(reason, low)
    if reason is R.MESGTOOBIG:
        if named is R.MESGTOOBIG:
            return True
        if named is R.EXCEEDLIMIT or facts.status == "5.2.3":
            return False
        return matches(reason, low)
    if reason is R.SUSPEND:
        return facts.reply == "525" or matches(reason, low)
    if reason is R.NORELAYING:
        if facts.preset in (R.SECURITYERROR, R.SYSTEMERROR, R.UNDEFINED) or command in ("CONN", "EHLO", "HELO"):
            return False
        return matches(reason, low)
    if reason is R.USERUNKNOWN:
        if named is R.SUSPEND:
            return False
        if named is R.USERUNKNOWN:
            # X.1.1 and kin: an unknown user unless another cause is worded.
            others = (R.NORELAYING, R.BLOCKED, R.MAILBOXFULL, R.HASMOVED, R.REJECTED, R.NOTACCEPT)
            return not any(matches(other, low) for other in others)
        return command == "RCPT" and matches(R.USERUNKNOWN, low)
    if reason is R.FILTERED:
        if named is R.SUSPEND:
            return False
        if named is R.FILTERED:
            return matches(R.USERUNKNOWN, low) or matches(R.FILTERED, low)
        if command in _BEFORE_DATA:
            # Every MTA reads the message only after DATA: a refusal before
            # it cannot come from a content filter.
            return False
        return matches(R.FILTERED, low) or matches(R.USERUNKNOWN, low)
    if reason is R.REJECTED:
        vague = named or R.UNDEFINED
        if vague is R.REJECTED:
            return True
        if command == "MAIL":
            return matches(reason, low)
        if command == "DATA":
            return vague is not R.USERUNKNOWN and matches(reason, low)
        return vague in (R.ONHOLD, R.UNDEFINED, R.SECURITYERROR, R.SYSTEMERROR) and matches(reason, low)
    if reason is R.HOSTUNKNOWN:
        if named is R.HOSTUNKNOWN:
            return not matches(R.NETWORKERROR, low)
        return matches(reason, low)
    if reason is R.SPAMDETECTED:
        if named is R.SPAMDETECTED:
            return True
        return command not in _BEFORE_DATA and matches(reason, low)
    # HasMoved, NotCompliantRFC, BadReputation, Speeding: the words alone.
    return matches(reason, low)


_FIRST_ORDER: tuple[Reason, ...] = (
    R.MAILBOXFULL,
    R.MESGTOOBIG,
    R.EXCEEDLIMIT,
    R.SUSPEND,
    R.HASMOVED,
    R.NORELAYING,
    R.AUTHFAILURE,
    R.USERUNKNOWN,
    R.FILTERED,
    R.REQUIREPTR,
    R.NOTCOMPLIANTRFC,
    R.BADREPUTATION,
    R.REJECTED,
    R.HOSTUNKNOWN,
    R.SPAMDETECTED,
    R.SPEEDING,
    R.TOOMANYCONN,
    R.BLOCKED,
)


def reason_of(facts: Facts) -> Reason | None:
    """Decide a reason in the taxonomy's order (Sisimai's ``Reason->get``).

    Returns:
        The reason, or None where the taxonomy would fall to ``onhold`` or
        ``undefined`` (nothing in the report decides).
    """
    if facts.preset is not None and facts.preset not in RETRY:
        return facts.preset
    if facts.status.startswith("2."):
        return R.DELIVERED
    low = " ".join(facts.diagnostic.lower().split())
    named = status_name(facts.status)
    if facts.diagnostic_type in ("SMTP", ""):
        for reason in _FIRST_ORDER:
            if _true(reason, facts, low, named):
                return reason
    found = _anotherone(facts, low, named)
    if found is None and facts.action == "delayed":
        return R.EXPIRED
    return found


def _anotherone(facts: Facts, low: str, named: Reason | None) -> Reason | None:
    """Sisimai's ``anotherone``: the status code's name, unless words say more; then the fallbacks.

    A name worth a retry (``RETRY``), or any name for a diagnostic that is
    not an SMTP reply, gives way to a second-order wording; with no such
    wording the name stands. Only without a name do the fallbacks speak.
    """
    if facts.preset is not None:
        # An MTA or provider table's name stands unless a first-order test
        # overrode it (``anotherone`` returns it as given).
        return facts.preset
    if named is None or named in RETRY or facts.diagnostic_type != "SMTP":
        for reason in _SECOND_ORDER:
            if matches(reason, low):
                return reason
    if named is not None and named is not R.UNDEFINED:
        return named
    subject = facts.status[:3]
    if subject in ("5.6", "4.6"):
        return R.CONTENTERROR
    if subject in ("5.7", "4.7"):
        return R.SECURITYERROR
    if facts.diagnostic_type.startswith("X-UNIX"):
        return R.MAILERERROR
    if facts.reply and facts.reply[0] in "45" and facts.reply[1] == "0" and facts.reply[2] in "1234567":
        return R.SYNTAXERROR
    if facts.action.startswith(("delayed", "expired")):
        return R.EXPIRED
    if facts.command in ("EHLO", "HELO"):
        return R.BLOCKED
    return None
