"""Reason decision: status codes, SMTP stage and wordings to a Reason; the hard/soft verdict.

Pure: no I/O. Owns the order in which the evidence decides. A provider's
documented code, a local program's exit (X-Unix) and a directory lookup by
the reporting system come first (the taxonomy's MTA and provider tables set
those before its reason order runs); then the taxonomy's own decision order
(``reasonorder``: Sisimai's ``Reason->get``, where the status code's name,
the SMTP stage (RFC 5321 § 3.3, via ``stage``) and the listed wordings are
combined); only what that order leaves undecided falls to this package's
own rules below it (wordings, status table, stage markers, the delay
report). The hard flag is one function of reason and status.
"""

from __future__ import annotations

import re

from bridge.bounces.causes import RECIPIENT_CHOICE_RE
from bridge.bounces.codes import find_reply_code
from bridge.bounces.lhosts import lhost_reason
from bridge.bounces.model import REASON_CLASS, Reason
from bridge.bounces.providers import provider_reason
from bridge.bounces.reasonorder import STATUS_NAME, Facts, find_command, mta_preset, reason_of
from bridge.bounces.stage import DATA, MAIL, RCPT, find_stage
from bridge.bounces.statuses import status_reason
from bridge.bounces.wordings import text_reason, wording

R = Reason

# Reasons a code decides even when the text names something else: the
# remote chose a precise code, and wording like "rejected" is boilerplate.
_STATUS_WINS = frozenset(
    {"1.1", "1.2", "1.6", "2.2", "7.26", "7.25", "7.509", "7.13", "1.10", "3.4", "2.3", "1.7", "1.8", "7.27"}
)
# Text reasons that overrule even a precise status: servers answer 5.1.1 or
# 5.2.2 to a blocked client, then say why (Sisimai's UserUnknown "prematches").
_TEXT_OVERRULES = frozenset(
    {
        R.NORELAYING,
        R.BLOCKED,
        R.MAILBOXFULL,
        R.HASMOVED,
        R.REJECTED,
        R.NOTACCEPT,
        R.SPEEDING,
        R.TOOMANYCONN,
        R.SPAMDETECTED,
        R.BADREPUTATION,
        R.AUTHFAILURE,
        R.REQUIREPTR,
        R.VIRUSDETECTED,
    }
)
_GIVE_UP_RE = re.compile(
    r"i'm\s+not\s+going\s+to\s+try\s+again;\s+this\s+message\s+has\s+been\s+in\s+the\s+queue\s+too\s+long\.?",
    re.IGNORECASE,
)
_RETRYABLE = frozenset({R.NETWORKERROR, R.SYSTEMERROR, R.TOOMANYCONN, R.EXPIRED})
_SENDER_SIDE_AT_MAIL = frozenset({R.HOSTUNKNOWN, R.SYNTAXERROR, None})
_LOCAL_MAILER_REASONS = frozenset({R.MAILBOXFULL, R.SYSTEMFULL, R.MESGTOOBIG, R.EXCEEDLIMIT})
_HARD = frozenset({R.USERUNKNOWN, R.HOSTUNKNOWN, R.HASMOVED, R.NOTACCEPT})


_MAIL_STAGE_RE = re.compile(
    r"after mail from|reply to mail from|>>> mail from|did not like our mail from", re.IGNORECASE
)
_CONNECT_STAGE_RE = re.compile(
    r"after initial connection|after (?:ehlo|helo)|reply to (?:ehlo|helo)|"
    r"did not like our (?:greeting|ehlo|helo)",
    re.IGNORECASE,
)
# Wordings of a directory lookup by the reporting system itself (Exchange's
# categorizer, Domino's directory, a gateway's recipient table, a local
# delivery agent): no remote filter is involved, the address is simply not
# there.
_DIRECTORY_RE = re.compile(
    r"recipient name is not recognized|not listed in (?:the )?(?:\w+ )?directory|no valid recipients|"
    r"invalid recipient|requested action not taken: mailbox unavailable|address not present in directory|"
    r"invalid (?:\w+ ){0,2}user ?id|check if (?:the )?address is correct|"
    # Sendmail's local mailer (mail.local) and other delivery agents name
    # themselves before the lookup that failed.
    r"\b(?:mail\.local|local delivery|lmtp|maildrop|dovecot|cyrus|procmail)\S*: (?:unknown user|user unknown)|"
    # iMail and other gateways label the address the directory rejected:
    # "Unknown user: a@b.example", with no remote reply in front.
    r"^\s*(?:unknown user|user unknown|no such user)\s*:\s*\S+@|"
    # Yahoo answers the end of DATA with "554 delivery error: dd This user
    # doesn't have a yahoo.com account": its mailbox directory, not a filter.
    r"delivery error: dd .*(?:doesn't|does not) have an? \S+ account|"
    # Exchange Online's Directory-Based Edge Blocking: "550 5.4.1 Recipient
    # address rejected: Access denied" means the address is not in the
    # tenant's directory (support.microsoft.com, "NDR error code 550 5.4.1
    # Recipient address rejected: Access denied"). Keyed on 5.4.1: Postfix
    # access tables say "Access denied" with other codes, as a policy refusal.
    r"\b5\.4\.1\b.{0,120}?recipient address rejected: access denied",
    re.IGNORECASE,
)
# "550 : User unknown": the reply quotes an empty address because it answers
# the end of DATA, where no single recipient is in scope (KDDI/au and others
# reject this way after accepting RCPT TO).
_EMPTY_ADDRESS_RE = re.compile(r"\b[45]\d\d\s*:?\s*:\s*user unknown", re.IGNORECASE)


def classify_reason(
    diagnostic: str,
    status: str | None,
    action: str,
    context: str = "",
    notice: str = "",
    diagnostic_type: str = "",
    lhost: str = "",
) -> Reason:
    """Decide the reason for one recipient.

    Args:
        diagnostic: the error text (any length, any case).
        status: enhanced status code, if known.
        action: RFC 3464 action.
        context: the report's text about this recipient; read only for the
            SMTP stage at which the error came.
        notice: the whole human-readable report (a Sendmail transcript
            names the stage away from the recipient's own lines).
        diagnostic_type: RFC 3464 § 2.3.6 type of the Diagnostic-Code
            ("smtp", "x-unix", ...), "" when unknown.
        lhost: the reporting MTA whose own tables apply (``lhosts.identify``).

    Returns:
        The reason; UNDEFINED when nothing decides it.
    """
    if action in ("delivered", "relayed", "expanded"):
        return R.DELIVERED
    if diagnostic_type.startswith("x-unix"):
        # RFC 3464 § 2.3.6: an X-Unix diagnostic is a local delivery
        # program's exit, not a remote reply: the program failed, unless it
        # says the mailbox or the disk is full or the message too big.
        local = text_reason(diagnostic, fallback=False)
        return local if local in _LOCAL_MAILER_REASONS else R.MAILERERROR
    by_provider = provider_reason(diagnostic)
    if by_provider is not None:
        # A provider's documented code is more precise than its words.
        return by_provider
    if RECIPIENT_CHOICE_RE.search(diagnostic):
        return R.FILTERED
    if _DIRECTORY_RE.search(diagnostic) and text_reason(diagnostic, fallback=False) is R.USERUNKNOWN:
        # A directory lookup by the reporting system itself (Exchange's
        # categorizer, Domino, a local delivery agent): the taxonomy's MTA
        # tables file these as userunknown before its reason order runs.
        return R.USERUNKNOWN
    if status_reason(status) is R.NOTACCEPT and text_reason(diagnostic, fallback=False) is R.USERUNKNOWN:
        # Exchange Online's "5.1.10 RESOLVER.ADR.RecipientNotFound": its
        # X.1.10 is an unknown recipient (Sisimai's Office365 status table),
        # not RFC 7505's null MX.
        return R.USERUNKNOWN
    # qmail's give-up sentence is read by the rules below (the error before
    # it is the cause); the taxonomy's lists would read the sentence itself.
    ordered = (
        None
        if _GIVE_UP_RE.search(diagnostic)
        else _by_order(diagnostic, status, action, context, diagnostic_type, lhost)
    )
    if ordered is not None:
        # The taxonomy's own decision order decided (``reasonorder``); the
        # steps below are this package's last resorts for what it leaves
        # to onhold/undefined.
        return ordered
    by_status = status_reason(status)
    if by_status is not None and status is not None and status.split(".", 1)[1] in _STATUS_WINS:
        specific = text_reason(diagnostic, fallback=False)
        if by_status is R.NOTACCEPT and specific is R.USERUNKNOWN:
            # Exchange Online answers "5.1.10 RESOLVER.ADR.RecipientNotFound":
            # its X.1.10 is an unknown recipient, not RFC 7505's null MX.
            return R.USERUNKNOWN
        if specific not in _TEXT_OVERRULES or specific is by_status:
            return by_status
    # qmail-send appends its give-up sentence to the last attempt's error:
    # that error is the cause, the queue lifetime only ended the retries.
    gave_up = bool(_GIVE_UP_RE.search(diagnostic))
    cleaned = _GIVE_UP_RE.sub(" ", diagnostic)
    # The last-resort wordings ("rejected", "refused") say less than a
    # specific status code does.
    by_text = text_reason(cleaned, fallback=by_status is None)
    if by_text is R.USERUNKNOWN:
        return _unknown_user(diagnostic, status, context, notice)
    if by_text in _SENDER_SIDE_AT_MAIL and find_stage(diagnostic + "\n" + context) == MAIL:
        # RFC 5321 § 3.3: the reply to MAIL FROM judges the reverse-path,
        # so "no such domain" there is about the sender's domain.
        return R.REJECTED
    if gave_up and by_text in _RETRYABLE:
        # Retryable trouble that outlived the queue is the expiry itself.
        return R.EXPIRED
    if by_text is not None:
        return by_text
    if by_status is not None:
        return by_status
    if gave_up:
        return R.EXPIRED
    if status is not None and status.split(".")[1] == "7":
        # RFC 3463 § 3.8: subject X.7 is "security or policy status"; with
        # no words to say which policy, the subject is what the report states
        # (the taxonomy's fallback too), better than a guess from wordings.
        return R.SECURITYERROR
    # The stage may be written beside the reply rather than in it (Exim
    # puts "SMTP error from remote mail server after initial connection:"
    # in the human-readable part and only "550 ..." in Diagnostic-Code).
    said = diagnostic + "\n" + context
    if _MAIL_STAGE_RE.search(said):
        return R.REJECTED
    if _CONNECT_STAGE_RE.search(said):
        return R.BLOCKED
    reply = find_reply_code(diagnostic)
    if reply is not None and reply[0] in "45" and reply[1] == "0":
        # RFC 5321 § 4.2.1: x0z replies are the "Syntax" category (500
        # command unrecognised, 501 bad arguments, 502-504 not implemented,
        # bad sequence); with nothing more specific, that is what it says.
        return R.SYNTAXERROR
    if action == "delayed":
        # RFC 3464 § 2.3.3: "delayed" means still queued; a report of it
        # is the queue-time warning.
        return R.EXPIRED
    return R.UNDEFINED


def _by_order(  # noqa: PLR0913
    diagnostic: str, status: str | None, action: str, context: str, kind: str, lhost: str = ""
) -> Reason | None:
    """The taxonomy's own decision order (``reasonorder``) over what this report states.

    The SMTP command is the stage the report writes (``stage``: Postfix's "in
    reply to", Exim's "after", transcripts, qmail's and Gmail's own marks),
    else the last command the error text names in capitals (Sisimai's
    ``Command->find``). Postfix's "X-Postfix" diagnostic type is an SMTP
    reply relayed by Postfix, as Sisimai's Postfix module reads it.
    """
    stage = find_stage(diagnostic + "\n" + context) or find_command(diagnostic) or ""
    reply = find_reply_code(diagnostic) or ""
    kind = kind.upper()
    kind = "SMTP" if kind in ("", "X-POSTFIX") else kind
    # A report without an enhanced code still has a class: Sisimai gives every
    # record a status (a pseudo code when none is stated) before its order runs.
    status = status or (f"{reply[0]}.0.0" if reply[:1] in ("4", "5") else "")
    facts = Facts(
        diagnostic=diagnostic,
        status=status,
        reply=reply,
        command=stage,
        action=action,
        diagnostic_type=kind,
        # The reporting MTA's own table (``lhosts``) runs before the generic
        # order, as the taxonomy's per-MTA parsers set a reason first.
        preset=mta_preset(diagnostic) or lhost_reason(lhost, diagnostic, context),
    )
    ordered = reason_of(facts)
    detail = status.rsplit(".", 1)[-1]
    if ordered in (None, R.SECURITYERROR, R.CONTENTERROR) and status not in STATUS_NAME and len(detail) == 3:
        # A vendor's three-digit detail (Microsoft's 5.7.515, 4.7.650) that
        # RFC 3463's table does not know: where the order could only say the
        # subject's catch-all, the vendor's documented meaning is more precise
        # (Sisimai's Office365/Microsoft tables read such codes first).
        return status_reason(status) or ordered
    return ordered


def _unknown_user(diagnostic: str, status: str | None, context: str, notice: str) -> Reason:
    """Read "user unknown" by the SMTP stage it answered (RFC 5321 § 3.3).

    A server checks the mailbox when it answers RCPT TO; the same words in
    reply to the end of DATA come from a filter that had already accepted
    the recipient (Sisimai's ``filtered``), and in reply to MAIL FROM they
    are about the sender (``rejected``). Without a written stage, an
    address-status code (RFC 3463 X.1.x) still says the mailbox is bad and
    a mailbox-status code (X.2.x: exists but refuses) says it is a filter;
    with neither, Sisimai's reading is kept: an unknown stage may be DATA,
    so the refusal counts as filtered. The reply's shape does not stand in
    for the stage: visible reports without a written stage that echo the
    address ("550 <a@b>: User unknown") or carry Postfix's "Recipient address
    rejected" prefix are filtered unless the code is X.1.x; the one family
    that means "unknown" by that shape (KDDI/au) is read in ``families``.
    """
    if _DIRECTORY_RE.search(diagnostic):
        return R.USERUNKNOWN
    if _EMPTY_ADDRESS_RE.search(diagnostic):
        return R.FILTERED
    anchor = wording(R.USERUNKNOWN)
    found = find_stage(diagnostic + "\n" + context, anchor) or find_stage(notice, anchor, strict=True)
    if found == DATA:
        # A transcript that shows the reply after DATA (Sendmail prints
        # pipelined RCPT replies there) is read as written.
        return R.FILTERED
    if found == MAIL:
        return R.REJECTED
    if found == RCPT:
        return R.USERUNKNOWN
    subject = status.split(".", 2)[1] if status else ""
    return R.USERUNKNOWN if subject == "1" else R.FILTERED


def is_hard(reason: Reason, status: str | None, action: str) -> bool:
    """Decide whether the address itself is bad (retrying cannot succeed).

    Follows the corpus definition (Sisimai's hardbounce): the verdict is a
    property of the reason, not of the report's action. User unknown, host
    unknown and moved are always hard (a "delayed" report about an unknown
    host still names a bad address); "does not accept mail" (RFC 7505 null
    MX, RFC 3463 X.3.2) is hard unless the code is transient (4.x.x).
    Success notices are never hard.
    """
    if action in ("delivered", "relayed", "expanded") or reason not in _HARD:
        return False
    return not (reason is R.NOTACCEPT and status is not None and status.startswith("4"))


_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})


def report_action(stated: str, reason: Reason) -> str:
    """The action reported for a recipient: the report's own Action field, read in the taxonomy's convention.

    RFC 3464 § 2.3.3 Action is what the report states, and is kept when it
    is stated ("failed", "delayed", success values). Two conventions of the
    taxonomy (Sisimai's ``Fact``: the action follows the reason, one rule for
    every report) complete it:

    - a message whose delivery time ran out (reason ``expired``: RFC 3463
      X.4.7, a queue lifetime, "retry timeout exceeded") is reported as
      ``delayed``: the failure IS the delay, whether the reporting MTA
      wrote "failed" when it gave up or wrote no Action at all;
    - a failure report without an Action field (a plain-text bounce, a DSN
      that omits it) is ``failed``: the wording of a warning ("still
      trying") decides the reason (``expired`` when the trouble is
      retryable), not a second, separate action.

    Args:
        stated: the Action field's value ("" when the report has none).
        reason: the recipient's decided reason.

    Returns:
        failed, delayed, or the stated success action.
    """
    if stated in _SUCCESS_ACTIONS or reason is R.DELIVERED:
        return stated or "delivered"
    if reason is R.EXPIRED:
        return "delayed"
    return stated if stated in ("failed", "delayed") else "failed"


# The name that stands for each coarse class when only the class is known:
# the taxonomy's own catch-all of the class (Sisimai's "blocked" for a
# refusal whose policy is unnamed, "systemerror" for unexplained trouble of
# the receiving system, "mesgtoobig" for size).
_CLASS_NAME: dict[str, Reason] = {
    "userunknown": R.USERUNKNOWN,
    "mailboxfull": R.MAILBOXFULL,
    "blocked": R.BLOCKED,
    "temporary": R.SYSTEMERROR,
    "expired": R.EXPIRED,
    "suspend": R.SUSPEND,
    "size": R.MESGTOOBIG,
}


def coarse(reason: Reason) -> Reason:
    """The class's catch-all name for a reason whose class is known but whose exact name is a guess."""
    return _CLASS_NAME.get(REASON_CLASS[reason], reason)
