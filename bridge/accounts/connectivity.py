"""Check that an account's IMAP and SMTP servers accept its credentials.

Runs both checks concurrently (each can take seconds against a real
provider) from synchronous callers such as Flask views. Results are values:
a failed login is a ``BridgeError`` in the result, not an exception.

An IMAP check of credentials an attached account already uses goes through the
watcher holding that account (the ``check`` mailbox command, on its command
connection), so checking, however often and from however many web processes,
adds no IMAP login: the account keeps at most IDLE + ``BRIDGE_IMAP_COMMAND_CONNECTIONS``
connections (issue 14). SMTP checks log in as before: SMTP has no such cap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from bridge.errors import BridgeError, NotFound
from bridge.imap import session
from bridge.mailbox import protocol
from bridge.mailbox.client import MailboxClient
from bridge.models import FolderStatus, ServerConfig
from bridge.outbound import smtp
from bridge.storage import Storage

CHECK_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome per side; None means the side was not checked."""

    imap: BridgeError | None = None
    smtp: BridgeError | None = None
    imap_checked: bool = False
    smtp_checked: bool = False
    folders: dict[str, FolderStatus] = field(default_factory=dict)

    @property
    def first_error(self) -> BridgeError | None:
        return self.imap or self.smtp


def check_servers(
    imap: ServerConfig | None,
    smtp_config: ServerConfig | None,
    folders: Sequence[str] = (),
    discover: Sequence[str] = (),
    *,
    storage: Storage | None = None,
) -> CheckResult:
    """Log in to the given servers, concurrently, and report each outcome.

    With ``folders``, the IMAP check also reads their status (UIDVALIDITY and
    UIDNEXT), which is where a newly attached account starts watching; with
    ``discover``, also of the folders carrying those special-use flags.

    With ``storage``, IMAP settings an attached account uses are checked on the
    connection of the watcher holding it instead of by a login of their own
    (``_imap_statuses``); the product's callers always pass it.
    """
    return asyncio.run(_check(imap, smtp_config, folders, discover, storage))


async def _check(
    imap: ServerConfig | None,
    smtp_config: ServerConfig | None,
    folders: Sequence[str],
    discover: Sequence[str],
    storage: Storage | None,
) -> CheckResult:
    statuses: dict[str, FolderStatus] = {}

    async def imap_check(config: ServerConfig) -> None:
        statuses.update(await _imap_statuses(config, folders, discover, storage))

    imap_task = _outcome(imap_check(imap)) if imap else _none()
    smtp_task = _outcome(smtp.verify(smtp_config, timeout=CHECK_TIMEOUT)) if smtp_config else _none()
    imap_error, smtp_error = await asyncio.gather(imap_task, smtp_task)
    return CheckResult(
        imap=imap_error,
        smtp=smtp_error,
        imap_checked=imap is not None,
        smtp_checked=smtp_config is not None,
        folders=statuses,
    )


async def _imap_statuses(
    config: ServerConfig, folders: Sequence[str], discover: Sequence[str], storage: Storage | None
) -> dict[str, FolderStatus]:
    watched = await asyncio.to_thread(_account_using, storage, config) if storage is not None else None
    if storage is not None and watched is not None:
        try:
            return await asyncio.to_thread(_check_on_watcher, storage, watched, folders, discover)
        except NotFound:
            pass  # detached meanwhile: no watcher holds it any more
        except BridgeError as exc:
            if not protocol.unserved(exc):
                raise
    # No watcher has a connection to this account's server now: a new account being added (or new
    # credentials for one, which no open connection can vouch for), no watcher running, or its watcher
    # reconnecting. Logging in here is then the only way to check, and it adds nothing beside a
    # watcher's connections: there are none to add to.
    return await session.verify(config, folders=folders, discover=discover, timeout=CHECK_TIMEOUT)


def _account_using(storage: Storage, config: ServerConfig) -> str | None:
    """The attached account that logs in to IMAP with exactly these settings and credentials, if any."""
    return next((a.id for a in storage.accounts.list() if a.imap == config), None)


def _check_on_watcher(
    storage: Storage, account: str, folders: Sequence[str], discover: Sequence[str]
) -> dict[str, FolderStatus]:
    """Raises: ServiceUnavailable / RemoteError (code accountUnavailable): the watcher cannot run it now."""
    reply = MailboxClient(storage, timeout_s=CHECK_TIMEOUT).call(
        account, "check", {"folders": list(folders), "discover": list(discover)}
    )
    return {path: FolderStatus(*values) for path, values in reply.result["folders"].items()}


async def _outcome(check: Awaitable[None]) -> BridgeError | None:
    try:
        await check
    except BridgeError as exc:
        return exc
    return None


async def _none() -> None:
    return None
