"""Accounts: attach a mailbox, read, update, detach, verify, list its folders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from flask import Blueprint, g

from bridge.accounts import connectivity
from bridge.accounts.removal import delete_account
from bridge.api import auth
from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.errors import BridgeError, Conflict, NotFound
from bridge.models import Account, FolderStatus, ServerConfig, TokenScope
from bridge.review import audit as auditing
from bridge.schemas.accounts import (
    AccountCreate,
    AccountList,
    AccountOut,
    AccountUpdate,
    SideResult,
    VerifyRequest,
    VerifyResult,
)
from bridge.schemas.common import Deleted
from bridge.storage import Storage

bp = Blueprint("accounts", __name__)
# Special-use folders watched besides INBOX when an account does not say what to watch (RFC 6154).
DEFAULT_EXTRA_FOLDERS = ("\\Junk",)


def _out(account: Account) -> AccountOut:
    return AccountOut.of(account, services().storage.accounts.get_state(account.id))


def _require_login(
    imap: ServerConfig | None, smtp: ServerConfig | None, folders: tuple[str, ...] = (), discover: tuple[str, ...] = ()
) -> dict[str, FolderStatus]:
    """Raise the first side's failure (IMAP before SMTP); nothing is stored after it."""
    result = connectivity.check_servers(imap, smtp, folders, discover, storage=services().storage)
    if result.first_error is not None:
        raise result.first_error
    return result.folders


@endpoint(
    bp,
    "/accounts",
    "POST",
    summary="Attach an account",
    body=AccountCreate,
    response=AccountOut,
    status=201,
    errors=(409, 422),
    description="Logs in to IMAP and SMTP first (unless verify is false); nothing is stored when either fails.",
    scope=TokenScope.MANAGE,
)
def create(body: AccountCreate) -> AccountOut:
    return _out(attach(services().storage, body))


def attach(storage: Storage, body: AccountCreate) -> Account:
    """Log in (unless ``verify`` is false), then store the account; the console's form calls this too.

    Raises:
        Conflict: the account id is taken.
        BridgeError: a login failed (``authenticationFailed``, ``connectFailed`` … with ``details.side``).
    """
    account = body.to_account()
    try:
        storage.accounts.get(account.id)
    except NotFound:
        pass
    else:
        raise Conflict(f"account {account.id!r} already exists", code="accountExists")
    # Bounces and complaints often land in Junk: unless told otherwise, watch it too.
    discover = DEFAULT_EXTRA_FOLDERS if body.watch is None else ()
    checked = storage.oauth_tokens.bind(account)  # a token URL account logs in with what the URL gives
    folders = _require_login(checked.imap, checked.smtp, account.watch, discover) if body.verify else {}
    if body.watch is None and folders:
        account = replace(account, watch=tuple(folders))
    created = storage.accounts.create(account)
    # Watch from the moment of attaching, not from the watcher's first connection:
    # mail that arrives in between is new mail. Backfill leaves the baseline to the watcher.
    for folder, status in folders.items():
        if not (account.backfill and folder == account.watch[0]):
            storage.mailstate.set_attach_checkpoint(account.id, folder, status.uidnext - 1)
    return created


@endpoint(bp, "/accounts", "GET", summary="List accounts", response=AccountList, scope=TokenScope.MANAGE)
def list_all() -> AccountList:
    # A token limited to some accounts sees those only.
    return AccountList(accounts=[_out(a) for a in services().storage.accounts.list() if auth.may_see(a.id)])


@endpoint(
    bp,
    "/account/<account>",
    "GET",
    summary="Get an account and its connection state",
    response=AccountOut,
    errors=(404,),
    scope=TokenScope.MANAGE,
)
def get(account: str) -> AccountOut:
    return _out(services().storage.accounts.get(account))


@endpoint(
    bp,
    "/account/<account>",
    "PUT",
    summary="Update an account",
    body=AccountUpdate,
    response=AccountOut,
    errors=(404, 422),
    description="Absent fields keep their value; an omitted pass keeps the stored password. Changed servers are verified first.",
    scope=TokenScope.MANAGE,
)
def update(account: str, body: AccountUpdate) -> AccountOut:
    storage = services().storage
    current = storage.accounts.get(account)
    updated = replace(
        current,
        name=current.name if body.name is None else body.name,
        email=current.email if body.email is None else body.email,
        imap=current.imap if body.imap is None else body.imap.to_config(keep=current.imap),
        smtp=current.smtp if body.smtp is None else body.smtp.to_config(keep=current.smtp),
        watch=current.watch if body.watch is None else tuple(body.watch),
        backfill=current.backfill if body.backfill is None else body.backfill,
        trusted_receivers=current.trusted_receivers
        if body.trusted_receivers is None
        else tuple(h.lower() for h in body.trusted_receivers),
        trusted_arc_sealers=current.trusted_arc_sealers
        if body.trusted_arc_sealers is None
        else tuple(dict.fromkeys(body.trusted_arc_sealers)),
        oauth=current.oauth if body.oauth2 is None else body.oauth2.to_binding(),
    )
    if body.verify and (body.imap is not None or body.smtp is not None):
        checked = storage.oauth_tokens.bind(updated)
        _require_login(checked.imap if body.imap else None, checked.smtp if body.smtp else None)
    return _out(storage.accounts.replace(updated))


@endpoint(
    bp,
    "/account/<account>",
    "DELETE",
    summary="Detach an account",
    description="Cancels its queued and scheduled sends and rejects its pending review holds, then purges "
    "its stored messages, events, policy, suppressions and state. A send already in progress finishes on its own.",
    response=Deleted,
    errors=(404,),
    scope=TokenScope.MANAGE,
)
def delete(account: str) -> Deleted:
    delete_account(services().storage, account, by=auditing.by_token(g.token_id), now=datetime.now(UTC))
    return Deleted(id=account)


@endpoint(
    bp,
    "/verifyAccount",
    "POST",
    summary="Check credentials without saving",
    body=VerifyRequest,
    response=VerifyResult,
    description="Always 200 when the request is valid; each side reports success or its error code.",
    scope=TokenScope.MANAGE,
)
def verify(body: VerifyRequest) -> VerifyResult:
    result = connectivity.check_servers(
        body.imap.to_config() if body.imap else None,
        body.smtp.to_config() if body.smtp else None,
        storage=services().storage,
    )

    def side(checked: bool, error: BridgeError | None) -> SideResult | None:
        if not checked:
            return None
        if error is None:
            return SideResult(success=True)
        return SideResult(success=False, code=error.code, error=error.message)

    return VerifyResult(
        imap=side(result.imap_checked, result.imap),
        smtp=side(result.smtp_checked, result.smtp),
    )
