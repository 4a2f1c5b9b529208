"""Replies and forwards: derive subject, recipients, threading headers and quotes.

Pure: no I/O. ``complete(draft)`` fills in what the submitter left out from
the referenced original and returns a plain Draft that ``compose`` builds:

- reply / replyAll: ``Re: `` exactly once (existing reply prefixes in any of
  the common languages are folded into it, a ``Fwd:`` stays, as Gmail and
  Thunderbird do), ``In-Reply-To`` = the original's Message-ID and
  ``References`` = its References plus its Message-ID (RFC 5322 § 3.6.4);
  recipients from Reply-To or From, and for replyAll the other To/Cc
  addresses minus our own.
- forward: ``Fwd: `` once, no threading headers (a forward starts a new
  conversation); the original is attached by ``compose`` or quoted here.

A subject or recipients given by the submitter always win.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import replace
from email.utils import formataddr

from bridge.compose.model import Action, Draft, Mailbox, Original

# Reply markers: English/Latin "Re", German "AW", Nordic "SV"/"VS", Dutch "Antw", Polish "Odp",
# Italian "R"/"RIF", French "Réf"; with optional counters such as "Re[2]:" or "Re(3):".
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|antw|odp|rif|r|réf)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+", re.I)
# Forward markers: "Fwd", "Fw", German "WG", French "TR", Spanish "RV", Portuguese "ENC", Polish "PD".
_FORWARD_PREFIX = re.compile(r"^\s*(?:(?:fwd?|wg|tr|rv|enc|pd)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+", re.I)
# Long threads: keep the first id (the thread root) and the newest ones, as RFC 5322 § 3.6.4 allows.
MAX_REFERENCES = 20


def complete(draft: Draft) -> Draft:
    """The draft with everything derived from its original filled in; unchanged without one."""
    original, action = draft.original, draft.action
    if original is None or action is None:
        return draft
    if action is Action.FORWARD:
        return _forward(draft, original)
    to, cc = draft.to, draft.cc
    if not to and not cc:
        to = reply_targets(original, draft.from_)
        if action is Action.REPLY_ALL:
            cc = reply_all_cc(original, draft.from_, to)
    text, html = draft.text, draft.html
    if draft.quote:
        text, html = _quote_reply(draft, original)
    return replace(
        draft,
        to=to,
        cc=cc,
        subject=draft.subject if draft.subject is not None else reply_subject(original.subject),
        in_reply_to=original.message_id,
        references=thread_references(original),
        text=text,
        html=html,
    )


def reply_subject(subject: str) -> str:
    """``Re: `` once: "Re: RE: Aw: x" -> "Re: x"; "Fwd: x" -> "Re: Fwd: x"."""
    rest = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {rest}" if rest else "Re:"


def forward_subject(subject: str) -> str:
    """``Fwd: `` once: "FW: Fwd: x" -> "Fwd: x"; "Re: x" -> "Fwd: Re: x"."""
    rest = _FORWARD_PREFIX.sub("", subject or "").strip()
    return f"Fwd: {rest}" if rest else "Fwd:"


def thread_references(original: Original) -> tuple[str, ...]:
    """The References of a reply: the original's chain plus its own id, without duplicates."""
    chain: list[str] = []
    for mid in (*original.references, original.message_id):
        if mid and mid not in chain:
            chain.append(mid)
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return tuple(chain)


def reply_targets(original: Original, own: Mailbox) -> tuple[Mailbox, ...]:
    """Who a reply goes to: Reply-To, else From; replying to our own message goes to its To."""
    if original.from_ is not None and _same(original.from_, own) and original.to:
        return original.to
    if original.reply_to:
        return original.reply_to
    return (original.from_,) if original.from_ is not None else ()


def reply_all_cc(original: Original, own: Mailbox, to: tuple[Mailbox, ...]) -> tuple[Mailbox, ...]:
    """The original's To and Cc, minus our own address and anyone already in To, each once."""
    taken = {own.address.lower(), *(m.address.lower() for m in to)}
    out: list[Mailbox] = []
    for box in (*original.to, *original.cc):
        if box.address.lower() not in taken:
            taken.add(box.address.lower())
            out.append(box)
    return tuple(out)


def _forward(draft: Draft, original: Original) -> Draft:
    text, html = draft.text, draft.html
    if draft.quote:
        block = _forward_header(original)
        text = _join(text, f"---------- Forwarded message ---------\n{block}\n\n{original.text or ''}")
        if html is not None or original.html is not None:
            rows = "<br>".join(html_lib.escape(line) for line in block.split("\n"))
            quoted = original.html if original.html is not None else _text_as_html(original.text or "")
            html = _join_html(
                html, draft.text, f"<div>---------- Forwarded message ---------<br>{rows}</div><br>{quoted}"
            )
    return replace(
        draft,
        subject=draft.subject if draft.subject is not None else forward_subject(original.subject),
        in_reply_to=None,
        references=(),
        text=text,
        html=html,
    )


def _quote_reply(draft: Draft, original: Original) -> tuple[str | None, str | None]:
    who = formataddr((original.from_.name, original.from_.address)) if original.from_ else "someone"
    intro = f"On {original.date}, {who} wrote:" if original.date else f"{who} wrote:"
    text, html = draft.text, draft.html
    if original.text is not None:
        quoted = "\n".join(f"> {line}" if line else ">" for line in original.text.splitlines())
        text = _join(text, f"{intro}\n{quoted}")
    if html is not None or original.html is not None:
        body = original.html if original.html is not None else _text_as_html(original.text or "")
        block = f'<div>{html_lib.escape(intro)}</div><blockquote type="cite">{body}</blockquote>'
        html = _join_html(html, draft.text, block)
    return text, html


def _forward_header(original: Original) -> str:
    lines = []
    if original.from_ is not None:
        lines.append(f"From: {formataddr((original.from_.name, original.from_.address))}")
    if original.date:
        lines.append(f"Date: {original.date}")
    lines.append(f"Subject: {original.subject}")
    if original.to:
        lines.append("To: " + ", ".join(formataddr((m.name, m.address)) for m in original.to))
    if original.cc:
        lines.append("Cc: " + ", ".join(formataddr((m.name, m.address)) for m in original.cc))
    return "\n".join(lines)


def _join(own: str | None, quoted: str) -> str:
    return f"{own.rstrip()}\n\n{quoted}\n" if own else f"{quoted}\n"


def _join_html(own_html: str | None, own_text: str | None, block: str) -> str:
    # A text-only submission still gets an HTML part when the original has one, so start from its text.
    start = own_html if own_html is not None else _text_as_html(own_text or "")
    return f"{start}<br>{block}"


def _text_as_html(text: str) -> str:
    return "<br>".join(html_lib.escape(line) for line in text.splitlines())


def _same(a: Mailbox, b: Mailbox) -> bool:
    return a.address.lower() == b.address.lower()
