"""Diagnostic-text wordings, ordered: which words of a remote or local error mean which Reason.

Pure: no I/O. Owns the ordered regular expressions (in the spirit of Sisimai's
Sisimai::Reason::* matchers and the wordings real MTAs use) and ``text_reason``,
which returns the first reason whose pattern matches. The status-code table,
the SMTP-stage reading and the hard/soft verdict live in ``reasons``.
"""

from __future__ import annotations

import functools
import re

from bridge.bounces.causes import SPECIFIC_RULES
from bridge.bounces.model import Reason

R = Reason


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# Mailbox, address, host and transport wordings, after the specific causes
# of ``causes``: earlier rules win.
TEXT_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = SPECIFIC_RULES + (
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
            # Gmail's "Send mail as" alias whose SMTP settings failed.
            r"send mail as",
            # A list manager refusing a post from a non-member.
            r"not a member of (?:this|the) (?:mailing )?list",
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
            # "553 neko.example.com does not exist": a bare host name refused.
            r"^\W*(?:[45]\d\d\s+)?[a-z0-9-]+(?:\.[a-z0-9-]+)+\.? (?:does not|doesn't) exist",
            r"\s[a-z0-9-]+(?:\.[a-z0-9-]+)+\.? (?:does not|doesn't) exist",
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
            r"invalid (?:\w+ ){0,2}user ?id",
            r"check if (?:the )?address is correct",
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
            # Not the "RFC822;" address-type prefix of a DSN field.
            r"rfc ?(?:2822|5322|822|5321|2821)(?!\s*;)",
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
FALLBACK_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (R.USERUNKNOWN, _rx(r"recipient address rejected")),
    (R.BLOCKED, _rx(r"\bblocked\b", r"\brejected\b", r"\brefused\b")),
    # Google Groups answers a post it refuses (unknown group, or a sender
    # without permission to post) in the sender's language, with no SMTP
    # code; its help link is the one constant. Sisimai reads it "rejected".
    (R.REJECTED, _rx(r"groups\.google\.com")),
)


_ADDRESS_RE = re.compile(r"\S+@\S+")
_URL_RE = re.compile(r"https?://([^/\s?#]+)\S*", re.IGNORECASE)
# RFC 5321 § 4.2.1 multi-line replies repeat the code on every line
# ("550-5.7.1 Messages with multiple 550-5.7.1 addresses in From:"); once the
# lines are joined, the repeats split the server's words.
_CONTINUATION_RE = re.compile(r"(?<=\S)\s+[245]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\s)?")


def _normalise(text: str) -> str:
    """Blank addresses, keep only the host of URLs, drop repeated reply codes.

    A local part such as "mailboxfull@" is not the remote's wording; a help
    link's host ("www.spamhaus.org") is, its path is noise.
    """
    text = _URL_RE.sub(lambda m: " " + m.group(1) + " ", text)
    text = _ADDRESS_RE.sub(" ", text)
    return _CONTINUATION_RE.sub(" ", text)


def text_reason(text: str, fallback: bool = True) -> Reason | None:
    """Return the first reason whose pattern matches the diagnostic text.

    The text is normalised first (see ``_normalise``).
    """
    text = _normalise(text)
    for reason, pattern in TEXT_RULES + (FALLBACK_RULES if fallback else ()):
        if pattern.search(text):
            return reason
    return None


@functools.cache
def wording(reason: Reason) -> re.Pattern[str]:
    """Return one pattern matching every wording of reason (to find where a reply says it)."""
    patterns = [rx.pattern for name, rx in TEXT_RULES + FALLBACK_RULES if name is reason]
    return re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!)", re.IGNORECASE)
