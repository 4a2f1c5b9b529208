"""Direct MIME writing for the common shapes of ``bridge.compose.build``: pre-folded headers, text bodies.

Pure: stdlib only, no I/O, no clock, no randomness (the MIME boundary comes
from the caller's ``unique`` token). ``compose`` used to build every message
with ``EmailMessage``, which parses each header it is given back into a
structured object and refolds it when writing: about 1 ms per small message,
a third of a submit request. Here the top-level headers are written and
folded once, and text / html / alternative bodies are encoded the way the
stdlib's content manager does (7bit when ASCII with short lines, else the
shorter of quoted-printable and base64). ``message`` returns None for what it
does not handle (attachments, a forwarded original, SMTPUTF8 addresses,
non-ASCII extra headers, a line that cannot be folded under 998 octets), and
compose falls back to the stdlib for those.

Header rules: RFC 5322 § 2.2.3 folding (CRLF inserted before existing
whitespace, so unfolding restores the value exactly; lines kept to 78
characters where whitespace allows, never over 998), RFC 2047 encoded-words
for non-ASCII subjects and display names (whole value, split on character
boundaries, each word at most 75 characters), RFC 5322 § 3.4 quoted strings
for display names with specials.
"""

from __future__ import annotations

import binascii
import email.utils
from datetime import datetime
from email import quoprimime

from bridge.compose.model import Draft, Mailbox
from bridge.errors import InvalidMessage

CRLF = "\r\n"
# RFC 5322 § 2.1.1: lines SHOULD stay within 78 characters and MUST within 998.
SOFT_LIMIT = 78
HARD_LIMIT = 998
# RFC 2047 § 2: an encoded-word is at most 75 characters; "=?utf-8?q?" + "?=" take 12.
_WORD_MAX = 75 - len("=?utf-8?q??=")
# RFC 5322 § 3.2.3 atext, plus the space between atoms of a phrase.
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ ")
# RFC 2047 § 5 (3): the characters a "Q"-encoded word may carry as they are inside a phrase.
_Q_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")


def message(draft: Draft, *, message_id: str, now: datetime, unique: str) -> bytes | None:
    """The whole message as bytes, or None when compose must build it with the stdlib.

    Args:
        draft: a completed draft (replies already derived) without attachments, a forwarded
            original or SMTPUTF8 addresses; compose checks those.
        message_id: the Message-ID, in angle brackets.
        now: the Date header.
        unique: the caller's random token; the MIME boundary derives from it.

    Raises:
        InvalidMessage: an address's domain cannot be written in A-labels.
    """
    if any(not _plain(value) for _, value in draft.headers):
        return None
    if draft.in_reply_to is not None and not _is_msg_id(draft.in_reply_to):
        return None
    if any(not _is_msg_id(r) for r in draft.references):
        return None
    lines = [_mailboxes("From", (draft.from_,))]
    if draft.to:
        lines.append(_mailboxes("To", draft.to))
    if draft.cc:
        lines.append(_mailboxes("Cc", draft.cc))
    if draft.reply_to:
        lines.append(_mailboxes("Reply-To", draft.reply_to))
    lines.append(unstructured("Subject", draft.subject or ""))
    lines.append(f"Date: {email.utils.format_datetime(now)}")
    lines.append(f"Message-ID: {message_id}")
    if draft.in_reply_to:
        lines.append(f"In-Reply-To: <{draft.in_reply_to}>")
    if draft.references:
        lines.append(_fold("References", [f"<{r}>" for r in draft.references], " "))
    lines.extend(unstructured(name, value) for name, value in draft.headers)
    lines.append("MIME-Version: 1.0")
    head = CRLF.join(lines) + CRLF
    if any(len(line) > HARD_LIMIT for line in head.split(CRLF)):
        return None
    return head.encode("ascii") + _body(draft, unique)


def unstructured(name: str, value: str) -> str:
    """``Name: value`` folded at whitespace; RFC 2047 encoded-words when not plain ASCII or unfoldable."""
    if _plain(value) and all(len(w) + len(name) + 2 <= HARD_LIMIT for w in value.split(" ")):
        return _fold_at_spaces(f"{name}: {value}")
    return _fold(name, encoded_words(value, phrase=False), " ")


def _plain(value: str) -> bool:
    # Printable ASCII that a decoder will not mistake for an encoded-word (RFC 2047 § 6.1).
    return all(" " <= c <= "~" for c in value) and "=?" not in value


def encoded_words(text: str, *, phrase: bool) -> list[str]:
    """``text`` as RFC 2047 encoded-words of at most 75 characters, split between characters.

    Q encoding unless base64 is shorter (mostly non-Latin text). Decoders join
    adjacent encoded-words and drop the whitespace between them (RFC 2047 § 6.2),
    so a split never loses or adds text; splits go right after a space where one
    is near, because the stdlib's phrase parser puts a space between words.
    """
    raw = text.encode("utf-8")
    use_q = sum(_q_cost(b, phrase) for b in raw) <= (len(raw) + 2) // 3 * 4
    limit = _WORD_MAX if use_q else _WORD_MAX // 4 * 3
    words: list[str] = []
    chunk: list[tuple[str, int]] = []
    size = 0
    for char in text:
        encoded = char.encode("utf-8")
        cost = sum(_q_cost(b, phrase) for b in encoded) if use_q else len(encoded)
        if chunk and size + cost > limit:
            spaces = [i for i, (c, _) in enumerate(chunk) if c == " "]
            cut = spaces[-1] + 1 if spaces and spaces[-1] + 1 < len(chunk) else len(chunk)
            words.append(_word("".join(c for c, _ in chunk[:cut]), use_q, phrase))
            chunk = chunk[cut:]
            size = sum(n for _, n in chunk)
        chunk.append((char, cost))
        size += cost
    if chunk or not words:
        words.append(_word("".join(c for c, _ in chunk), use_q, phrase))
    return words


def display_name(name: str) -> list[str]:
    """A display name as phrase tokens: atoms, one quoted string, or encoded-words."""
    if not _plain(name):
        return encoded_words(name, phrase=True)
    if name and set(name) <= _ATEXT and name.strip(" ") == name and "  " not in name:
        return name.split(" ")
    # RFC 5322 § 3.2.4: a quoted string may be folded at its spaces, which unfolding restores.
    return ('"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"').split(" ")


def ascii_domain(address: str) -> str:
    """The address with an IDN domain in its A-label form (RFC 5890), which every relay accepts.

    Raises:
        InvalidMessage: the domain cannot be encoded.
    """
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as exc:
        raise InvalidMessage(f"{address!r} has a domain that cannot be encoded", code="invalidAddress") from exc


def _mailboxes(field: str, boxes: tuple[Mailbox, ...]) -> str:
    tokens: list[str] = []
    for i, box in enumerate(boxes):
        address = ascii_domain(box.address)
        last = i == len(boxes) - 1
        if box.name:
            tokens.extend(display_name(box.name))
            tokens.append(f"<{address}>" + ("" if last else ","))
        else:
            tokens.append(address + ("" if last else ","))
    return _fold(field, tokens, " ")


def _fold(field: str, tokens: list[str], sep: str) -> str:
    """``Field: t1 t2 …`` with a fold (CRLF + the separator) before a token that would pass 78."""
    out = [f"{field}:"]
    width = len(out[0])
    for token in tokens:
        if token and width + 1 + len(token) > SOFT_LIMIT and width > len(field) + 1:
            out.append(CRLF)
            width = 0
        out.append(sep + token)
        width += 1 + len(token)
    return "".join(out)


def _fold_at_spaces(line: str) -> str:
    """Fold an ASCII header line before spaces so lines stay within 78 where the value allows."""
    if len(line) <= SOFT_LIMIT:
        return line
    pieces: list[str] = []
    start = 0
    colon = line.index(":") + 2
    while len(line) - start > SOFT_LIMIT:
        cut = line.rfind(" ", start + 1 if start else colon, start + SOFT_LIMIT + 1)
        if cut <= start:
            cut = line.find(" ", start + SOFT_LIMIT)
            if cut == -1:
                break
        pieces.append(line[start:cut])
        start = cut
    pieces.append(line[start:])
    # A continuation line of only whitespace is not allowed (RFC 5322 § 3.2.2).
    return CRLF.join(pieces) if all(p.strip() for p in pieces[1:]) else line


def _body(draft: Draft, unique: str) -> bytes:
    text, html = draft.text, draft.html
    if text is None and html is None:
        text = ""
    if text is not None and html is not None:
        parts = [text_part(text, "plain"), text_part(html, "html")]
        boundary = _boundary(unique, parts)
        delimiter = b"--" + boundary.encode("ascii")
        out = [f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"{CRLF}{CRLF}'.encode("ascii")]
        for part in parts:
            out.append(delimiter + b"\r\n" + part + b"\r\n")
        out.append(delimiter + b"--\r\n")
        return b"".join(out)
    if text is not None:
        return text_part(text, "plain")
    return text_part(html or "", "html")


def text_part(content: str, subtype: str) -> bytes:
    """Content-Type and Content-Transfer-Encoding headers, a blank line and the encoded text."""
    cte, body = encode_text(content)
    head = f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: {cte}{CRLF}{CRLF}'
    return head.encode("ascii") + body


def encode_text(content: str) -> tuple[str, bytes]:
    """(transfer encoding, CRLF body): the stdlib content manager's choice with cte_type 7bit."""
    lines = content.encode("utf-8").splitlines()
    if max((len(x) for x in lines), default=0) <= SOFT_LIMIT and all(x.isascii() for x in lines):
        return "7bit", b"\r\n".join(lines) + b"\r\n"
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    if len(quoprimime.body_encode(sniff.decode("latin-1"), SOFT_LIMIT)) > len(binascii.b2a_base64(sniff)):
        data = b"\r\n".join(lines) + b"\r\n"
        step = SOFT_LIMIT // 4 * 3  # 57 octets: base64 lines of 76 characters, as the stdlib writes them
        chunks = (binascii.b2a_base64(data[i : i + step]) for i in range(0, len(data), step))
        return "base64", b"".join(line[:-1] + b"\r\n" for line in chunks)
    encoded = quoprimime.body_encode(b"\n".join(lines).decode("latin-1") + "\n", SOFT_LIMIT)
    return "quoted-printable", encoded.replace("\n", CRLF).encode("ascii")


def _boundary(unique: str, parts: list[bytes]) -> str:
    # RFC 2046 § 5.1.1: the boundary must not occur in the encapsulated parts.
    token = "".join(c for c in unique if c.isalnum())[:40]
    n = 0
    while True:
        boundary = f"=_mb_{token}_{n}"
        if not any(boundary.encode("ascii") in part for part in parts):
            return boundary
        n += 1


def _is_msg_id(value: str) -> bool:
    return value.isascii() and value.isprintable() and not any(c in value for c in " <>")


def _q_safe(byte: int, phrase: bool) -> bool:
    char = chr(byte)
    return char in _Q_SAFE if phrase else (33 <= byte < 127 and char not in "=?_")


def _q_cost(byte: int, phrase: bool) -> int:
    return 1 if byte == 0x20 or _q_safe(byte, phrase) else 3


def _word(chunk: str, use_q: bool, phrase: bool) -> str:
    if not use_q:
        return "=?utf-8?b?" + binascii.b2a_base64(chunk.encode("utf-8"), newline=False).decode("ascii") + "?="
    out = []
    for byte in chunk.encode("utf-8"):
        if byte == 0x20:
            out.append("_")
        elif _q_safe(byte, phrase):
            out.append(chr(byte))
        else:
            out.append(f"={byte:02X}")
    return "=?utf-8?q?" + "".join(out) + "?="
