"""Recover the SMTP command at which a remote server refused a recipient.

Pure: no I/O. RFC 5321 § 3.3 orders a mail transaction as connection
greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA and the end-of-data dot. The
same words mean different things at different stages: "user unknown" in
reply to RCPT TO is the server's mailbox check, while the same reply after
the end of data comes from a content filter that already accepted the
recipient (Sisimai's ``filtered``), and a refusal in reply to MAIL FROM is
about the sender. Reports rarely carry the stage in a field; MTAs write it
into the text in a handful of ways, read here:

* Postfix: ``(in reply to RCPT TO command)``, ``(in reply to end of DATA
  command)``;
* Exim: ``SMTP error from remote mail server after RCPT TO:<x>:``, ``after
  end of data``, ``after MAIL FROM``, ``after initial connection``;
* Sendmail and other transcripts: ``>>> RCPT To:<x>`` / ``<<< 550 ...``,
  iMail ``Sent <<< RCPT TO``;
* Domino, DragonFly, Courier: ``did not like our RCPT TO``; qmail: ``does not
  like recipient``, ``sender was rejected``, ``failed after I sent the
  message``; 1&1/GMX: ``after RCPT command``, ``for TEXT command``;
* tagged replies: ``[RCPT_TO]``, ``SMTP:RCPT host``.
"""

from __future__ import annotations

import re
from typing import Final

CONN: Final = "CONN"
EHLO: Final = "EHLO"
MAIL: Final = "MAIL"
RCPT: Final = "RCPT"
DATA: Final = "DATA"

_W = r"\s+"
# Markers written before the reply they introduce: the nearest one before the
# error text names its stage.
_LEADING: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        RCPT,
        re.compile(
            r">>> ?rcpt\b|<<< ?rcpt to|\bin: rcpt to\b|after rcpt\b|did not like our rcpt|does not like recipient|"
            r"smtp:rcpt\b|(?:for|following) rcpt(?: to)? command|rcpt to response|after recipient\b|"
            # Office 365 quotes the remote's RCPT reply after an arrow
            # (Sisimai's Office365 module: the RCPT stage when the quoted reply
            # names an address; "550 : User unknown" names none).
            r"unknown recipient or mailbox unavailable ->(?=[^>@:]{0,40}@)",
            re.IGNORECASE,
        ),
    ),
    (
        DATA,
        re.compile(
            r">>> ?data\b|<<< ?data\b|\bin: data\b|after (?:end of )?data\b|did not like our (?:final )?data|"
            r"after i sent the message|(?:for|following) (?:text|data) command|smtp:data\b|"
            r"after sending (?:the )?message|refused to accept your message \(data\)|"
            # qmail-remote.c: "failed on DATA command" (quit("D", ...)).
            r"failed on data command",
            re.IGNORECASE,
        ),
    ),
    (
        MAIL,
        re.compile(
            r">>> ?mail from|<<< ?mail from|\bin: mail from\b|after mail from|did not like our mail from|"
            r"sender was rejected|(?:for|following) mail(?: from)? command|smtp:mail\b",
            re.IGNORECASE,
        ),
    ),
    (
        EHLO,
        re.compile(
            r">>> ?(?:ehlo|helo)\b|after (?:ehlo|helo)\b|did not like our (?:ehlo|helo)|"
            # qmail-remote.c "Connected to X but my name was rejected"; Postfix
            # "refused to talk to me:" is the greeting/HELO refusal.
            r"but my name was rejected|refused to talk to me:",
            re.IGNORECASE,
        ),
    ),
    (
        CONN,
        re.compile(
            r"after initial connection|did not like our greeting|during greeting|while connecting|but greeting failed",
            re.IGNORECASE,
        ),
    ),
)
# Markers written after the reply (Postfix "in reply to", tagged replies,
# mFILTER's "SMTP command" line): the nearest one after the error names it.
_TRAILING: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Gmail ends the remote's reply with "(state N)", the SMTP state it
    # failed in (Sisimai's Gmail module: 14 RCPT, 15/17/18 DATA, 13 EHLO, 6 MAIL).
    (RCPT, re.compile(r"in reply to rcpt to command|\[rcpt_to\]|smtp command:? rcpt\b|\(state 14\)", re.IGNORECASE)),
    (
        DATA,
        re.compile(
            r"in reply to (?:end of )?data command|\[(?:end_of_)?data\]|smtp command:? data\b|\(state 1[578]\)",
            re.IGNORECASE,
        ),
    ),
    (MAIL, re.compile(r"in reply to mail from command|\[mail_from\]|smtp command:? mail\b|\(state 6\)", re.IGNORECASE)),
    (EHLO, re.compile(r"in reply to (?:ehlo|helo) command|\(state 13\)", re.IGNORECASE)),
    (CONN, re.compile(r"while receiving the initial server greeting", re.IGNORECASE)),
)
# How far (in characters of whitespace-collapsed text) a marker may sit from
# the reply it qualifies: a transcript line or a Postfix paragraph.
_REACH = 400
_DASHES_RE = re.compile(r"-{3,}")


def _collapse(text: str) -> str:
    # Postfix folds "(in reply to end of DATA\n    command)"; mFILTER writes
    # "-------SMTP command\nDATA". One space between words reads both.
    return " ".join(_DASHES_RE.sub(" ", text).split())


def find_stage(text: str, anchor: re.Pattern[str] | None = None, *, strict: bool = False) -> str | None:
    """Return the SMTP stage (CONN, EHLO, MAIL, RCPT, DATA) a report names.

    Args:
        text: the report's text about one recipient.
        anchor: pattern of the error wording; the marker nearest to one of
            its matches wins (a transcript may show several commands).
            Without it, or when it does not match, the text must name a
            single stage.
        strict: only a marker next to an anchor match counts.

    Returns:
        The stage, or None when the text does not say (or says several
        things without an anchor to choose).
    """
    text = _collapse(text)
    leading = [(m.end(), stage) for stage, rx in _LEADING for m in rx.finditer(text)]
    trailing = [(m.start(), stage) for stage, rx in _TRAILING for m in rx.finditer(text)]
    anchors = [m.start() for m in anchor.finditer(text)] if anchor is not None else []
    best: tuple[int, str] | None = None
    for position in anchors:
        for pos, stage in leading:
            if pos <= position + 1 and position - pos <= _REACH and (best is None or position - pos < best[0]):
                best = (position - pos, stage)
        for pos, stage in trailing:
            if pos >= position and pos - position <= _REACH and (best is None or pos - position < best[0]):
                best = (pos - position, stage)
    if best is not None or strict:
        return best[1] if best else None
    stages = {stage for _, stage in leading + trailing}
    return stages.pop() if len(stages) == 1 else None
