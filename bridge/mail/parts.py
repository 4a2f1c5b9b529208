"""Walk a MIME tree: pick the text and HTML bodies, list the attachments.

Pure: no I/O, no clock. Helpers for ``bridge.mail.message``. Body selection
follows RFC 8621 § 4.1.4 (JMAP ``textBody``/``htmlBody``); every leaf that is
not chosen as a body is an attachment, so inline images are attachments too.
Part ids are IMAP-style section paths ("1", "2.1"), stable for the same bytes
and URL-safe. Nothing here raises on malformed input.
"""

from __future__ import annotations

import binascii
import email.generator
import email.message
import email.policy
import email.utils
import io
import quopri
import re
from dataclasses import dataclass

from bridge.mail.headers import decode_bytes, decode_words, parse_ids

Message = email.message.Message

_INLINE_MEDIA = ("image", "audio", "video")
_RAW_NAME = re.compile(r"""(?:file)?name\s*=\s*"?([^";\r\n]+)""", re.IGNORECASE)
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata of one attachment; its bytes come from ``attachment_content``.

    Attributes:
        id: MIME section path ("1.2"), stable for the same raw bytes.
        filename: decoded file name, or None when the sender gave none.
        content_type: lower-case ``type/subtype``.
        size: decoded size in bytes.
        content_id: Content-ID without angle brackets, or None.
        inline: True for parts meant to be shown in the body (inline images).
    """

    id: str
    filename: str | None
    content_type: str
    size: int
    content_id: str | None
    inline: bool


@dataclass(slots=True)
class Bodies:
    """What ``collect`` found: body texts and attachment metadata."""

    text: list[str]
    html: list[str]
    attachments: list[Attachment]


@dataclass(frozen=True, slots=True)
class _Leaf:
    path: str
    part: Message
    ctype: str
    disposition: str | None
    filename: str | None
    parent: str


def content_type(part: Message) -> str:
    """Return the part's type; a childless multipart is read as plain text."""
    ctype = part.get_content_type()
    if ctype.startswith("multipart/") and not part.is_multipart():
        return "text/plain"
    return ctype


def filename(part: Message, errors: list[str]) -> str | None:
    """Return the decoded file name (RFC 2231 and, as senders do, RFC 2047)."""
    try:
        name = part.get_filename() or part.get_param("name")
    except (ValueError, LookupError, TypeError):
        return None
    if isinstance(name, tuple):
        name = email.utils.collapse_rfc2231_value(name)
    if not name:
        return None
    if "\ufffd" in name:
        # compat32 replaced raw 8-bit bytes; read them from the raw header.
        for header in ("content-disposition", "content-type"):
            match = _RAW_NAME.search(raw_header(part, header) or "")
            if match:
                return decode_words(match.group(1), errors) or None
    return decode_words(name, errors) or None


def find_part(tree: Message, path: str) -> Message | None:
    """Return the part at an IMAP-style section path, or None."""
    if not path or not all(step.isdigit() for step in path.split(".")):
        return None
    node = tree
    if not node.is_multipart() or _is_message(node):
        return node if path == "1" else None
    for step in path.split("."):
        if not node.is_multipart() or _is_message(node):
            return None
        children = node.get_payload()
        index = int(step) - 1
        if not isinstance(children, list) or not 0 <= index < len(children):
            return None
        child = children[index]
        if not isinstance(child, Message):
            return None
        node = child
    return node


def part_bytes(part: Message) -> bytes:
    """Return the decoded content of a leaf part (a nested message as bytes)."""
    if _is_message(part):
        buf = io.BytesIO()
        gen = email.generator.BytesGenerator(buf, mangle_from_=False, policy=email.policy.compat32)
        for sub in part.get_payload():
            if isinstance(sub, Message):
                gen.flatten(sub)
        return buf.getvalue()
    # compat32 returns the raw bytes for encodings it does not know, and
    # get_payload() without decode would replace 8-bit bytes with U+FFFD.
    decoded = part.get_payload(decode=True)
    data = decoded if isinstance(decoded, bytes) else b""
    given = str(part.get("content-transfer-encoding", "")).lower()
    cte = given.strip()
    if cte == given:
        return data
    # Padded values ("base64  ") are missed by compat32; decode them here.
    if cte == "base64":
        return _b64decode(data)
    if cte == "quoted-printable":
        return quopri.decodestring(data)
    return data


def raw_header(part: Message, name: str) -> str | None:
    """Return the first raw value of a header (8-bit bytes as surrogates).

    ``Message.get`` turns values holding 8-bit bytes into ``Header`` objects
    whose ``str()`` loses those bytes; ``raw_items`` keeps them.
    """
    name = name.lower()
    for key, value in part.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return None


def _b64decode(data: bytes) -> bytes:
    # Lenient like MUAs: ignore stray characters, repair missing padding.
    clean = bytes(c for c in data.split(b"=", 1)[0] if c in _B64_ALPHABET)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))


def collect(tree: Message, errors: list[str]) -> Bodies:
    """Select bodies and attachments from the tree, reporting MIME defects."""
    text: list[_Leaf] = []
    html: list[_Leaf] = []
    leaves: list[_Leaf] = []
    if tree.is_multipart() and not _is_message(tree):
        mp = tree.get_content_subtype()
        _defects(tree, "message", errors)
        _structure(_children(tree, ""), mp, mp == "alternative", html, text, leaves, errors)
    else:
        _structure([("1", tree, "")], "mixed", False, html, text, leaves, errors)
    chosen = {leaf.path for leaf in text if leaf.ctype == "text/plain"}
    chosen |= {leaf.path for leaf in html if leaf.ctype == "text/html"}
    return Bodies(
        text=[_text(leaf, errors) for leaf in text if leaf.ctype == "text/plain"],
        html=[_text(leaf, errors) for leaf in html if leaf.ctype == "text/html"],
        attachments=[_attachment(leaf, errors) for leaf in leaves if leaf.path not in chosen],
    )


def _is_message(part: Message) -> bool:
    # is_multipart first: it is a cheap check, the content type is not.
    return part.is_multipart() and part.get_content_maintype() == "message"


def _children(part: Message, path: str) -> list[tuple[str, Message, str]]:
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    prefix = f"{path}." if path else ""
    ctype = part.get_content_type()
    return [(f"{prefix}{i}", child, ctype) for i, child in enumerate(payload, 1)]


def _structure(
    parts: list[tuple[str, Message, str]],
    mp_type: str,
    in_alt: bool,
    html: list[_Leaf] | None,
    text: list[_Leaf] | None,
    leaves: list[_Leaf],
    errors: list[str],
) -> None:
    # RFC 8621 § 4.1.4 parseStructure, transcribed; ``leaves`` gets every leaf.
    text_len = len(text) if text is not None else -1
    html_len = len(html) if html is not None else -1
    for i, (path, part, parent) in enumerate(parts):
        _defects(part, f"part {path}", errors)
        if part.is_multipart() and not _is_message(part):
            sub = part.get_content_subtype()
            kids = _children(part, path)
            _structure(kids, sub, in_alt or sub == "alternative", html, text, leaves, errors)
            continue
        ctype = content_type(part)
        leaf = _Leaf(path, part, ctype, part.get_content_disposition(), filename(part, errors), parent)
        leaves.append(leaf)
        media = ctype.split("/", 1)[0] in _INLINE_MEDIA
        inline = (
            leaf.disposition != "attachment"
            and (ctype in ("text/plain", "text/html") or media)
            and (i == 0 or (mp_type != "related" and (media or not leaf.filename)))
        )
        if not inline:
            continue
        if mp_type == "alternative":
            if ctype == "text/plain" and text is not None:
                text.append(leaf)
            elif ctype == "text/html" and html is not None:
                html.append(leaf)
            continue
        if in_alt:
            if ctype == "text/plain":
                html = None
            if ctype == "text/html":
                text = None
        if text is not None:
            text.append(leaf)
        if html is not None:
            html.append(leaf)
    if mp_type == "alternative" and text is not None and html is not None:
        if text_len == len(text) and html_len != len(html):
            text.extend(html[html_len:])
        if html_len == len(html) and text_len != len(text):
            html.extend(text[text_len:])


def _text(leaf: _Leaf, errors: list[str]) -> str:
    charset = leaf.part.get_param("charset")
    label = email.utils.collapse_rfc2231_value(charset) if charset else None
    text = decode_bytes(part_bytes(leaf.part), label, errors, f"part {leaf.path}")
    # One line-ending convention for API clients, whatever the wire used.
    return text.replace("\r\n", "\n")


def _attachment(leaf: _Leaf, errors: list[str]) -> Attachment:
    cid_values = parse_ids(raw_header(leaf.part, "content-id") or "")
    content_id = cid_values[0] if cid_values else None
    name = leaf.filename
    if name is None and _is_message(leaf.part):
        sub = leaf.part.get_payload(0)
        raw_subject = raw_header(sub, "subject") if isinstance(sub, Message) else None
        subject = decode_words(raw_subject or "", errors).strip()
        name = f"{subject.replace('/', '_').replace(chr(92), '_')}.eml" if subject else "message.eml"
    inline = leaf.disposition == "inline" or (
        leaf.disposition is None and content_id is not None and leaf.parent == "multipart/related"
    )
    return Attachment(
        id=leaf.path,
        filename=name,
        content_type=leaf.ctype,
        size=len(part_bytes(leaf.part)),
        content_id=content_id,
        inline=inline,
    )


def _defects(part: Message, where: str, errors: list[str]) -> None:
    for defect in part.defects:
        doc = (type(defect).__doc__ or "").strip().split("\n", 1)[0]
        errors.append(f"{where}: {doc or type(defect).__name__}")
