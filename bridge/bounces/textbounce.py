"""Heuristics for bounces that carry no RFC 3464 part.

Pure: no I/O. Owns recognising a non-DSN bounce (Exim, qmail, Sendmail v5,
Exchange 2003, Gmail, Yahoo, Google Groups, ...) and cutting its text into
per-recipient blocks. The rules are about shape, not vendors: a daemon
sender or a failure subject, a failure phrase in the text, a separator
before the returned message, and addresses that open a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.bounces.parts import ADDRESS_RE, Message, header, original_headers

_DAEMON_RE = re.compile(
    r"mailer[-_ ]?daemon|post[-_]?master|mail delivery (?:subsystem|system|service)|mdaemon|"
    r"system administrator|mail ?administrator|delivery ?notification|nobody@|bounce",
    re.IGNORECASE,
)
_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|non[- ]?deliver|not? delivered|delivery (?:status|failure|failed|problem|notification|report)|"
    r"returned mail|return(?:ed)? to sender|failure notice|mail delivery failed|delivery failed|mail system error|"
    r"could not (?:be )?deliver|couldn't be delivered|delayed mail|warning: could not send|rejected|bounce|"
    r"mail failure|failed mail|message not delivered|nondeliverable|error sending|unzustellbar|"
    # Mailing-list managers (fml, Majordomo) refusing a post or a loop.
    r"are not (?:a )?member|not a member|loop alert|"
    r"delivery has failed|fehlgeschlagen|non remis|erreur|no se pudo entregar|echec",
    re.IGNORECASE,
)
# Phrases MTAs put in the human-readable part of a failure report.
_BODY_RE = re.compile(
    r"could not be delivered|couldn't be delivered|wasn't able to deliver|was not able to deliver|unable to deliver|"
    r"cannot be delivered|can ?not deliver|could not deliver|delivery to the following recipients? failed|"
    r"did not reach the following recipient|permanent (?:error|failure|fatal)|has not been delivered|"
    r"undeliverable|transcript of session follows|delivery (?:has )?failed|failed to deliver|"
    r"following addresses? (?:had|failed)|error (?:occurred|has occurred) while|message was (?:not delivered|rejected|undeliverable)|"
    r"rejected by the (?:remote|recipient)|there was an error delivering|delivery problem|"
    r"message you sent .* (?:could not|has not|was not)|not be delivered|returned to you|mail delivery failed|"
    r"delivery to .* failed|did not like|is not a valid|mail system error|could not send|"
    r"unable to send|has been delayed|not yet been delivered|error while (?:trying to )?deliver|"
    r"delivery status notification|cannot send message|user unknown|no such user|"
    r"recipient rejected|remote host said|smtp error|temporary error|will be retried|"
    r"no se pudo entregar|nicht zugestellt|n'a pas pu (?:être|etre) remis|not (?:a )?member|"
    r"error message|invalid (?:user|address|recipient)|failure reasons|unknown user|non-delivered|"
    r"送信できません|送信に失敗|配信できません|届きません|宛先不明|エラー|не может быть доставлено",
    re.IGNORECASE,
)
# Phrases specific enough to decide without a daemon sender or failure subject.
_STRONG_RE = re.compile(
    r"could not be delivered to|was not delivered to|wasn't able to deliver|did not reach the following recipient|"
    r"transcript of session follows|following addresses had (?:permanent )?(?:fatal|delivery)|"
    r"delivery to the following recipients? failed|message could not be delivered|"
    r"error occurred while trying to deliver",
    re.IGNORECASE,
)
# Every alternative of _STRONG_RE contains one of these words (a unit test
# keeps it so): for ASCII text, where IGNORECASE is plain lower-casing, their
# absence rules the phrase out at a fraction of the regex's cost.
STRONG_WORDS = ("deliver", "transcript", "addresses had", "did not reach")
# Lines after which the returned message (or its headers) is quoted.
_SEPARATOR_RE = re.compile(
    r"^\s*(?:[-=*_#]{2,}\s*)?(?:"
    r"this is a copy of|original message|below this line is a copy|unsent message|returned message|"
    r"message headers follow|headers of the original|original message follows|below is a copy of|"
    r"the original message was(?! received)|copy of the original|rejected message|returned mail|undelivered message|"
    r"header of original|original mail|message text follows|your message reads|original message header|"
    r"returned content|the message follows|bounced e-?mail|copy of your message"
    r")",
    re.IGNORECASE,
)
# RFC 5322 § 2.2 needs no space after the colon ("Received:from ...", as
# Zoho quotes the returned headers).
_HEADER_START_RE = re.compile(r"^(?:Return-Path|Received|Message-I[Dd]|DKIM-Signature|X-[\w-]+):", re.MULTILINE)
_ORIGINATOR_LINE_RE = re.compile(r"\n(?:From|Subject):")
_LEADING_RE = re.compile(
    # Optional SMTP reply first: Sendmail transcripts say "550 <addr>... why".
    r"^[\s>*-]*(?:[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3} )?)?"
    r"(?:RCPT To:\s*|Recipient:\s*|To:\s*|Original-Recipient:\s*rfc822;\s*|Final-Recipient:\s*rfc822;\s*)?"
    r"[\"']?<?("
    + ADDRESS_RE.pattern
    + r")>?[\"']?\s*(?::|\.\.\.|,|;|\s+on\s|\s*\(|\s+\[|\s+-|\s*$|\s+(?:is|was|does|has|delivery))",
    re.IGNORECASE,
)
_DELAY_RE = re.compile(
    r"will (?:continue|keep) trying|still (?:trying|be retried|in the queue)|will be retried|not yet been delivered|"
    r"has been delayed|is delayed|delivery (?:status notification )?\(delay\)|delayed mail|warning: could not send|"
    r"temporar(?:y|ily) (?:failure|error|unable)|will try again",
    re.IGNORECASE,
)
_REPLY_LINE_RE = re.compile(r"^\s*[45]\d\d[ \-]", re.MULTILINE)
# "Label: address" lines (iMail "Unknown user: x", PMDF "Recipient address: x").
_LABELLED_RE = re.compile(
    r"^[\s>*-]*(?!(?:to|from|cc|bcc|reply-to|sender|return-path|mail from|subject)\s*:)[^:<>@\n]{1,60}:\s*"
    r"[\"']?<?(" + ADDRESS_RE.pattern + r")>?",
    re.IGNORECASE | re.MULTILINE,
)
# "phrase <addr>: why" (RFC 5322 § 3.4 name-addr): the bracketed address is
# the mailbox even when the phrase looks like one (Exim's "x@a <y@b>:
# malformed address"; Sisimai::Lhost::Exim reads the <...> too).
_NAME_ADDR_RE = re.compile(r"^[\s>*-]*[^\s<>:][^<>:\n]{0,80}\s<(" + ADDRESS_RE.pattern + r")>\s*:", re.IGNORECASE)
# The original's header fields repeated in the notice ("Your message / To: /
# Subject: / Sent:", Exchange and PMDF): two or more such lines in a row
# describe what was sent, not who failed.
_SUMMARY_FIELD_RE = re.compile(r"^\s*(?:to|cc|bcc|from|subject|sent|date|message-id)\s*:", re.IGNORECASE)
# An address right after the words that introduce a failed recipient in
# running text ("delivering your mail to <x>", "undeliverable to x",
# "rejected recipient <x>"; the phrases of Sisimai::RFC3464's fallback).
_PHRASED_RE = re.compile(
    r"(?:addressed to|sent (?:mail )?to|deliver(?:ed|ing|y)?(?: (?:of |your |the |this )?(?:e-?mail|mail|message))?"
    r" to|undeliverable to|(?:failed|rejected|intended|unknown) recipient|message to|mail to)\s*:?\s*[\"'(]?<?("
    + ADDRESS_RE.pattern
    + r")",
    re.IGNORECASE,
)
# A Received field's "for <addr>" clause, the field possibly folded.
_RECEIVED_FOR_RE = re.compile(
    r"^Received:(?:[^\n]|\n[ \t])*?\bfor\s+<?(" + ADDRESS_RE.pattern + r")>?", re.IGNORECASE | re.MULTILINE
)
# Transcript lines: "In:  RCPT TO:<x>" (Postfix smtpd), ">>> RCPT To:<x>".
_RCPT_TO_RE = re.compile(r"\brcpt\s+to:\s*<(" + ADDRESS_RE.pattern + r")>", re.IGNORECASE)
_MAIL_FROM_RE = re.compile(r"\bmail\s+from:\s*<?(" + ADDRESS_RE.pattern + r")", re.IGNORECASE)
# "[Status: Error, Address: <x>, ResponseCode 421, ...]" (Zoho and others).
_INLINE_LABEL_RE = re.compile(r"[\[,;]\s*(?:address|recipient)\s*:\s*<?(" + ADDRESS_RE.pattern + r")>?", re.IGNORECASE)
_DAEMON_LOCAL = re.compile(r"^(?:mailer-daemon|double-bounce)$", re.IGNORECASE)
# Service mailboxes and mailing-list control addresses (RFC 2142; the
# "-request"/"-ctl"/"owner-" conventions of list managers): never the failed
# recipient even when a notice names them first.
_IGNORED_LOCAL = re.compile(
    r"^(?:mailer-daemon|postmaster|double-bounce|root|abuse|no-?reply|nobody|owner-.+|.+-(?:ctl|request|owner))$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class TextBlock:
    """One recipient found in a text bounce, with the text that concerns it."""

    recipient: str
    text: str


def split_notice(text: str) -> tuple[str, str]:
    """Split a report body into (notice, quoted original) at the first separator."""
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if index > 0 and _SEPARATOR_RE.match(line):
            return "\n".join(lines[:index]), "\n".join(lines[index:])
    match = None
    for match in _HEADER_START_RE.finditer(text):
        following = text[match.end() : match.end() + 600]
        if len(_HEADER_START_RE.findall(following)) + len(_ORIGINATOR_LINE_RE.findall(following)) >= 2:
            return text[: match.start()], text[match.start() :]
    return text, ""


def looks_like_bounce(msg: Message, notice: str) -> bool:
    """Decide whether a message without a DSN part is a failure report.

    Args:
        msg: the report.
        notice: its human-readable text, before any quoted original.

    Returns:
        True when a daemon-like sender or failure subject (or an
        X-Failed-Recipients header) comes with a failure phrase in the text.
    """
    if msg.get("X-Failed-Recipients"):
        return True
    if envelope_says_report(msg) and (
        _BODY_RE.search(notice) or _REPLY_LINE_RE.search(notice) or ADDRESS_RE.search(notice)
    ):
        return True
    return has_strong_phrase(notice)


def envelope_says_report(msg: Message) -> bool:
    """True when the headers look like a failure report's: X-Failed-Recipients, a daemon sender, a failure subject."""
    if msg.get("X-Failed-Recipients"):
        return True
    sender = header(msg, "From") + " " + header(msg, "Return-Path") + " " + header(msg, "Sender")
    return bool(_DAEMON_RE.search(sender)) or bool(_SUBJECT_RE.search(header(msg, "Subject")))


def has_strong_phrase(text: str) -> bool:
    """True when text says a delivery failed in words specific enough to need no other sign."""
    if text.isascii():
        lowered = text.lower()
        if not any(word in lowered for word in STRONG_WORDS):
            return False
    return bool(_STRONG_RE.search(text))


def _excluded(msg: Message, quoted: str, notice: str = "") -> set[str]:
    """Addresses that are not failed recipients: the report's own parties and the original sender."""
    names = [header(msg, h) for h in ("From", "To", "Cc", "Reply-To", "Sender", "Return-Path")]
    for field in ("From", "Return-Path", "Sender", "Reply-To"):
        match = re.search(rf"(?im)^{field}:\s*(.*)$", quoted)
        if match:
            names.append(match.group(1))
    # RFC 5321 § 4.1.1.2: the MAIL FROM reverse-path in a quoted transcript
    # is the sender (often a VERP/XVERP address that looks like anything).
    names.extend(_MAIL_FROM_RE.findall(notice))
    return {a.lower() for value in names for a in ADDRESS_RE.findall(value)}


def _usable(address: str, excluded: set[str]) -> bool:
    local = address.split("@", 1)[0]
    return address.lower() not in excluded and not _IGNORED_LOCAL.match(local)


def find_recipients(msg: Message, notice: str, quoted: str) -> list[str]:
    """Return failed recipients in order of appearance, without duplicates."""
    # Raw, not RFC 2047-decoded: an encoded word may not stand in an
    # addr-spec (RFC 2047 § 5 (3)), so one that does is the local part as
    # the MTA saw it, and decoding it would leave no address at all.
    failed = " ".join(str(msg.get("X-Failed-Recipients", "")).split())
    if failed:
        # Exim and Gmail name the failed recipients in this header.
        return _dedupe(ADDRESS_RE.findall(failed))
    excluded = _excluded(msg, quoted, notice)
    lines = _without_header_summary(notice.split("\n"))
    leading = [m.group(1) for line in lines if (m := _LEADING_RE.match(line) or _NAME_ADDR_RE.match(line))]
    leading += _RCPT_TO_RE.findall(notice)
    labelled = _LABELLED_RE.findall("\n".join(lines)) + _INLINE_LABEL_RE.findall(notice)
    anywhere = ADDRESS_RE.findall(notice)
    # Strongest shape first; the report's own parties are skipped unless
    # nothing else is left (a sender who wrote to itself).
    phrased = _PHRASED_RE.findall(notice)
    for candidates, limit in ((leading, None), (labelled, None), (phrased, None), (anywhere, 1)):
        found = _dedupe([a for a in candidates if _usable(a, excluded)])
        if found:
            return found[:limit]
    for candidates in (leading, labelled):
        found = _dedupe([a for a in candidates if not _DAEMON_LOCAL.match(a.split("@", 1)[0])])
        if found:
            return found
    # Nothing in the notice: the returned message's newest Received "for"
    # clause is the envelope recipient of the hop that failed (RFC 5321
    # § 4.4; Sisimai::Fact reads it for the same purpose), a surer name
    # than its To: header, which may be a list or several people.
    # Unless what came back is itself a report (a bounce of a bounce, or one
    # forwarded whole): its Received fields lead to the first report's
    # reader, and the DSN inside names the recipient.
    attached = None if _carries_report(msg) else original_headers(msg)
    fields = attached.get_all("Received", []) if attached is not None else []
    returned = "\n".join(f"Received: {' '.join(str(value).split())}" for value in fields) + "\n" + quoted
    received = [a for a in _RECEIVED_FOR_RE.findall(returned) if _usable(a, excluded)]
    if received:
        return received[:1]
    match = re.search(r"(?im)^To:\s*((?:.*)(?:\n[ \t].*)*)", quoted)
    if match:
        return _dedupe(ADDRESS_RE.findall(match.group(1)))[:1]
    return []


def _carries_report(msg: Message) -> bool:
    return any(part.get_content_type().endswith("delivery-status") for part in msg.walk())


def _without_header_summary(lines: list[str]) -> list[str]:
    """Drop runs of two or more header-field lines (the original's To/Subject/Sent repeated in the notice)."""
    summary = [bool(_SUMMARY_FIELD_RE.match(line)) for line in lines]
    kept = []
    for index, line in enumerate(lines):
        near = summary[max(index - 1, 0) : index + 2]
        if not (summary[index] and sum(near) >= 2):
            kept.append(line)
    return kept


def _dedupe(addresses: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for address in addresses:
        address = address.strip(".")
        if address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out


def blocks(notice: str, recipients: list[str]) -> list[TextBlock]:
    """Cut the notice into one block of text per recipient.

    A block starts at the first line naming the recipient and runs to the
    line naming the next one; lines elsewhere that quote the recipient next
    to an SMTP reply (Sendmail transcripts) are added.
    """
    lines = notice.split("\n")
    starts: list[int] = []
    for address in recipients:
        low = address.lower()
        starts.append(next((i for i, line in enumerate(lines) if low in line.lower()), -1))
    result: list[TextBlock] = []
    for index, address in enumerate(recipients):
        start = starts[index]
        if start < 0:
            result.append(TextBlock(address, notice))
            continue
        later = [s for s in starts if s > start]
        end = min(later) if later else len(lines)
        chunk = lines[start:end]
        extra = [
            line
            for i, line in enumerate(lines)
            if not start <= i < end and address.lower() in line.lower() and re.search(r"\b[45]\d\d\b", line)
        ]
        result.append(TextBlock(address, "\n".join(chunk + extra)))
    return result


def is_delay(msg: Message, notice: str) -> bool:
    """True when the report says delivery is still being retried."""
    return bool(_DELAY_RE.search(header(msg, "Subject"))) or bool(_DELAY_RE.search(notice))
