"""Messages: list (the index of messages the bridge has seen), read, raw source, attachments, flags, delete.

Redis keeps only index entries (``bridge.storage.message_index``); a message's content is
fetched from the IMAP server when asked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote as url_quote

from flask import Blueprint, Response

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.errors import NotFound
from bridge.events.emit import emit
from bridge.events.model import EventName
from bridge.imap import actions as mailbox_actions
from bridge.imap.message_ops import MessageRef
from bridge.inbound import records
from bridge.mail import ids
from bridge.mail.message import attachment_content, parse
from bridge.models import TokenScope, rfc3339
from bridge.schemas.messages import (
    DeleteQuery,
    FlagsOut,
    MessageDeleted,
    MessageList,
    MessageQuery,
    MessageRecord,
    MessageUpdate,
)

bp = Blueprint("messages", __name__)


def _cursor_out(cursor: tuple[int, str] | None) -> str | None:
    if cursor is None:
        return None
    return f"{cursor[0]}.{cursor[1]}"


def _cursor_in(value: str | None) -> tuple[int, str] | None:
    # The schema's pattern (MESSAGE_CURSOR_PATTERN) has already checked the shape.
    if not value:
        return None
    score, _, mid = value.partition(".")
    return int(score), mid


def is_withheld(record: dict[str, Any]) -> bool:
    """Held for review (until approved) or rejected by policy: what the policy kept from the agent."""
    decision = record.get("policy")
    return isinstance(decision, dict) and decision.get("state") != "approved"


def _matcher(query: MessageQuery) -> Any:
    sender = query.from_.lower() if query.from_ else None
    since = None
    if query.since is not None:
        since = rfc3339(query.since, "seconds")  # naive means UTC

    def match(record: dict[str, Any]) -> bool:
        if not query.withheld and is_withheld(record):
            return False
        if query.folder and record["folder"] != query.folder:
            return False
        if query.conversation_id and record["conversationId"] != query.conversation_id:
            return False
        if sender and (record.get("from") or {}).get("address", "").lower() != sender:
            return False
        return not (since and record["receivedAt"] < since)

    return match


@endpoint(
    bp, "/account/<account>/messages", "GET", summary="List stored messages, newest first", query=MessageQuery,
    response=MessageList, errors=(404,),
    scope=TokenScope.READ,
)  # fmt: skip
def list_messages(account: str, query: MessageQuery) -> dict[str, Any]:
    storage = services().storage
    storage.accounts.get(account)
    page, cursor = storage.messages.page(
        account, limit=query.limit, before=_cursor_in(query.cursor), match=_matcher(query)
    )
    return {"messages": [_listed(r) for r in page], "nextCursor": _cursor_out(cursor)}


def _listed(entry: dict[str, Any]) -> dict[str, Any]:
    """An index entry in the listing's shape: what the index does not keep is empty."""
    return {"to": [], "cc": [], "attachments": [], "bodySha256": "", "parseErrors": [], **entry}


def _fetched(account: str, message: str) -> tuple[dict[str, Any], bytes]:
    """The message's index entry (an empty one if the bridge never saw it) and its source from the server."""
    storage = services().storage
    imap = storage.accounts.get(account).imap
    entry = storage.messages.entry(account, message)
    where = ids.decode(message)
    ref = MessageRef(where.folder, where.uidvalidity, where.uid, entry.message_id if entry else None)
    raw = mailbox_actions.fetch_source(imap, ref)
    known = entry.to_json() if entry else {"id": message, "account": account, "folder": where.folder,
                                           "uid": where.uid, "uidValidity": where.uidvalidity}  # fmt: skip
    return known, raw


@endpoint(
    bp, "/account/<account>/message/<message>", "GET", summary="Get a stored message", response=MessageRecord,
    errors=(404,),
    scope=TokenScope.READ,
)  # fmt: skip
def get_message(account: str, message: str) -> dict[str, Any]:
    known, raw = _fetched(account, message)
    fields = records.message_fields(parse(raw))
    conversation = known.get("conversationId") or records.new_conversation_id(fields["messageId"], message)
    kept = {k: known[k] for k in ("flags", "auth", "classification", "policy") if known.get(k) is not None}
    return {**known, **fields, "conversationId": conversation, "receivedAt": known.get("receivedAt", ""),
            "flags": [], **kept}  # fmt: skip


@endpoint(
    bp, "/account/<account>/message/<message>/source", "GET", summary="The raw RFC 822 message",
    errors=(404,), raw_response="message/rfc822",
    scope=TokenScope.READ,
)  # fmt: skip
def source(account: str, message: str) -> Response:
    _, raw = _fetched(account, message)
    return Response(raw, mimetype="message/rfc822")


@endpoint(
    bp, "/account/<account>/message/<message>/attachment/<attachment>", "GET",
    summary="An attachment's decoded bytes, with its content type", errors=(404,),
    raw_response="application/octet-stream",
    scope=TokenScope.READ,
)  # fmt: skip
def attachment(account: str, message: str, attachment: str) -> Response:
    parsed = parse(_fetched(account, message)[1])
    found = attachment_content(parsed, attachment)
    if found is None:
        raise NotFound(f"no attachment {attachment!r} in message {message!r}", code="attachmentNotFound")
    content, content_type = found
    name = next((a.filename for a in parsed.attachments if a.id == attachment), None) or "attachment"
    response = Response(content, mimetype=content_type)
    # RFC 6266 § 4.3: filename* carries non-ASCII names.
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{url_quote(name)}"
    return response


def _ref(account: str, message: str) -> MessageRef:
    entry = services().storage.messages.entry(account, message)
    where = ids.decode(message)
    return MessageRef(where.folder, where.uidvalidity, where.uid, entry.message_id if entry else None)


@endpoint(
    bp, "/account/<account>/message/<message>", "PUT", summary="Change flags on the IMAP server",
    body=MessageUpdate, response=FlagsOut, errors=(404, 422),
    scope=TokenScope.SEND,
)  # fmt: skip
def update(account: str, message: str, body: MessageUpdate) -> FlagsOut:
    storage = services().storage
    imap = storage.accounts.get(account).imap
    flags = mailbox_actions.change_flags(imap, _ref(account, message), list(body.flags.add), list(body.flags.delete))
    storage.messages.set_flags(account, message, flags)
    emit(storage, account, EventName.MESSAGE_UPDATED, {"id": message, "flags": flags})
    return FlagsOut(id=message, flags=flags)


@endpoint(
    bp, "/account/<account>/message/<message>", "DELETE",
    summary="Move to Trash (force=true expunges)", query=DeleteQuery, response=MessageDeleted, errors=(404, 422),
    scope=TokenScope.SEND,
)  # fmt: skip
def delete(account: str, message: str, query: DeleteQuery) -> MessageDeleted:
    storage = services().storage
    imap = storage.accounts.get(account).imap
    moved_to = mailbox_actions.delete_message(imap, _ref(account, message), force=query.force)
    storage.messages.delete_entry(account, message)
    emit(storage, account, EventName.MESSAGE_DELETED, {"id": message, "movedTo": moved_to})
    return MessageDeleted(id=message, moved_to=moved_to)
