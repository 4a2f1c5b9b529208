"""Check that an account's IMAP and SMTP servers accept its credentials.

Runs both checks concurrently (each can take seconds against a real
provider) from synchronous callers such as Flask views. Results are values:
a failed login is a ``BridgeError`` in the result, not an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from bridge.errors import BridgeError
from bridge.imap import session
from bridge.models import FolderStatus, Mailbox, ServerConfig
from bridge.outbound import smtp

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
) -> CheckResult:
    """Log in to the given servers, concurrently, and report each outcome.

    With ``folders``, the IMAP check also reads their status (UIDVALIDITY and
    UIDNEXT), which is where a newly attached account starts watching; with
    ``discover``, also of the folders carrying those special-use flags.
    """
    return asyncio.run(_check(imap, smtp_config, folders, discover))


async def _check(
    imap: ServerConfig | None, smtp_config: ServerConfig | None, folders: Sequence[str], discover: Sequence[str]
) -> CheckResult:
    statuses: dict[str, FolderStatus] = {}

    async def imap_check(config: ServerConfig) -> None:
        statuses.update(await session.verify(config, folders=folders, discover=discover, timeout=CHECK_TIMEOUT))

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


async def _outcome(check: Awaitable[None]) -> BridgeError | None:
    try:
        await check
    except BridgeError as exc:
        return exc
    return None


async def _none() -> None:
    return None


def list_mailboxes(imap: ServerConfig) -> list[Mailbox]:
    """Raises: MailboxAuthFailed, MailboxUnavailable."""
    return asyncio.run(session.fetch_mailboxes(imap, timeout=CHECK_TIMEOUT))
