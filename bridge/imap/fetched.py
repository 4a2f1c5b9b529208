"""Parse a FETCH response into one item per message, whatever items it asked for.

Pure: no sockets, no aioimaplib. aioimaplib hands a FETCH response as lines and
literals: per message, the line opening ``N FETCH (`` up to the first ``{n}``, the
literal as a ``bytearray``, the text after it up to the next literal, and so on to
the closing ``)``. Each literal belongs to the item named just before its ``{n}``
(``BODY[HEADER.FIELDS (…)]``, ``BODY[TEXT]<0>``, ``BODY[]``); the small items (UID,
FLAGS, RFC822.SIZE, INTERNALDATE, BODYSTRUCTURE, X-GM-LABELS) are read from the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEAD = re.compile(rb"^(\d+) FETCH \(", re.I)
_LITERAL = re.compile(rb"(BODY\[[^\]]*\](?:<\d+>)?|RFC822(?:\.HEADER|\.TEXT)?)\s*\{(\d+)\}$", re.I)
_UID = re.compile(rb"\bUID (\d+)", re.I)
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)", re.I)
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)", re.I)
_DATE = re.compile(rb'\bINTERNALDATE "([^"]*)"', re.I)
_LABELS = re.compile(rb"\bX-GM-LABELS \(([^)]*)\)", re.I)
_STRUCTURE = re.compile(rb"\bBODYSTRUCTURE \(", re.I)
# A disposition of "attachment" anywhere in the structure (RFC 3501 § 7.4.2 body-fld-dsp).
_ATTACHMENT = re.compile(rb'\("attachment"', re.I)
_GM_LABEL = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')


@dataclass(frozen=True, slots=True)
class Fetched:
    """One message of a FETCH response; ``sections`` maps an upper-cased item name
    (``BODY[]``, ``BODY[TEXT]<0>``, ``BODY[HEADER.FIELDS (FROM …)]``) to its bytes."""

    seq: int
    uid: int
    flags: tuple[str, ...] = ()
    size: int | None = None
    internal_date: str | None = None
    has_attachments: bool = False
    labels: tuple[str, ...] = ()
    sections: dict[str, bytes] = field(default_factory=dict)

    def section(self, prefix: str) -> bytes:
        """The first section whose name starts with ``prefix`` (upper case), else b""."""
        return next((v for k, v in self.sections.items() if k.startswith(prefix)), b"")


def parse_fetch_items(lines: list[bytes | bytearray]) -> list[Fetched]:
    """Every message of a FETCH response (the tagged status line is ignored), in server order."""
    out: list[Fetched] = []
    text: list[bytes] = []
    sections: dict[str, bytes] = {}
    seq: int | None = None
    pending: str | None = None

    def finish() -> None:
        if seq is None:
            return
        out.append(_build(seq, b" ".join(text), sections))

    for item in lines:
        if isinstance(item, bytearray):
            if pending is not None:
                sections[pending] = bytes(item)
                pending = None
            continue
        line = bytes(item)
        head = _HEAD.match(line)
        if head is not None and pending is None:
            finish()
            seq, text, sections = int(head.group(1)), [], {}
        elif seq is None:
            continue
        literal = _LITERAL.search(line)
        if literal is not None:
            pending = literal.group(1).decode("ascii", "replace").upper()
            line = line[: literal.start()]
        text.append(line)
    finish()
    return [f for f in out if f.uid]


def _build(seq: int, meta: bytes, sections: dict[str, bytes]) -> Fetched:
    uid = _UID.search(meta)
    flags = _FLAGS.search(meta)
    size = _SIZE.search(meta)
    date = _DATE.search(meta)
    labels = _LABELS.search(meta)
    structure = _STRUCTURE.search(meta)
    return Fetched(
        seq=seq,
        uid=int(uid.group(1)) if uid else 0,
        flags=tuple(flags.group(1).decode("utf-8", "replace").split()) if flags else (),
        size=int(size.group(1)) if size else None,
        internal_date=date.group(1).decode() if date else None,
        has_attachments=bool(structure and _ATTACHMENT.search(meta, structure.end())),
        labels=tuple(
            (q.decode("utf-8", "replace").replace('\\"', '"') if q else a.decode("utf-8", "replace"))
            for q, a in _GM_LABEL.findall(labels.group(1))
        )
        if labels
        else (),
        sections=dict(sections),
    )
