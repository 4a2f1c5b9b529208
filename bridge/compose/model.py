"""Value types of outgoing mail: Draft in, Composed out (see ``bridge.compose.build``).

Pure: no I/O. Frozen dataclasses only, shared by the builder, the reply
logic, the submit schema and the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What a submission does with its referenced message."""

    REPLY = "reply"
    REPLY_ALL = "replyAll"
    FORWARD = "forward"


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One address with its display name ("" when none)."""

    address: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to attach; with ``content_id`` it is an inline part the HTML refers to as ``cid:``."""

    content: bytes
    filename: str | None = None
    content_type: str = "application/octet-stream"
    content_id: str | None = None


@dataclass(frozen=True, slots=True)
class Original:
    """What compose needs of the stored message a reply or forward refers to."""

    message_id: str | None
    subject: str = ""
    from_: Mailbox | None = None
    reply_to: tuple[Mailbox, ...] = ()
    to: tuple[Mailbox, ...] = ()
    cc: tuple[Mailbox, ...] = ()
    references: tuple[str, ...] = ()
    date: str | None = None
    text: str | None = None
    html: str | None = None
    conversation_id: str | None = None
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A message to build. ``subject`` None on a reply/forward means "derive it"."""

    from_: Mailbox
    to: tuple[Mailbox, ...] = ()
    cc: tuple[Mailbox, ...] = ()
    bcc: tuple[Mailbox, ...] = ()
    reply_to: tuple[Mailbox, ...] = ()
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    message_id: str | None = None
    action: Action | None = None
    original: Original | None = None
    quote: bool = False
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Composed:
    """The built message: bytes for SMTP and Sent, and the envelope (Bcc included)."""

    raw: bytes
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    conversation_id: str
    subject: str
    smtputf8: bool
