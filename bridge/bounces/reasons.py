"""Reason rules: map status codes, reply codes and diagnostic text to a Reason.

Pure: no I/O. Owns the ordered text patterns (in the spirit of Sisimai's
Sisimai::Reason::* matchers), the RFC 3463 status table, and the hard/soft
verdict. Text beats a generic status: "5.7.1" or "5.0.0" say little, the
remote's words say more; a specific status (5.1.1, 5.2.2, 5.7.26) decides
when the text is silent.
"""

from __future__ import annotations

import re

from bridge.bounces.codes import is_generic
from bridge.bounces.model import Reason

R = Reason


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# Ordered: earlier rules win. Specific causes (authentication, PTR, relay,
# sender-side rejections) come before the broad "user unknown" and "blocked"
# wordings that remote servers append to nearly every refusal.
_TEXT_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    # Resolver failures are network trouble on the sending side, even when
    # they end with "domain not found" (Google's "DNS Error: ... lookup").
    (R.NOTACCEPT, _rx(r"(?:does not|doesn't) receive (?:e-?mail|mail)", r"no smtp service")),
    (R.NETWORKERROR, _rx(r"dns error", r"dns (?:query|lookup) failed", r"dns type '?mx")),
    (R.POLICYVIOLATION, _rx(r"protocol violation")),
    (R.NOTCOMPLIANTRFC, _rx(r"multiple addresses in from")),
    (R.SYSTEMFULL, _rx(r"insufficient (?:disk space|system (?:storage|resources))")),
    (R.EXPIRED, _rx(r"in the queue too long", r"too long in (?:the )?queue")),
    # Exchange Online directory-based edge blocking: the address is unknown.
    (R.USERUNKNOWN, _rx(r"recipient address rejected: access denied")),
    (
        R.SPEEDING,
        _rx(
            r"rate limit",
            r"too many (?:messages|emails|mails|recipients)",
            r"sending (?:rate|quota)",
            r"receiving mail at a rate",
            r"rate that prevents",
            r"exceeded? (?:the )?(?:hourly|daily) ",
        ),
    ),
    (
        R.TOOMANYCONN,
        _rx(r"too many (?:connections|concurrent|sessions|smtp sessions)", r"connection limit", r"too many hosts"),
    ),
    (
        R.AUTHFAILURE,
        _rx(
            r"\bdmarc\b",
            r"\bspf\b",
            r"\bdkim\b",
            r"sender policy framework",
            r"unauthenticated email",
            r"not authenticated",
            r"authentication (?:failed|failure|required)",
            r"sender id\b",
        ),
    ),
    (
        R.REQUIREPTR,
        _rx(
            r"reverse (?:dns|lookup|hostname)",
            r"\bptr\b",
            r"\brdns\b",
            r"no ptr",
            r"cannot find your hostname",
            r"not resolve (?:your|the)? ?(?:ip|address)",
            r"client host rejected: cannot find",
            r"ip address has no",
            r"unresolvable",
            r"no reverse",
        ),
    ),
    (
        R.NORELAYING,
        _rx(
            r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)",
            r"not (?:permitted|allowed|authori[sz]ed|configured) to relay",
            r"unable to relay",
            r"relay denied",
            r"we do not relay",
            r"no relaying",
            r"cannot relay",
            r"open relay",
            r"relaying denied",
        ),
    ),
    (R.VIRUSDETECTED, _rx(r"\bvirus", r"malware", r"infected", r"trojan", r"\bworm\b")),
    (R.BADREPUTATION, _rx(r"reputation")),
    (
        R.SPAMDETECTED,
        _rx(
            r"\bspam",
            r"\bjunk mail",
            r"bulk mail",
            r"unsolicited",
            r"content filter",
            r"message (?:content )?(?:was )?(?:rejected|refused) (?:as|because)",
            r"looks suspicious",
            r"scored too high",
        ),
    ),
    (
        R.BLOCKED,
        _rx(
            r"black ?list",
            r"block ?list",
            r"\brbl\b",
            r"dnsbl",
            r"spamhaus",
            r"spamcop",
            r"sorbs",
            r"barracuda",
            r"(?<!not )listed (?:at|in|on|by)",
            r"invalid ip",
            r"not accepting connections",
            r"\bip (?:address )?(?:\S+ )?(?:is )?(?:blocked|banned|rejected)",
            r"client host (?:\[\S+\] )?(?:rejected|blocked)",
            r"access denied",
            r"connection (?:rejected|refused) by",
            r"banned",
            r"your (?:ip|server|network|host)",
            r"blocked (?:using|by|because|for)",
            r"has been blocked",
            r"temporarily (?:blocked|deferred|rate)",
            r"not allowed to send",
            r"mail server .* rejected",
            r"poor (?:ip )?reputation",
            r"hostname .* not .* reverse",
        ),
    ),
    (
        R.HASMOVED,
        _rx(r"has (?:been )?moved", r"address (?:has )?changed", r"no longer (?:valid|in use) at", r"new address"),
    ),
    (
        R.REJECTED,
        _rx(
            r"sender (?:address )?(?:\S+ )?(?:rejected|refused|denied|blocked|invalid|unknown|verify failed)",
            r"(?:domain of )?sender (?:address |domain )?(?:does not|doesn't|must) (?:exist|resolve)",
            r"sender verif",
            r"invalid sender",
            r"bad sender",
            r"unknown sender",
            r"mail from .*(?:rejected|refused)",
            r"envelope sender",
            r"sender domain",
            r"from address .* (?:rejected|not allowed|invalid)",
            r"return path",
            r"not permitted to send",
            r"your (?:email|e-mail) address .* (?:blocked|rejected)",
            r"sender is not allowed",
            r"group you tried to contact",
            r"not have permission to post",
            r"purported responsible address",
        ),
    ),
    (
        R.SUSPEND,
        _rx(
            r"(?:account|mailbox|user|address)(?: \S+)? (?:is |has been )?(?:disabled|suspended|inactive|deactivated|"
            r"locked|frozen|closed|expired|terminated|deleted|not active|on hold|blocked)",
            r"(?<!temporarily )suspended",
            r"deactivated",
            r"inactive (?:account|mailbox|user)",
            r"disabled (?:account|mailbox|user)",
            r"not (?:an )?active",
            r"mailbox unavailable.*(?:disabled|suspend)",
            r"has been disabled",
        ),
    ),
    (
        R.MAILBOXFULL,
        _rx(
            r"mail ?box (?:is )?(?:full|over|exceed)",
            r"(?:over|exceeded?|exceeds|reached) (?:the |its |their |his |her |your )?(?:storage |mailbox |disk )?quota",
            r"quota (?:exceeded|exceed|full|reached|violation)",
            r"over ?quota",
            r"exceeded storage allocation",
            r"(?:mailbox|inbox|mail ?folder|account) (?:size )?(?:limit )?(?:is )?(?:full|exceeded)",
            r"too much mail",
            r"not enough (?:storage|space)",
            r"insufficient (?:storage|space)",
            r"out of (?:storage|space)",
            r"full mailbox",
            r"disk quota",
            r"mailbox size limit",
            r"user(?:'s)? (?:mailbox )?(?:is )?full",
            r"storage (?:limit|quota|space)",
            r"can ?not store",
            r"exceed(?:ed|s)? (?:the )?mailbox",
            r"box full",
        ),
    ),
    (
        R.SYSTEMFULL,
        _rx(r"(?:system|disk|file ?system|server) (?:is )?full", r"insufficient system storage", r"no space left"),
    ),
    (R.EXCEEDLIMIT, _rx(r"exceeds? (?:the )?(?:size|message|maximum) .*limit", r"message length exceeds")),
    (
        R.MESGTOOBIG,
        _rx(
            r"(?:message|mail|size) (?:is |was )?too (?:big|large)",
            r"message size exceeds",
            r"size (?:limit )?exceeded",
            r"exceeds (?:the )?(?:maximum|max) (?:message )?size",
            r"message (?:file )?too large",
            r"too big for",
        ),
    ),
    (
        R.NOTACCEPT,
        _rx(
            r"does not accept (?:e-?mail|mail)",
            r"(?:not|isn't) accepting (?:e-?mail|mail|messages|network)",
            r"accepts? no mail",
            r"null mx",
            r"no mail(?:box)? is accepted",
        ),
    ),
    (
        R.HOSTUNKNOWN,
        _rx(
            r"host (?:or domain name )?(?:not found|unknown)",
            r"unknown host",
            r"name or service not known",
            r"domain (?:name )?(?:not found|does not exist|doesn't exist|unknown|is invalid)",
            r"no such domain",
            r"unrouteable (?:mail )?domain",
            r"unroutable domain",
            r"no (?:valid )?mx",
            r"mx (?:record|lookup)",
            r"dns (?:error|lookup failed)",
            r"non-?existent (?:host|domain)",
            r"nxdomain",
            r"host \S+ not found",
            r"unknown domain",
            r"recipient domain .* (?:invalid|not exist)",
            r"illegal host",
            r"no route for",
            r"domain (?:is )?not reachable",
        ),
    ),
    (
        R.USERUNKNOWN,
        _rx(
            r"user(?:name)? (?:\S+ )?(?:unknown|not found|not exist|does not exist|doesn't exist|invalid)",
            r"unknown (?:user|recipient|mailbox|address|local[- ]part|alias|account)",
            r"no such (?:user|mailbox|recipient|address|account|person|local user)",
            r"(?:mailbox|recipient|address|account|user|e-?mail address)(?: \S+)? (?:is |was )?(?:unknown|not found|invalid|unavailable|not valid|does(?: not|n't) exist|not exist|nonexistent|non-existent|not recogni[sz]ed)",
            r"invalid (?:recipient|mailbox|address|user|account)",
            r"not a (?:valid|known) (?:user|mailbox|recipient)",
            r"no mailbox",
            r"mailbox not found",
            r"no account",
            r"(?:does not|doesn't) have an? .*account",
            r"not listed in",
            r"recipient name is not recognized",
            r"unrouteable address",
            r"bad destination",
            r"address (?:does not|doesn't) exist",
            r"not our customer",
            r"no valid recipients",
            r"undeliverable address",
            r"bad recipient",
            r"addressee unknown",
            r"unknown or illegal alias",
            r"no longer (?:valid|available|exists)",
            r"destination (?:address )?(?:unknown|invalid)",
            r"no user",
            r"user (?:doesn't|does not) exist",
            r"not a valid (?:mail|e-?mail)",
            r"delivery to the following recipient failed permanently",
            r"could not be found",
            r"there is no one at this address",
            r"is not a valid",
            r"address lookup failed",
            r"relay access denied.*unknown",
        ),
    ),
    (
        R.FILTERED,
        _rx(
            r"refused by (?:the )?recipient",
            r"rejected by (?:the )?recipient",
            r"domain filter",
            r"user refuses",
            r"recipient has (?:blocked|refused|rejected)",
            r"filtered",
            r"blocked by (?:the )?(?:user|recipient)",
            r"(?:message|mail) (?:was )?(?:refused|rejected|blocked)",
            r"content (?:rejected|refused)",
            r"not authorized to (?:receive|send|deliver)",
        ),
    ),
    (R.POLICYVIOLATION, _rx(r"polic(?:y|ies)", r"prohibited", r"not allowed", r"not permitted")),
    (
        R.SECURITYERROR,
        _rx(
            r"\btls\b",
            r"starttls",
            r"certificate",
            r"encrypt",
            r"security",
            r"authori[sz]ation",
            r"\bauth(?:entication)? mechanism",
        ),
    ),
    (
        R.NOTCOMPLIANTRFC,
        _rx(
            r"rfc ?(?:2822|5322|822|5321|2821)",
            r"not (?:rfc|standard)[- ]compliant",
            r"(?:duplicate|missing|malformed|invalid) (?:\S+ )?header",
            r"message-id",
            r"bare (?:lf|newline|line ?feed)",
            r"line (?:too long|length)",
        ),
    ),
    (R.CONTENTERROR, _rx(r"content", r"attachment", r"mime", r"encoding", r"8bit", r"charset")),
    (
        R.SYNTAXERROR,
        _rx(
            r"syntax error",
            r"command (?:not )?unrecogni[sz]ed",
            r"unrecogni[sz]ed command",
            r"bad sequence of commands",
            r"invalid command",
            r"parameter",
        ),
    ),
    (
        R.EXPIRED,
        _rx(
            r"expired",
            r"retry time",
            r"timed? ?out",
            r"retry timeout",
            r"timed? ?out .*(?:queue|days|hours)",
            r"too long in (?:the )?queue",
            r"gave up",
            r"giving up",
            r"could not be delivered (?:within|for|in)",
            r"delivery time",
            r"for \d+ (?:days|hours)",
            r"(?:has been|was) delayed",
            r"delay(?:ed)? .*(?:hours|days)",
            r"have been unable to deliver",
            r"cannot send message for",
            r"queue lifetime",
            r"did not accept our requests to connect",
            r"not (?:yet )?been delivered",
            r"message (?:has been )?(?:timed out|delayed)",
        ),
    ),
    (
        R.NETWORKERROR,
        _rx(
            r"connection (?:refused|reset|lost|closed|dropped)",
            r"lost connection",
            r"no route to host",
            r"network (?:is )?unreachable",
            r"host (?:is )?(?:unreachable|down)",
            r"could not connect",
            r"unable to connect",
            r"can't connect",
            r"connect(?:ion)? to .* failed",
            r"routing loop",
            r"mail loop",
            r"too many hops",
            r"loop(?:s)? (?:back|detected)",
            r"malformed (?:or unexpected )?(?:name server )?reply",
            r"name server",
            r"dns",
        ),
    ),
    (
        R.MAILERERROR,
        _rx(
            r"mailer error",
            r"command (?:died|failed)",
            r"exit (?:code|status)",
            r"procmail",
            r"permission denied",
            r"pipe to",
            r"\|/",
            r"x-unix",
            r"local delivery failed",
            r"unknown mailer",
            r"program",
        ),
    ),
    (
        R.SYSTEMERROR,
        _rx(
            r"system (?:error|failure|problem)",
            r"internal (?:server )?error",
            r"server error",
            r"configuration error",
            r"local error",
            r"temporary (?:failure|error|problem)",
            r"try (?:again )?later",
            r"service (?:currently )?(?:not available|unavailable)",
            r"resources",
            r"transaction failed",
            r"too many (?:errors|bad)",
            r"processing error",
            r"i/o error",
            r"unexpected",
        ),
    ),
)

# Last resort wordings, tried after everything above.
_FALLBACK_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (R.USERUNKNOWN, _rx(r"recipient address rejected")),
    (R.BLOCKED, _rx(r"\bblocked\b", r"\brejected\b", r"\brefused\b")),
)

# RFC 3463 § 3 subjects and details, read as Sisimai does. Only codes whose
# meaning is specific enough to name a reason are listed; X.7.1, X.0.0 and
# friends ("delivery not authorized", "other") are left to the text.
_STATUS_TABLE: dict[str, Reason] = {
    "1.1": R.USERUNKNOWN,
    "1.2": R.HOSTUNKNOWN,
    "1.3": R.USERUNKNOWN,
    "1.4": R.USERUNKNOWN,
    "1.6": R.HASMOVED,
    "1.7": R.REJECTED,
    "1.8": R.REJECTED,
    "1.9": R.NORELAYING,
    "1.10": R.NOTACCEPT,
    "2.1": R.SUSPEND,
    "2.2": R.MAILBOXFULL,
    "2.3": R.EXCEEDLIMIT,
    "2.4": R.MAILERERROR,
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
    "5.1": R.SYNTAXERROR,
    "5.2": R.SYNTAXERROR,
    "5.3": R.EXCEEDLIMIT,
    "5.4": R.SYNTAXERROR,
    "5.5": R.SYNTAXERROR,
    "6.0": R.CONTENTERROR,
    "6.1": R.CONTENTERROR,
    "6.2": R.CONTENTERROR,
    "6.3": R.CONTENTERROR,
    "6.5": R.CONTENTERROR,
    "6.6": R.CONTENTERROR,
    "6.9": R.CONTENTERROR,
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
    "7.13": R.SUSPEND,
    "7.14": R.SUSPEND,
    "7.15": R.SECURITYERROR,
    "7.16": R.EXCEEDLIMIT,
    "7.17": R.SUSPEND,
    "7.18": R.SUSPEND,
    "7.20": R.AUTHFAILURE,
    "7.21": R.AUTHFAILURE,
    "7.22": R.AUTHFAILURE,
    "7.23": R.AUTHFAILURE,
    "7.24": R.AUTHFAILURE,
    "7.25": R.REQUIREPTR,
    "7.26": R.AUTHFAILURE,
    "7.27": R.NOTACCEPT,
    "7.28": R.SPEEDING,
    "7.29": R.AUTHFAILURE,
    "7.30": R.AUTHFAILURE,
    # Microsoft 365 extensions (learn.microsoft.com "NDRs in Exchange Online").
    "7.509": R.AUTHFAILURE,
    "7.510": R.AUTHFAILURE,
    "7.515": R.AUTHFAILURE,
    "7.606": R.BLOCKED,
    "7.607": R.BLOCKED,
    "7.608": R.BLOCKED,
    "7.708": R.BADREPUTATION,
    "7.750": R.BLOCKED,
    "7.650": R.BADREPUTATION,
    "7.54": R.NORELAYING,
    "7.57": R.SECURITYERROR,
    "1.351": R.USERUNKNOWN,
    "4.316": R.EXPIRED,
    "4.14": R.NETWORKERROR,
    "4.312": R.NETWORKERROR,
    "4.310": R.HOSTUNKNOWN,
}

# Reasons a code decides even when the text names something else: the
# remote chose a precise code, and wording like "rejected" is boilerplate.
_STATUS_WINS = frozenset(
    {"1.1", "1.2", "1.6", "2.2", "7.26", "7.25", "7.509", "7.13", "1.10", "3.4", "2.3", "1.8", "7.27"}
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
_HARD = frozenset({R.USERUNKNOWN, R.HOSTUNKNOWN, R.HASMOVED, R.NOTACCEPT})


_ADDRESS_OR_URL_RE = re.compile(r"\S+@\S+|https?://\S+")
# RFC 5321 § 3.3 stages, as MTAs report them ("after RCPT TO", "in reply to
# end of DATA command", ">>> DATA").
_DATA_STAGE_RE = re.compile(
    r"after end of data|after data|reply to (?:end of )?data|>>> data|smtp command\s+data|"
    r"(?m:^\s*data\s*$)|"
    r"did not like our final data",
    re.IGNORECASE,
)
_RCPT_STAGE_RE = re.compile(
    r"after rcpt|reply to rcpt|>>> rcpt|did not like our rcpt|rcpt to response|"
    r"rcpt to:? ?<[^>]*>\s*\n?\s*<<<",
    re.IGNORECASE,
)
_MAIL_STAGE_RE = re.compile(
    r"after mail from|reply to mail from|>>> mail from|did not like our mail from", re.IGNORECASE
)
_CONNECT_STAGE_RE = re.compile(
    r"after initial connection|after (?:ehlo|helo)|reply to (?:ehlo|helo)|"
    r"did not like our (?:greeting|ehlo|helo)",
    re.IGNORECASE,
)


def text_reason(text: str, fallback: bool = True) -> Reason | None:
    """Return the first reason whose pattern matches the diagnostic text.

    Addresses and URLs are blanked first: a local part such as
    "mailboxfull@" or a help link is not the remote's wording.
    """
    text = _ADDRESS_OR_URL_RE.sub(" ", text)
    for reason, pattern in _TEXT_RULES + (_FALLBACK_RULES if fallback else ()):
        if pattern.search(text):
            return reason
    return None


def status_reason(status: str | None) -> Reason | None:
    """Return the reason a specific RFC 3463 code implies, or None if generic."""
    if not status or is_generic(status):
        return None
    return _STATUS_TABLE.get(status.split(".", 1)[1])


def classify_reason(diagnostic: str, status: str | None, action: str, context: str = "") -> Reason:
    """Decide the reason for one recipient.

    Args:
        diagnostic: the error text (any length, any case).
        status: enhanced status code, if known.
        action: RFC 3464 action.
        context: the report's text about this recipient; read only for the
            SMTP stage at which the error came.

    Returns:
        The reason; UNDEFINED when nothing decides it.
    """
    if action in ("delivered", "relayed", "expanded"):
        return R.DELIVERED
    by_status = status_reason(status)
    if by_status is not None and status is not None and status.split(".", 1)[1] in _STATUS_WINS:
        specific = text_reason(diagnostic, fallback=False)
        if specific not in _TEXT_OVERRULES or specific is by_status:
            return by_status
    by_text = text_reason(diagnostic)
    stage = diagnostic + "\n" + context
    if by_text is R.USERUNKNOWN and _DATA_STAGE_RE.search(stage) and not _RCPT_STAGE_RE.search(stage):
        # "User unknown" said after DATA, not in reply to RCPT TO (RFC 5321
        # § 3.3, where a server validates the mailbox), is a filter's
        # answer: the recipient was accepted at RCPT. Sisimai reads it so.
        return R.FILTERED
    if by_text is not None:
        return by_text
    if by_status is not None:
        return by_status
    if _MAIL_STAGE_RE.search(diagnostic):
        return R.REJECTED
    if _CONNECT_STAGE_RE.search(diagnostic):
        return R.BLOCKED
    if action == "delayed":
        # RFC 3464 § 2.3.3: "delayed" means still queued; a report of it
        # is the queue-time warning.
        return R.EXPIRED
    return R.UNDEFINED


def is_hard(reason: Reason, status: str | None, action: str) -> bool:
    """Decide whether the address itself is bad (retrying cannot succeed).

    Follows the corpus definition (Sisimai's hardbounce): user unknown, host
    unknown, moved and "does not accept mail" are hard; a transient outcome
    (action delayed, or "notaccept" with a 4.x.x status) never is.
    """
    if action != "failed" or reason not in _HARD:
        return False
    return not (reason is R.NOTACCEPT and status is not None and status.startswith("4"))
