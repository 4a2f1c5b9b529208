"""What each mailbox command does, over one pooled IMAP connection; the server's dispatch table.

I/O adapter (``bridge.imap.live`` does the IMAP). Each operation takes the client, the
command's JSON arguments and its raw payload, and returns a ``Reply``: JSON for the API
to pass on, plus raw bytes: a source, or a listing or search page already encoded as the
response body. Ids out are ``bridge.mail.ids`` ids; listing items are built here
(envelope and preview), so the web process only relays them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from bridge.errors import NotFound, Unprocessable, ValidationError
from bridge.imap import live, mailbox_ops, session
from bridge.imap.fetched import Fetched
from bridge.imap.responses import decode_mailbox_name
from bridge.mail import ids
from bridge.mail.envelope import envelope, preview
from bridge.mail.ids import MessageId
from bridge.mailbox.protocol import Reply
from bridge.mailbox.search import criteria
from bridge.models import FolderStatus, rfc3339

if TYPE_CHECKING:  # the client comes from bridge.imap.pool; only bridge.imap imports aioimaplib
    import aioimaplib

    Operation = Callable[[aioimaplib.IMAP4, dict[str, Any], bytes, "Answers"], Awaitable[Reply]]

# Commands that only read: concurrent identical ones may share one answer (bridge.mailbox.server), and
# they keep the kept listing and search answers; every other command drops them (run).
READ_ONLY = frozenset({"list", "search", "source", "mailboxes", "check"})
# Reads that work in a read-only selection of their folder and leave it selected for the next read there
# (``live.examine``, ``live.fetch_message``); every other command starts with no folder selected (run).
KEEP_SELECTED = frozenset({"list", "search", "source"})
# Bulk commands act on at most this many messages (a search matching more is refused, not cut).
BULK_LIMIT = 10_000


class Answers:
    """Listing and search answers of one account, each kept with the folder version it was computed at.

    A folder's version (``bridge.imap.live.Selected.version``: UIDVALIDITY, UIDNEXT, EXISTS,
    HIGHESTMODSEQ) changes with anything that happens in it, by anyone, so an answer is served
    again only while the folder's version now is the same: from a STATUS of a folder not selected,
    a fresh EXAMINE, or the connection's kept selection of it when a NOOP and every command since
    it was made told of no change (``live.examine``): it is never stale. Servers without CONDSTORE
    have no version and nothing is kept. Bounded: the oldest answers go first.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[tuple[int, ...], Reply]] = OrderedDict()

    def get(self, key: str, version: tuple[int, ...] | None) -> Reply | None:
        found = self._items.get(key)
        if version is None or found is None or found[0] != version:
            return None
        self._items.move_to_end(key)
        return found[1]

    def put(self, key: str, version: tuple[int, ...] | None, reply: Reply) -> None:
        if version is None:
            return
        self._items[key] = (version, reply)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


def _key(op: str, args: dict[str, Any]) -> str:
    return op + json.dumps(args, sort_keys=True, separators=(",", ":"))


_INTERNAL_DATE = re.compile(r"^\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")
_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}


def received_at(internal_date: str | None) -> str | None:
    """RFC 3501 date-time (``7-Dec-2026 18:17:09 +0000``) as RFC 3339 UTC; by hand, strptime costs 50 µs."""
    match = _INTERNAL_DATE.match(internal_date or "")
    if match is None or match.group(2).lower() not in _MONTHS:
        return None
    day, _, year, hour, minute, second, sign, oh, om = match.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    try:
        moment = datetime(int(year), _MONTHS[match.group(2).lower()], int(day), int(hour), int(minute), int(second),
                          tzinfo=timezone(offset))  # fmt: skip
    except ValueError:
        return None
    return rfc3339(moment, "seconds")


def summary(item: Fetched, folder: str, uidvalidity: int, *, gmail: bool = False) -> dict[str, Any]:
    head = item.section("BODY[HEADER.FIELDS")
    out: dict[str, Any] = {
        "id": ids.encode(folder, uidvalidity, item.uid),
        "uid": item.uid,
        "path": folder,
        **envelope(head),
        "receivedAt": received_at(item.internal_date),
        "flags": list(item.flags),
        "size": item.size or 0,
        "hasAttachments": item.has_attachments,
        "preview": preview(head, item.section("BODY[TEXT]")),
    }
    if gmail:
        out["labels"] = list(item.labels)
    return out


def _cursor(folder: str, uidvalidity: int, uid: int, page: int) -> str:
    raw = json.dumps({"p": folder, "v": uidvalidity, "u": uid, "n": page}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _read_cursor(value: str, folder: str) -> tuple[int, int, int]:
    try:
        found = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        uidvalidity, uid, page = int(found["v"]), int(found["u"]), int(found["n"])
        same = found["p"] == folder
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValidationError("cursor is not one this API returned", code="invalidCursor") from exc
    if not same:
        raise ValidationError("cursor belongs to another folder", code="invalidCursor")
    return uidvalidity, uid, page


def _page_out(
    folder: str, uidvalidity: int, total: int, page: int, page_size: int, items: list[Fetched], more: bool, gmail: bool
) -> Reply:
    messages = [summary(i, folder, uidvalidity, gmail=gmail) for i in items]
    cursor = _cursor(folder, uidvalidity, items[-1].uid, page + 1) if more and items else None
    page_json = {
        "total": total,
        "page": page,
        "pages": max(1, math.ceil(total / page_size)) if total else 0,
        "messages": messages,
        "nextPageCursor": cursor,
    }
    # The page is encoded once here, kept encoded with the folder version (Answers), and passed through
    # by the web process as its response body; the ids ride in the head, so the web process can check
    # its index for withheld messages without decoding the page (bridge.api.messages).
    return Reply(result={"ids": [m["id"] for m in messages]}, payload=page_bytes(page_json))


def page_bytes(page: dict[str, Any]) -> bytes:
    """A listing or search page as the API's response body (the JSON Flask would write: compact, ASCII)."""
    return json.dumps(page, separators=(",", ":")).encode() + b"\n"


async def _current(client: aioimaplib.IMAP4, folder: str) -> tuple[tuple[int, ...] | None, live.Selected | None]:
    """The folder's version now, and its selection when this connection keeps it (brought up to date)."""
    if live.keeps(client, folder):
        selected = await live.examine(client, folder)
        return selected.version, selected
    return await live.version(client, folder), None


async def list_messages(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    folder = args["path"]
    key = _key("list", args)
    version, selected = await _current(client, folder)
    found = answers.get(key, version)
    if found is None:
        selected = selected or await live.examine(client, folder)
        found = await _list(client, args, selected.status)
        answers.put(key, selected.version, found)
    return found


def _summary_items(gmail: bool) -> str:
    return "(UID FLAGS X-GM-LABELS" + live.SUMMARY_ITEMS[len("(UID FLAGS") :] if gmail else live.SUMMARY_ITEMS


async def _list(client: aioimaplib.IMAP4, args: dict[str, Any], status: FolderStatus) -> Reply:
    folder, size, gmail = args["path"], int(args["pageSize"]), live.is_gmail(client)
    items = _summary_items(gmail)
    if args.get("cursor"):
        uidvalidity, before, page = _read_cursor(args["cursor"], folder)
        if status.uidvalidity != uidvalidity:
            raise ValidationError("the folder was rebuilt since this cursor was issued", code="invalidCursor")
        uids: list[int] = []
        if before > 1:
            uids = (await live.search_uids(client, folder, ["UID", f"1:{before - 1}"], selected=False))[1]
        rest = [u for u in uids if u < before]
        fetched = await live.fetch_uids(client, rest[:size], items)
        return _page_out(folder, uidvalidity, status.exists, page, size, fetched, len(rest) > size, gmail)
    page = int(args.get("page") or 0)
    if gmail:  # X-GM-LABELS rides on the UID FETCH
        high = status.exists - page * size
        low = max(1, high - size + 1)
        uids_page = (await live.search_uids(client, folder, [f"{low}:{high}"], selected=False))[1] if high >= 1 else []
        listed = live.Page(folder, status.uidvalidity, status.exists, await live.fetch_uids(client, uids_page, items))
    else:
        listed = await live.list_page(client, folder, page_size=size, page=page, status=status)
    more = listed.total > (page + 1) * size
    return _page_out(folder, listed.uidvalidity, listed.total, page, size, listed.items, more, gmail)


async def search_messages(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    folder, size, gmail = args["path"], int(args["pageSize"]), live.is_gmail(client)
    atoms = criteria(args.get("search") or {}, gmail=gmail)
    key = _key("search", args)
    version, selected = await _current(client, folder)
    cached = answers.get(key, version)
    if cached is not None:
        return cached
    selected = selected or await live.examine(client, folder)
    status, uids = await live.search_uids(client, folder, atoms, selected=False)
    page = int(args.get("page") or 0)
    if args.get("cursor"):
        uidvalidity, before, page = _read_cursor(args["cursor"], folder)
        if selected.status.uidvalidity != uidvalidity:
            raise ValidationError("the folder was rebuilt since this cursor was issued", code="invalidCursor")
        rest = [u for u in uids if u < before]
    else:
        rest = uids[page * size :]
    fetched = await live.fetch_uids(client, rest[:size], _summary_items(gmail))
    reply = _page_out(folder, selected.status.uidvalidity, len(uids), page, size, fetched, len(rest) > size, gmail)
    answers.put(key, selected.version, reply)
    return reply


async def get_source(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    message = ids.decode(args["id"])
    found = await live.fetch_message(client, message)
    raw = found.section("BODY[]")
    return Reply(
        result={
            "flags": list(found.flags),
            "size": found.size or len(raw),
            "receivedAt": received_at(found.internal_date),
        },
        payload=raw,
    )


async def update_flags(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    message = ids.decode(args["id"])
    labels = args.get("labels") or {}
    if (labels.get("add") or labels.get("delete")) and not live.is_gmail(client):
        raise Unprocessable("labels need a Gmail account (X-GM-EXT-1)", code="labelsNotSupported")
    after = await live.change_flags(
        client, message, add=args.get("add") or (), delete=args.get("delete") or (), set_=args.get("set"),
        labels_add=labels.get("add") or (), labels_delete=labels.get("delete") or (),
    )  # fmt: skip
    result: dict[str, Any] = {"flags": list(after.flags)}
    if live.is_gmail(client):
        result["labels"] = list(after.labels)
    return Reply(result=result)


async def move_message(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    moved = await live.move(client, ids.decode(args["id"]), args["path"])
    return Reply(
        result={"path": args["path"], "id": moved.encode() if moved else None, "uid": moved.uid if moved else None}
    )


async def delete_message(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    moved_to = await live.delete(client, ids.decode(args["id"]), force=bool(args.get("force")))
    return Reply(result={"movedTo": moved_to})


async def _targets(client: aioimaplib.IMAP4, args: dict[str, Any]) -> list[tuple[str, list[int]]]:
    """(folder, UIDs) the bulk command acts on: its ids (those whose folder is unchanged), or its search in ``path``."""
    if args.get("ids") is not None:
        by_folder: dict[tuple[str, int], list[int]] = {}
        for value in args["ids"]:
            message = ids.decode(value)
            by_folder.setdefault((message.folder, message.uidvalidity), []).append(message.uid)
        out: list[tuple[str, list[int]]] = []
        for (folder, uidvalidity), uids in by_folder.items():
            try:
                status = await live.select(client, folder)
            except NotFound:
                continue
            if status.uidvalidity == uidvalidity:
                out.append((folder, sorted(set(uids), reverse=True)))
        return out
    folder = args["path"]
    status, uids = await live.search_uids(
        client, folder, criteria(args.get("search") or {}, gmail=live.is_gmail(client))
    )
    if len(uids) > BULK_LIMIT:
        raise ValidationError(
            f"the search matches {len(uids)} messages; at most {BULK_LIMIT} at once", code="tooManyMessages"
        )
    return [(folder, uids)]


async def bulk_flags(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    changed: list[dict[str, Any]] = []
    for folder, uids in await _targets(client, args):
        status = await live.select(client, folder)
        after = await live.store_flags(
            client, uids, add=args.get("add") or (), delete=args.get("delete") or (), set_=args.get("set")
        )
        changed += [
            {"id": ids.encode(folder, status.uidvalidity, uid), "flags": list(f.flags)} for uid, f in after.items()
        ]
    return Reply(result={"messages": changed})


async def bulk_move(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    target = args["target"]
    moved: list[dict[str, Any]] = []
    for folder, uids in await _targets(client, args):
        status = await live.select(client, folder)
        present = [f.uid for f in await live.fetch_uids(client, uids, "(UID)")]
        if not present:
            continue
        uidvalidity, mapping = await live.move_uids(client, present, target)
        for uid in present:
            new = mapping.get(uid)
            moved.append({
                "id": ids.encode(folder, status.uidvalidity, uid),
                "newId": ids.encode(target, uidvalidity, new) if uidvalidity and new else None,
            })  # fmt: skip
    return Reply(result={"path": target, "messages": moved})


async def bulk_delete(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    deleted: list[str] = []
    moved_to: str | None = None
    for folder, uids in await _targets(client, args):
        status = await live.select(client, folder)
        present = [f.uid for f in await live.fetch_uids(client, uids, "(UID)")]
        if not present:
            continue
        moved_to = await live.delete_uids(client, folder, present, force=bool(args.get("force")))
        deleted += [ids.encode(folder, status.uidvalidity, uid) for uid in present]
    return Reply(result={"deleted": deleted, "movedTo": moved_to})


async def mailboxes(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    out: list[dict[str, Any]] = []
    for box in await live.list_mailboxes(client):
        path = decode_mailbox_name(box.path)
        entry: dict[str, Any] = {
            "path": path,
            "name": box.name,
            "delimiter": box.delimiter,
            "flags": list(box.flags),
            "specialUse": box.special_use,
        }
        if args.get("counters") and not any(f.lower() == "\\noselect" for f in box.flags):
            counts = await live.folder_counters(client, path)
            entry["status"] = {"messages": counts.get("MESSAGES", 0), "unseen": counts.get("UNSEEN", 0)}
        out.append(entry)
    return Reply(result={"mailboxes": out})


async def create_mailbox(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    await live.create_mailbox(client, args["path"])
    return Reply(result={"path": args["path"], "created": True})


async def rename_mailbox(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    await live.rename_mailbox(client, args["path"], args["newPath"])
    return Reply(result={"path": args["path"], "newPath": args["newPath"], "renamed": True})


async def delete_mailbox(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    await live.delete_mailbox(client, args["path"])
    return Reply(result={"path": args["path"], "deleted": True})


async def append_message(client: aioimaplib.IMAP4, args: dict[str, Any], payload: bytes, answers: Answers) -> Reply:
    """APPEND the payload; to ``path``, else the Drafts folder (created when missing) with \\Draft."""
    folder = args.get("path")
    flags = list(args.get("flags") or [])
    if folder is None:
        folder = await live.ensure_special_folder(client, "\\Drafts", "Drafts")
        if folder is None:
            raise NotFound(
                "the account has no Drafts folder and the server refused to create one", code="folderNotFound"
            )
        if "\\Draft" not in flags:
            flags.append("\\Draft")
    await live.select(client, folder)  # folderNotFound before APPEND says TRYCREATE
    created = await live.append(client, folder, payload, flags)
    return Reply(
        result={"path": folder, "id": created.encode() if created else None, "uid": created.uid if created else None}
    )


async def file_sent(client: aioimaplib.IMAP4, args: dict[str, Any], payload: bytes, answers: Answers) -> Reply:
    """After a send (``workers.mail.file_sent_message``): the payload to Sent with \\Seen, and/or the flag on
    the message it answered; on the account's command connection, so the worker logs in to nothing.

    Args: ``copy`` (file the payload), ``flag`` (``FlagTarget.to_json``), ``date`` (ISO 8601, the copy's
    INTERNALDATE), ``once`` (the Message-ID, when an earlier try may have filed it: not filed twice).
    """
    flag = args.get("flag")
    result = await mailbox_ops.file_sent(
        client, payload, copy=bool(args.get("copy")), flag=mailbox_ops.FlagTarget.from_json(flag) if flag else None,
        date=datetime.fromisoformat(args["date"]) if args.get("date") else None, once=args.get("once"),
    )  # fmt: skip
    return Reply(result=result.to_wire())


async def check(client: aioimaplib.IMAP4, args: dict[str, Any], _: bytes, answers: Answers) -> Reply:
    """A connection check (``bridge.accounts.connectivity``) on the command connection, so checking a watched
    account logs in to nothing: the server answers, and the status of ``folders`` plus the folders carrying
    the ``discover`` special-use flags (RFC 6154), as ``{path: [uidvalidity, uidnext, exists]}``."""
    found = await session.inspect(client, folders=args.get("folders") or (), discover=args.get("discover") or ())
    return Reply(result={"folders": {path: [s.uidvalidity, s.uidnext, s.exists] for path, s in found.items()}})


async def run(op: Operation, name: str, client: aioimaplib.IMAP4, args: dict[str, Any], payload: bytes,
              answers: Answers) -> Reply:  # fmt: skip
    """Run one operation, then leave the folder it selected, unless it is a read that keeps it (KEEP_SELECTED).

    A listing, search or message read keeps its folder selected read-only for the next read there
    (``live.examine``, ``live.fetch_message``); any other command leaves it first, so it starts with no
    folder selected, as it expects (a STATUS there would answer from a selected folder's older view).
    """
    if name not in READ_ONLY:
        answers.clear()  # a change: what was kept may no longer hold (versions would say so too)
    await live.release(client, keep=name in KEEP_SELECTED)
    try:
        return await op(client, args, payload, answers)
    finally:
        if name not in KEEP_SELECTED:
            await live.leave(client, read_only=False)


OPERATIONS: dict[str, Operation] = {
    "list": list_messages,
    "search": search_messages,
    "source": get_source,
    "flags": update_flags,
    "move": move_message,
    "delete": delete_message,
    "bulkFlags": bulk_flags,
    "bulkMove": bulk_move,
    "bulkDelete": bulk_delete,
    "mailboxes": mailboxes,
    "createMailbox": create_mailbox,
    "renameMailbox": rename_mailbox,
    "deleteMailbox": delete_mailbox,
    "append": append_message,
    "fileSent": file_sent,
    "check": check,
}


def message_id(value: str) -> MessageId:
    return ids.decode(value)
