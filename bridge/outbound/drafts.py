"""Drafts: what a request body says as a ``Draft``; store one; send one stored on the server.

Pure but for the conversation lookup (a storage read). A mail client sends a draft as it
was saved; so does this, except the Bcc header, which a stored draft may keep and a sent
message must not carry (those recipients stay in the envelope only).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from bridge.compose.build import compose
from bridge.compose.mime import ascii_domain
from bridge.compose.model import Composed, Draft, Mailbox
from bridge.errors import InvalidMessage
from bridge.mail.ids import new_conversation_id
from bridge.mail.message import parse
from bridge.models import Account
from bridge.schemas.submit import MessageContent
from bridge.storage import Storage

_BCC = re.compile(rb"^Bcc:.*(?:\r?\n[ \t].*)*\r?\n", re.I | re.M)


def content_draft(body: MessageContent, account: Account) -> Draft:
    """What a submit or stored-draft body says, before any reply/forward derivation."""
    sender = body.from_.to_mailbox() if body.from_ is not None else Mailbox(account.email, account.name)
    return Draft(
        from_=sender,
        to=tuple(a.to_mailbox() for a in body.to),
        cc=tuple(a.to_mailbox() for a in body.cc),
        bcc=tuple(a.to_mailbox() for a in body.bcc),
        reply_to=tuple(a.to_mailbox() for a in body.reply_to),
        subject=body.subject,
        text=body.text,
        html=body.html,
        attachments=tuple(a.to_attachment() for a in body.attachments),
        headers=tuple(body.headers.items()),
        message_id=body.message_id,
    )


def compose_stored(body: MessageContent, account: Account) -> Composed:
    """The MIME of a draft to store, built as a submit would build it (a draft is as written: no derivation)."""
    now = datetime.now(UTC)
    return compose(
        content_draft(body, account), now=now, unique=f"{secrets.token_hex(12)}.{int(now.timestamp())}", stored=True
    )


def without_bcc(raw: bytes) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    return _BCC.sub(b"", head + b"\n")[:-1] + sep + body if sep else raw


def from_draft(storage: Storage, account: Account, raw: bytes) -> Composed:
    """The draft as a message to queue.

    Raises:
        InvalidMessage: the draft has no recipients (noRecipients) or no Message-ID (invalidMessageId).
    """
    parsed = parse(raw)
    recipients = tuple(dict.fromkeys(a.address for a in (*parsed.to, *parsed.cc, *parsed.bcc) if a.address))
    if not recipients:
        raise InvalidMessage("the draft has no recipients: give it To, Cc or Bcc first", code="noRecipients")
    if not parsed.message_id:
        raise InvalidMessage("the draft has no Message-ID", code="invalidMessageId")
    message_id = f"<{parsed.message_id}>"
    known = storage.messages.conversations(account.id, [parsed.in_reply_to]) if parsed.in_reply_to else {}
    conversation = known.get(parsed.in_reply_to or "") or new_conversation_id(parsed.message_id, message_id)
    sender = parsed.from_[0].address if parsed.from_ else account.email
    return Composed(
        raw=without_bcc(raw),
        message_id=message_id,
        envelope_from=ascii_domain(sender),
        recipients=tuple(ascii_domain(r) for r in recipients),
        conversation_id=conversation,
        subject=parsed.subject,
        smtputf8=not all(r.split("@")[0].isascii() for r in (sender, *recipients)),
    )
