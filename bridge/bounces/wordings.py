"""Diagnostic-text wordings, ordered: which words of a remote or local error mean which Reason.

Pure: no I/O. Owns the order of the wording tables (the taxonomy's own
phrase lists, ``taxonomy``, first unless a specific status code speaks; then
``causes``, ``addressing``, the content, protocol and transport wordings kept here,
in the spirit of Sisimai's Sisimai::Reason::* matchers and the wordings real
MTAs use) and ``text_reason``, which returns the first reason whose pattern
matches. The status-code table lives in ``statuses``; the SMTP-stage reading
and the hard/soft verdict in ``reasons``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection

from bridge.bounces.addressing import ADDRESS_RULES
from bridge.bounces.causes import SPECIFIC_RULES
from bridge.bounces.documented import documented_wording
from bridge.bounces.model import Reason
from bridge.bounces.phrases import alternation, phrases_of
from bridge.bounces.plainwords import PLAIN_RULES
from bridge.bounces.taxonomy import taxonomy_phrase, taxonomy_reason

R = Reason


# Specific causes, then mailbox/address/host wordings, then the queue's expiry,
# then (at DOCUMENTED_AT) the documented vocabulary, the plain-language
# wordings, then content, protocol and transport wordings: earlier rules win.
TEXT_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    SPECIFIC_RULES
    + ADDRESS_RULES
    + (
        # The queue gave up: a timeout, however the remote failed, ended in expiry
        # (the corpus convention). Tried before the documented vocabulary, whose
        # "Connection timed out" names only the transport cause.
        (
            R.EXPIRED,
            alternation(
                r"expired",
                r"retry time",
                r"timed? ?out",
                r"retry timeout",
                r"timed? ?out .*(?:queue|days|hours)",
                r"too long in (?:the )?queue",
                r"gave up",
                r"giving up",
                r"could not be delivered (?:within|for|in)",
                r"not (?:been )?delivered within",
                # "Delivery ... was aborted after 5.0 hour(s)": the queue gave up.
                r"(?:aborted|abandoned|given up|failed) after \d+(?:\.\d+)? ?(?:hour|day|minute)",
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
        # A session the remote cut or refused, in the words the taxonomy files
        # as a block, not as network trouble (Sisimai's Blocked list; its
        # Blocked is tried before NetworkError and SystemError): the RFC 5321
        # 421 text and the resets and drops a refusing server causes.
        (
            R.BLOCKED,
            alternation(
                r"service not available, closing transmission channel",
                r"connection reset by peer",
                r"connection (?:was )?dropped",
                r"connection refused by",
            ),
        ),
    )
    # Here (DOCUMENTED_AT) the documented vocabulary is consulted, then the
    # plain-language wordings.
    + PLAIN_RULES
    + (
        (
            R.FILTERED,
            alternation(
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
        (R.POLICYVIOLATION, alternation(r"polic(?:y|ies)", r"prohibited", r"not allowed", r"not permitted")),
        (
            R.SECURITYERROR,
            alternation(
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
            alternation(
                # Not the "RFC822;" address-type prefix of a DSN field.
                r"rfc ?(?:2822|5322|822|5321|2821)(?!\s*;)",
                r"not (?:rfc|standard)[- ]compliant",
                r"(?:duplicate|missing|malformed|invalid) (?:\S+ )?header",
                # Not the "Message-ID:" field of quoted headers.
                r"message-id(?!\s*:)",
                r"bare (?:lf|newline|line ?feed)",
                r"line (?:too long|length)",
            ),
        ),
        # Header field names of quoted headers ("Content-Type:", "MIME-Version:",
        # "Content-Transfer-Encoding: 8bit") are not the remote's words.
        (
            R.CONTENTERROR,
            alternation(
                r"content(?![\w-]*\s*:)",
                r"attachment",
                r"\bmime(?!-version)",
                r"(?<!transfer-)encoding(?!\s*:)",
                r"(?<!encoding: )8bit",
                r"charset(?!\s*=)",
            ),
        ),
        (
            R.SYNTAXERROR,
            alternation(
                r"syntax error",
                r"command (?:not )?unrecogni[sz]ed",
                r"unrecogni[sz]ed command",
                # RFC 5321 § 4.2.2 "503 Bad sequence of commands" and its rewordings.
                r"(?:bad|improper|wrong|invalid) sequence of commands",
                r"invalid command",
                r"parameter",
            ),
        ),
        (
            R.NETWORKERROR,
            alternation(
                r"connection (?:refused|reset|lost|closed|dropped)",
                r"lost connection",
                r"no route to host",
                r"network (?:is )?unreachable",
                r"host (?:is )?(?:unreachable|down|not reachable|not responding)",
                r"could not connect",
                r"unable to connect",
                r"can't connect",
                r"connect(?:ion)? to .* failed",
                r"routing loop",
                r"mail loop",
                r"forwarding loop",
                r"message is looping",
                r"too many hops",
                r"loop(?:s)? (?:back|detected)",
                r"malformed (?:or unexpected )?(?:name server )?reply",
                r"name server",
                r"dns",
            ),
        ),
        (
            R.MAILERERROR,
            alternation(
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
                r"program (?:exited|failed|error|returned)",
            ),
        ),
        (
            R.SYSTEMERROR,
            alternation(
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
)

# The documented vocabulary (``documented``) is consulted before this rule of
# TEXT_RULES: after the specific, address and expiry wordings, whose order
# encodes the taxonomy's conventions, and before the generic single words
# ("policy", "content", "dns", "try again later") that a documented phrase
# says more precisely than. Measured (BENCHMARKS.md, bounce section): there
# it decides 28 corpus records, all right; before the address wordings it
# decides 168 with 13 wrong.
DOCUMENTED_AT = len(SPECIFIC_RULES) + len(ADDRESS_RULES) + 2

# Last resort wordings, tried after everything above.
FALLBACK_RULES: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (R.USERUNKNOWN, alternation(r"recipient address rejected")),
    (R.BLOCKED, alternation(r"\bblocked\b", r"\brejected\b", r"\brefused\b")),
    # Google Groups answers a post it refuses (unknown group, or a sender
    # without permission to post) in the sender's language, with no SMTP
    # code; its help link is the one constant. Sisimai reads it "rejected".
    (R.REJECTED, alternation(r"groups\.google\.com")),
)


_ADDRESS_RE = re.compile(r"\S+@\S+")
_URL_RE = re.compile(r"https?://([^/\s?#]+)\S*", re.IGNORECASE)
# RFC 5321 § 4.2.1 multi-line replies repeat the code on every line
# ("550-5.7.1 Messages with multiple 550-5.7.1 addresses in From:"); once the
# lines are joined, the repeats split the server's words.
_CONTINUATION_RE = re.compile(r"(?<=\S)\s+[245]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\s)?")
# Names of header fields that a report quotes from the returned message
# ("X-Virus-Scanned:", "Content-Type:", "Received-SPF:"): the names are not
# the remote's words, though "virus", "content" or "spf" in them would match.
_HEADER_NAME_RE = re.compile(
    r"\b(?:X-[\w-]+|Content-[\w-]+|MIME-Version|Message-ID|DKIM-Signature|ARC-[\w-]+|Received-SPF|"
    r"Authentication-Results|Return-Path|Received)\s*:",
    re.IGNORECASE,
)


def _normalise(text: str) -> str:
    """Blank addresses and quoted header names, keep only the host of URLs, drop repeated reply codes.

    A local part such as "mailboxfull@" is not the remote's wording; a help
    link's host ("www.spamhaus.org") is, its path is noise.
    """
    text = _URL_RE.sub(lambda m: " " + m.group(1) + " ", text)
    text = _ADDRESS_RE.sub(" ", text)
    text = _HEADER_NAME_RE.sub(" ", text)
    return _CONTINUATION_RE.sub(" ", text)


def text_reason(text: str, fallback: bool = True) -> Reason | None:
    """Return the first reason whose pattern matches the diagnostic text.

    The text is normalised first (see ``_normalise``). With ``fallback``,
    the taxonomy's phrase lists (``taxonomy``) are read before every rule of
    ``TEXT_RULES`` and the last-resort words after them.
    """
    normal = _normalise(text)
    if fallback:
        # The taxonomy's own phrase lists first: a wording Sisimai files under
        # a reason is the label's definition, more exact than our patterns
        # (measured: it changes no class on any set and names the exact
        # reason more often, on the kept-aside fifth and the external sets
        # too). Not read when a specific status code speaks (``fallback``
        # false): a code the remote chose outweighs a listed phrase.
        listed = taxonomy_reason(normal)
        if listed is not None:
            return listed
    for index, (reason, pattern) in enumerate(TEXT_RULES):
        if index == DOCUMENTED_AT:
            # Documented wordings are matched as written: an address or a
            # link in them is part of the wording.
            documented = documented_wording(text)
            if documented is not None:
                return documented.reason
        if pattern.search(normal):
            return reason
    if not fallback:
        return None
    return next((reason for reason, pattern in FALLBACK_RULES if pattern.search(normal)), None)


@functools.cache
def wording(reason: Reason) -> re.Pattern[str]:
    """Return one pattern matching every wording of reason (to find where a reply says it)."""
    return alternation(*(p for name, rx in TEXT_RULES + FALLBACK_RULES if name is reason for p in phrases_of(rx)))


def deciding_phrase(text: str, without: Collection[tuple[Reason, str]] = ()) -> tuple[Reason, str] | None:
    """Return the reason and the phrase of the tables that decide text, skipping the pairs in without.

    Gives what ``text_reason`` (with its fallback) decides, phrase by phrase:
    slower, for explaining and measuring a decision, not for classifying.
    """
    normal = _normalise(text)
    listed = taxonomy_phrase(normal)
    if listed is not None and listed not in without:
        return listed
    for index, (reason, pattern) in enumerate(TEXT_RULES + FALLBACK_RULES):
        if index == DOCUMENTED_AT:
            documented = documented_wording(text, without)
            if documented is not None:
                return documented.reason, documented.pattern.pattern
        for phrase in phrases_of(pattern):
            if (reason, phrase) not in without and re.search(phrase, normal, re.IGNORECASE):
                return reason, phrase
    return None
