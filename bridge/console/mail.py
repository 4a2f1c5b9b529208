"""The message browser: an account's folders, a folder's messages, one message with its ``auth`` verdict.

Everything it reads goes through ``MailboxAdapter``, the one place that knows
what the mailbox routes offer. Today that is the live folder list (IMAP LIST,
what ``GET /v1/account/{a}/mailboxes`` answers) and the bridge's stored
messages (what ``GET /v1/account/{a}/messages`` and ``…/message/{id}`` answer:
the mail the bridge saw arrive, per folder). When the live mailbox routes land
(``?path=&pageSize=&page=`` over IMAP), only this adapter changes.
Messages the policy withholds from API clients are shown here with a badge:
the operator sees what the agent does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, request

from bridge.accounts import connectivity
from bridge.api.messages import is_withheld
from bridge.api.services import services
from bridge.console.verdicts import plain
from bridge.console.web import page, render
from bridge.errors import BridgeError
from bridge.models import TokenScope
from bridge.storage import Storage

PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class Folder:
    path: str
    special_use: str | None


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[dict[str, Any]]  # id, subject, from, date, flags, withheld
    next_cursor: str | None


class MailboxAdapter:
    """What the message browser reads, in the shapes it draws (the one seam over the mailbox routes)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def folders(self, account: str) -> list[Folder]:
        found = connectivity.list_mailboxes(self.storage.accounts.get(account).imap)
        return [Folder(m.path, m.special_use) for m in found if "\\Noselect" not in m.flags]

    def page(self, account: str, path: str, cursor: str | None) -> MessagePage:
        before = None
        if cursor and "." in cursor and cursor.partition(".")[0].isdigit():
            score, _, mid = cursor.partition(".")
            before = (int(score), mid)
        records, after = self.storage.messages.page(
            account, limit=PAGE_SIZE, before=before, match=lambda r: r.get("folder") == path
        )
        rows = [
            {"id": r["id"], "subject": r.get("subject") or "(no subject)", "from": r.get("from") or {},
             "date": r.get("date") or r.get("receivedAt"), "flags": r.get("flags") or [], "withheld": is_withheld(r),
             "verified": (r.get("auth") or {}).get("verified")}
            for r in records
        ]  # fmt: skip
        return MessagePage(rows, f"{after[0]}.{after[1]}" if after else None)

    def message(self, account: str, message_id: str) -> dict[str, Any]:
        record = self.storage.messages.get(account, message_id)
        return {**record, "path": record.get("folder"), "withheld": is_withheld(record)}


@page("/console/accounts/<account>/mail", scope=TokenScope.READ)
def mail(account: str) -> Response:
    adapter = MailboxAdapter(services().storage)
    found = services().storage.accounts.get(account)
    path = request.args.get("path") or "INBOX"
    folders_error = None
    try:
        folders = adapter.folders(account)
    except BridgeError as exc:  # the server is down or refuses: the stored messages can still be listed
        folders, folders_error = [Folder("INBOX", None)], f"{exc.code}: {exc.message}"
    listing = adapter.page(account, path, request.args.get("cursor"))
    return render("mail.html", account=found, folders=folders, folders_error=folders_error, path=path,
                  listing=listing)  # fmt: skip


@page("/console/accounts/<account>/mail/<message_id>", scope=TokenScope.READ)
def mail_message(account: str, message_id: str) -> Response:
    found = services().storage.accounts.get(account)
    message = MailboxAdapter(services().storage).message(account, message_id)
    return render("message.html", account=found, message=message, verdict=plain(message.get("auth")))
