"""The live mailbox: listings, search, messages, flags, moves, deletes, folders, drafts, conversations.

Every route reads or changes the IMAP server itself, through the watcher process that
holds the account (``bridge.mailbox.client``): no web process logs in to IMAP. What
the bridge remembers of a message it saw (its index entry: conversation, verdicts,
policy state) is added where it has one; messages withheld by policy stay out of
listings unless ``withheld=true``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote as url_quote

from flask import Blueprint, Response

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.errors import NotFound
from bridge.events.emit import emit, emit_many
from bridge.events.model import EventName
from bridge.inbound.records import message_fields
from bridge.mail import ids
from bridge.mail.message import attachment_content, parse
from bridge.mail.reply_text import extract
from bridge.mailbox.client import MailboxClient
from bridge.mailbox.protocol import Reply
from bridge.models import TokenScope
from bridge.outbound import drafts
from bridge.schemas.messages import (
    BulkDelete,
    BulkFlags,
    BulkMove,
    BulkQuery,
    BulkResult,
    ConversationOut,
    DeleteQuery,
    DraftBody,
    DraftStored,
    FlagsOut,
    MailboxChanged,
    MailboxCreate,
    MailboxesQuery,
    MailboxList,
    MailboxQuery,
    MailboxRename,
    MessageDeleted,
    MessageOut,
    MessagePage,
    MessageUpdate,
    MoveBody,
    Moved,
    PageQuery,
    SearchBody,
)
from bridge.storage.message_index import Entry
from bridge.storage.publish import Publication

bp = Blueprint("messages", __name__)

# What the bridge's index entry adds to a live message.
_FROM_ENTRY = ("conversationId", "auth", "classification", "policy")


def _mailbox(account: str, op: str, args: dict[str, Any], payload: bytes = b"") -> Reply:
    # A held lease means the account exists (a deleted one is let go within a watcher tick);
    # without one, the client looks the account up to tell 404 from 503.
    return MailboxClient(services().storage).call(account, op, args, payload)


def _entries(account: str, message_ids: list[str]) -> list[Entry | None]:
    """The bridge's index entries of these messages (None where it never saw one), in order; one round trip."""
    if not message_ids:
        return []
    return services().storage.messages.entries(account, message_ids)


def _known(entry: Entry | None) -> dict[str, Any]:
    """What the index entry adds to a live message: its conversation and the verdicts (compact)."""
    if entry is None:
        return {}
    doc = entry.to_json()
    return {key: doc[key] for key in _FROM_ENTRY if doc.get(key) is not None}


def is_withheld(message: dict[str, Any]) -> bool:
    """A message's JSON (``GET …/message/{id}``) says the policy held it (until approved) or rejected it."""
    decision = message.get("policy")
    return isinstance(decision, dict) and decision.get("state") != "approved"


def _visible(account: str, reply: Reply, withheld: bool) -> Response | dict[str, Any]:
    """A listing or search page: the body the watcher encoded, passed on as it is unless the policy withheld
    some of its messages (then decoded and filtered). Re-encoding 50 summaries cost more than the rest of a
    kept listing's way through this process (bench/mailbox.py)."""
    message_ids: list[str] = reply.result["ids"]
    if not withheld and message_ids:
        entries = _entries(account, message_ids)
        if any(entry is not None and entry.withheld for entry in entries):
            page: dict[str, Any] = json.loads(reply.payload)
            kept = [
                m for m, entry in zip(page["messages"], entries, strict=True) if entry is None or not entry.withheld
            ]
            return {**page, "messages": kept}
    return Response(reply.payload, mimetype="application/json")


@endpoint(
    bp, "/account/<account>/messages", "GET", summary="List a folder, newest first (live from IMAP)",
    query=PageQuery, response=MessagePage, errors=(404, 422, 503),
    description="Any folder (`path`, default INBOX); `page` or the last page's `nextPageCursor`.",
    scope=TokenScope.READ,
)  # fmt: skip
def list_messages(account: str, query: PageQuery) -> Response | dict[str, Any]:
    args = {"path": query.path, "pageSize": query.page_size, "page": query.page, "cursor": query.cursor}
    return _visible(account, _mailbox(account, "list", args), query.withheld)


@endpoint(
    bp, "/account/<account>/search", "POST", summary="Search a folder on the server (IMAP SEARCH), newest first",
    query=PageQuery, body=SearchBody, response=MessagePage, errors=(404, 422, 503),
    scope=TokenScope.READ,
)  # fmt: skip
def search(account: str, query: PageQuery, body: SearchBody) -> Response | dict[str, Any]:
    args = {"path": query.path, "pageSize": query.page_size, "page": query.page, "cursor": query.cursor,
            "search": body.search.imap()}  # fmt: skip
    return _visible(account, _mailbox(account, "search", args), query.withheld)


def _source(account: str, message: str) -> Reply:
    ids.decode(message)  # 404 for what is no id at all, before asking the server
    return _mailbox(account, "source", {"id": message})


def _message_out(message: str, reply: Reply, entry: Entry | None) -> dict[str, Any]:
    where = ids.decode(message)
    parsed = parse(reply.payload)
    fields = message_fields(parsed)
    out: dict[str, Any] = {
        "id": message,
        "uid": where.uid,
        "path": where.folder,
        **{k: fields[k] for k in ("messageId", "inReplyTo", "references", "date", "from", "sender", "replyTo", "to",
                                  "cc", "subject", "text", "html", "attachments", "headers", "parseErrors")},
        "receivedAt": reply.result.get("receivedAt"),
        "flags": reply.result.get("flags", []),
        "size": reply.result.get("size", len(reply.payload)),
        "extractedText": extract(parsed.text, parsed.html),
    }  # fmt: skip
    return {**out, **_known(entry)}


@endpoint(
    bp, "/account/<account>/message/<message>", "GET", summary="Get a message from the server",
    response=MessageOut, errors=(404, 503),
    description="Headers, text, HTML, attachments and `extractedText` (the reply without quotes and signature), "
                "plus the bridge's verdicts when it saw the message arrive.",
    scope=TokenScope.READ,
)  # fmt: skip
def get_message(account: str, message: str) -> dict[str, Any]:
    reply = _source(account, message)
    [entry] = _entries(account, [message])
    return _message_out(message, reply, entry)


@endpoint(
    bp, "/account/<account>/message/<message>/source", "GET", summary="The raw RFC 822 message, from the server",
    errors=(404, 503), raw_response="message/rfc822",
    scope=TokenScope.READ,
)  # fmt: skip
def source(account: str, message: str) -> Response:
    return Response(_source(account, message).payload, mimetype="message/rfc822")


@endpoint(
    bp, "/account/<account>/message/<message>/attachment/<attachment>", "GET",
    summary="An attachment's decoded bytes, with its content type", errors=(404, 503),
    raw_response="application/octet-stream",
    scope=TokenScope.READ,
)  # fmt: skip
def attachment(account: str, message: str, attachment: str) -> Response:
    parsed = parse(_source(account, message).payload)
    found = attachment_content(parsed, attachment)
    if found is None:
        raise NotFound(f"no attachment {attachment!r} in message {message!r}", code="attachmentNotFound")
    content, content_type = found
    name = next((a.filename for a in parsed.attachments if a.id == attachment), None) or "attachment"
    response = Response(content, mimetype=content_type)
    # RFC 6266 § 4.3: filename* carries non-ASCII names.
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{url_quote(name)}"
    return response


@endpoint(
    bp, "/account/<account>/message/<message>", "PUT", summary="Change flags (and Gmail labels) on the server",
    body=MessageUpdate, response=FlagsOut, errors=(404, 422, 503),
    scope=TokenScope.SEND,
)  # fmt: skip
def update(account: str, message: str, body: MessageUpdate) -> dict[str, Any]:
    ids.decode(message)
    args: dict[str, Any] = {"id": message, "add": list(body.flags.add), "delete": list(body.flags.delete),
                            "set": list(body.flags.set) if body.flags.set is not None else None}  # fmt: skip
    if body.labels is not None:
        args["labels"] = {"add": list(body.labels.add), "delete": list(body.labels.delete)}
    result = _mailbox(account, "flags", args).result
    services().storage.messages.set_flags(account, message, result["flags"])
    emit(services().storage, account, EventName.MESSAGE_UPDATED, {"id": message, **result})
    return {"id": message, **result}


@endpoint(
    bp, "/account/<account>/message/<message>/move", "PUT", summary="Move a message to another folder",
    body=MoveBody, response=Moved, errors=(404, 422, 503),
    scope=TokenScope.SEND,
)  # fmt: skip
def move(account: str, message: str, body: MoveBody) -> dict[str, Any]:
    ids.decode(message)
    result = _mailbox(account, "move", {"id": message, "path": body.path}).result
    _forget_or_follow(account, message, result["id"])
    emit(services().storage, account, EventName.MESSAGE_DELETED, {"id": message, "movedTo": body.path,
                                                                  "newId": result["id"]})  # fmt: skip
    return dict(result)


@endpoint(
    bp, "/account/<account>/message/<message>", "DELETE",
    summary="Move to Trash (force=true expunges)", query=DeleteQuery, response=MessageDeleted,
    errors=(404, 409, 422, 503),
    description="Without `force` the message goes to Trash (created when the account has none; "
                "409 noTrashFolder if the server refuses). Only `force` expunges.",
    scope=TokenScope.SEND,
)  # fmt: skip
def delete(account: str, message: str, query: DeleteQuery) -> MessageDeleted:
    ids.decode(message)
    moved_to = _mailbox(account, "delete", {"id": message, "force": query.force}).result["movedTo"]
    services().storage.messages.delete_entry(account, message)
    emit(services().storage, account, EventName.MESSAGE_DELETED, {"id": message, "movedTo": moved_to})
    return MessageDeleted(id=message, moved_to=moved_to)


def _forget_or_follow(account: str, old: str, new: str | None) -> None:
    """A moved message: its index entry moves to the new id (it keeps its conversation and verdicts)."""
    messages = services().storage.messages
    entry = messages.entry(account, old)
    if entry is not None and new is not None:
        where = ids.decode(new)
        messages.save_entries(
            [replace(entry, id=new, folder=where.folder, uid=where.uid, uidvalidity=where.uidvalidity)]
        )
    messages.delete_entry(account, old)


def _emit_each(account: str, name: str, items: list[dict[str, Any]]) -> None:
    if items:
        emit_many(services().storage, [Publication(account, name, item) for item in items])


@endpoint(
    bp, "/account/<account>/messages", "PUT", summary="Change flags of many messages (ids or a search)",
    query=BulkQuery, body=BulkFlags, response=BulkResult, errors=(404, 422, 503),
    scope=TokenScope.SEND,
)  # fmt: skip
def bulk_flags(account: str, query: BulkQuery, body: BulkFlags) -> dict[str, Any]:
    args = {**body.selection(query.path), "add": list(body.flags.add), "delete": list(body.flags.delete),
            "set": list(body.flags.set) if body.flags.set is not None else None}  # fmt: skip
    result = _mailbox(account, "bulkFlags", args).result
    for changed in result["messages"]:
        services().storage.messages.set_flags(account, changed["id"], changed["flags"])
    _emit_each(account, EventName.MESSAGE_UPDATED, result["messages"])
    return {"messages": result["messages"]}


@endpoint(
    bp, "/account/<account>/messages/move", "PUT", summary="Move many messages (ids or a search)",
    query=BulkQuery, body=BulkMove, response=BulkResult, errors=(404, 422, 503),
    scope=TokenScope.SEND,
)  # fmt: skip
def bulk_move(account: str, query: BulkQuery, body: BulkMove) -> dict[str, Any]:
    result = _mailbox(account, "bulkMove", {**body.selection(query.path), "target": body.path}).result
    for moved in result["messages"]:
        _forget_or_follow(account, moved["id"], moved["newId"])
    _emit_each(account, EventName.MESSAGE_DELETED, [{**m, "movedTo": body.path} for m in result["messages"]])
    return {"messages": result["messages"], "movedTo": body.path}


@endpoint(
    bp, "/account/<account>/messages/delete", "PUT", summary="Delete many messages (ids or a search): to Trash, or expunge with force",
    query=BulkQuery, body=BulkDelete, response=BulkResult, errors=(404, 409, 422, 503),
    scope=TokenScope.SEND,
)  # fmt: skip
def bulk_delete(account: str, query: BulkQuery, body: BulkDelete) -> dict[str, Any]:
    result = _mailbox(account, "bulkDelete", {**body.selection(query.path), "force": body.force}).result
    for mid in result["deleted"]:
        services().storage.messages.delete_entry(account, mid)
    moved = [{"id": mid, "movedTo": result["movedTo"]} for mid in result["deleted"]]
    _emit_each(account, EventName.MESSAGE_DELETED, moved)
    return {"messages": moved, "movedTo": result["movedTo"]}


@endpoint(
    bp, "/account/<account>/mailboxes", "GET", summary="The account's folders (counters=true adds STATUS counts)",
    query=MailboxesQuery, response=MailboxList, errors=(404, 503),
    scope=TokenScope.READ,
)  # fmt: skip
def mailboxes(account: str, query: MailboxesQuery) -> dict[str, Any]:
    return dict(_mailbox(account, "mailboxes", {"counters": query.counters}).result)


@endpoint(
    bp, "/account/<account>/mailbox", "POST", summary="Create a folder",
    body=MailboxCreate, response=MailboxChanged, status=201, errors=(404, 409, 422, 503),
    scope=TokenScope.SEND,
)  # fmt: skip
def create_mailbox(account: str, body: MailboxCreate) -> tuple[MailboxChanged, int]:
    result = _mailbox(account, "createMailbox", {"path": body.path}).result
    return MailboxChanged.model_validate(result), 201


@endpoint(
    bp, "/account/<account>/mailbox", "PUT", summary="Rename a folder",
    body=MailboxRename, response=MailboxChanged, errors=(404, 409, 422, 503),
    scope=TokenScope.SEND,
)  # fmt: skip
def rename_mailbox(account: str, body: MailboxRename) -> MailboxChanged:
    result = _mailbox(account, "renameMailbox", {"path": body.path, "newPath": body.new_path}).result
    return MailboxChanged.model_validate(result)


@endpoint(
    bp, "/account/<account>/mailbox", "DELETE", summary="Delete a folder and the messages in it",
    query=MailboxQuery, response=MailboxChanged, errors=(404, 422, 503),
    scope=TokenScope.SEND,
)  # fmt: skip
def delete_mailbox(account: str, query: MailboxQuery) -> MailboxChanged:
    return MailboxChanged.model_validate(_mailbox(account, "deleteMailbox", {"path": query.path}).result)


@endpoint(
    bp, "/account/<account>/message", "POST", summary="Store a message (a draft, by default) on the server",
    body=DraftBody, response=DraftStored, status=201, errors=(404, 413, 422, 503),
    description="Builds the MIME from the submit body and APPENDs it: to `path`, or to the Drafts folder "
                "with \\Draft. `POST …/submit {\"draft\": id}` sends it later.",
    scope=TokenScope.SEND,
)  # fmt: skip
def store_message(account: str, body: DraftBody) -> tuple[DraftStored, int]:
    built = drafts.compose_stored(body, services().storage.accounts.get(account))
    args: dict[str, Any] = {"path": body.path, "flags": list(body.flags)}
    result = _mailbox(account, "append", args, built.raw).result
    return DraftStored(id=result["id"], path=result["path"], uid=result["uid"], message_id=built.message_id), 201


@endpoint(
    bp, "/account/<account>/conversation/<conversation>", "GET",
    summary="The messages of a thread the bridge has seen, oldest first, each with extractedText",
    response=ConversationOut, errors=(404, 503),
    scope=TokenScope.READ,
)  # fmt: skip
def conversation(account: str, conversation: str) -> dict[str, Any]:
    services().storage.accounts.get(account)
    entries = services().storage.messages.thread(account, conversation)
    if not entries:
        raise NotFound(f"no conversation {conversation!r} in account {account!r}", code="conversationNotFound")
    messages = []
    for entry in entries:
        try:
            reply = _source(account, entry.id)
        except NotFound:
            continue  # gone from the server since
        messages.append(_message_out(entry.id, reply, entry))
    return {"conversationId": conversation, "messages": messages}
