"""Helpers shared by the watcher tests: accounts on the test Dovecot, waiting, events, a watch in a task.

No fixtures here (they live next to the tests).
"""

from __future__ import annotations

import asyncio
import time

import aioimaplib

from bridge.config import Secret
from bridge.imap.watcher import AccountWatcher, WatchTiming
from bridge.models import Account, ServerConfig
from tests.servers.dovecot import imap_logout

FAST = WatchTiming(
    poll_interval_s=0.3, retry_base_s=0.05, retry_cap_s=0.3, auth_retry_base_s=0.05, auth_retry_cap_s=0.3
)


def mail(n: int | str, to: str = "user@example.test", subject: str | None = None, extra: str = "") -> bytes:
    return (
        f"From: Sender <sender@example.test>\r\nTo: {to}\r\nSubject: {subject or f'message {n}'}\r\n"
        f"Message-ID: <m{n}@example.test>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n{extra}\r\nbody {n}\r\n"
    ).encode()


async def append(mailbox, raw: bytes, folder: str = "INBOX") -> None:
    """APPEND a message straight to Dovecot (not through any proxy in front of it)."""
    client = aioimaplib.IMAP4(mailbox.host, mailbox.imap_port)
    await client.wait_hello_from_server()
    await client.login(mailbox.address, mailbox.password)
    assert (await client.append(raw, mailbox=folder)).result == "OK"
    await imap_logout(client)


def make_account(
    storage,
    mailbox,
    *,
    watch=("INBOX",),
    backfill=0,
    password=None,
    account_id="acme",
    port=None,
    secure=False,
) -> Account:
    account = Account(
        id=account_id,
        email=mailbox.address,
        imap=ServerConfig(
            host=mailbox.host,
            port=port or (mailbox.imaps_port if secure else mailbox.imap_port),
            user=mailbox.address,
            password=Secret(password or mailbox.password),
            secure=secure,
            starttls=False,
            reject_unauthorized=not secure,  # Dovecot's certificate is self-signed
        ),
        watch=tuple(watch),
        backfill=backfill,
    )
    return storage.accounts.create(account)


async def until(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def events(storage, account="acme", name="messageNew"):
    return [e for e in storage.events.since(account, 0, count=10_000) if name is None or e.event == name]


def imap_tasks() -> list[asyncio.Task]:
    """Tasks still running code of aioimaplib or bridge/imap (a watch stopped or failed leaves none)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task is not asyncio.current_task() and code is not None:
            if "aioimaplib" in code.co_filename or "bridge/imap/" in code.co_filename:
                found.append(task)
    return found


class Running:
    """An AccountWatcher in a background task."""

    def __init__(self, account, pipeline, storage, timing=FAST):
        self.watcher = AccountWatcher(account, pipeline, storage.mailstate, timing=timing)
        self.task: asyncio.Task | None = None
        self.storage = storage
        self.account = account

    async def start(self, *, wait_ready: bool = True):
        self.task = asyncio.create_task(self.watcher.run())
        if wait_ready:
            for folder in self.account.watch:
                await until(
                    lambda f=folder: self.storage.mailstate.checkpoint(self.account.id, f), what=f"{folder} baseline"
                )
            await asyncio.sleep(0.1)  # let it enter IDLE

    async def stop(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
