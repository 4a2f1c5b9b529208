"""The message browser: an account's folders, a folder's messages, one message with its ``auth`` verdict.

Everything it reads goes through ``MailboxAdapter``, the one place that knows
the mailbox routes. It calls the REST views' own functions, unwrapped from
their HTTP layer (``inspect.unwrap``: the same code, validation included,
without a request to ourselves): ``GET /v1/account/{a}/mailboxes`` (IMAP LIST),
``GET …/messages?path=&pageSize=&cursor=`` (the live folder, through the watcher
holding the account) and ``GET …/message/{id}`` (the message fetched from the
server, with the bridge's verdicts). The withheld badge and the verdict of a
listed message come from the bridge's index entry of it. Messages the policy
withholds from API clients are listed too, with a badge: the operator sees what
the agent does not.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

from flask import Response, request

from bridge.api import messages as message_routes
from bridge.api.openapi import validate
from bridge.api.services import services
from bridge.console.verdicts import plain
from bridge.console.web import page, render
from bridge.errors import BridgeError
from bridge.models import TokenScope
from bridge.schemas.messages import MailboxesQuery, PageQuery

PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class Folder:
    path: str
    special_use: str | None


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[dict[str, Any]]  # id, subject, from, date, flags, withheld, verified
    next_cursor: str | None


class MailboxAdapter:
    """What the message browser reads, in the shapes it draws (the one seam over the mailbox routes)."""

    def folders(self, account: str) -> list[Folder]:
        query = validate(MailboxesQuery, {}, "query")
        found: dict[str, Any] = inspect.unwrap(message_routes.mailboxes)(account=account, query=query)
        return [Folder(m["path"], m["specialUse"]) for m in found["mailboxes"] if "\\Noselect" not in m["flags"]]

    def page(self, account: str, path: str, cursor: str | None) -> MessagePage:
        query = validate(PageQuery, {"path": path, "withheld": True, "pageSize": PAGE_SIZE,
                                     **({"cursor": cursor} if cursor else {})}, "query")  # fmt: skip
        listed = inspect.unwrap(message_routes.list_messages)(account=account, query=query)
        # The route passes the watcher's encoded page through as a Response unless it filtered it.
        found: dict[str, Any] = listed if isinstance(listed, dict) else json.loads(listed.get_data())
        entries = services().storage.messages.entries(account, [r["id"] for r in found["messages"]])
        rows = [
            {"id": r["id"], "subject": r.get("subject") or "(no subject)", "from": r.get("from") or {},
             "date": r.get("date") or r.get("receivedAt"), "flags": r.get("flags") or [],
             "withheld": entry is not None and entry.withheld,
             "verified": entry.auth.verified if entry is not None and entry.auth is not None else None}
            for r, entry in zip(found["messages"], entries, strict=True)
        ]  # fmt: skip
        return MessagePage(rows, found.get("nextPageCursor"))

    def message(self, account: str, message_id: str) -> dict[str, Any]:
        found: dict[str, Any] = inspect.unwrap(message_routes.get_message)(account=account, message=message_id)
        return {**found, "withheld": message_routes.is_withheld(found)}


@page("/console/accounts/<account>/mail", scope=TokenScope.READ)
def mail(account: str) -> Response:
    adapter = MailboxAdapter()
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
    message = MailboxAdapter().message(account, message_id)
    return render("message.html", account=found, message=message, verdict=plain(message.get("auth")))
