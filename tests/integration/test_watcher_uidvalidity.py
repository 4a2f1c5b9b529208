"""The UIDVALIDITY baseline is the first SELECT's (issue 14, part 6): a server that answers STATUS
with another UIDVALIDITY each call (Courier does, before a folder was selected) causes no
``mailboxReset`` and loses no message that came between attaching and the first SELECT.

The quirk is played at the network edge: the account attaches, and the watcher connects, through
a proxy in front of Dovecot that rewrites every ``* STATUS`` answer's UIDVALIDITY.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import create_app
from bridge.config import Secret, Settings
from bridge.crypto import Vault
from bridge.inbound.pipeline import InboundPipeline
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage
from tests.servers.tcp_proxy import FaultProxy
from tests.watcher_support import Running, events, mail, until

SECRET = "test-secret-do-not-use-0123456789"
_STATUS_UIDVALIDITY = re.compile(rb"^(\* STATUS .*UIDVALIDITY )(\d+)")


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault(SECRET))


@pytest.fixture
def pipeline(storage, dns):
    with ThreadPoolExecutor(4) as executor:
        yield InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor)


@pytest.fixture
def client(redis_url, tmp_path):
    return create_app(Settings(secret=Secret(SECRET), redis_url=redis_url, data_dir=tmp_path)).test_client()


async def test_status_uidvalidity_that_changes_each_call_is_no_reset_and_loses_nothing(
    storage, pipeline, client, mailbox, dovecot
):
    wandering = itertools.count(1000)
    proxy = FaultProxy(mailbox.imap_port)
    rewritten: list[int] = []

    def courier(line: bytes) -> bytes:
        if not _STATUS_UIDVALIDITY.match(line):
            return line
        rewritten.append(next(wandering))
        return _STATUS_UIDVALIDITY.sub(lambda m: m.group(1) + str(rewritten[-1]).encode(), line)

    proxy.rewrite = courier
    await proxy.start()
    dovecot.deliver(mailbox.address, mail("before"))  # there before the account: not new mail
    body = {
        "account": "acme",
        "email": mailbox.address,
        "imap": {"host": mailbox.host, "port": proxy.port, "secure": False, "starttls": False,
                 "auth": {"user": mailbox.address, "pass": mailbox.password}},
    }  # fmt: skip
    auth = {"Authorization": f"Bearer {storage.tokens.create('tests')[1]}"}
    created = await asyncio.to_thread(client.post, "/v1/accounts", json=body, headers=auth)
    assert created.status_code == 201, created.json
    assert rewritten  # attaching asked STATUS, and got a made-up UIDVALIDITY
    dovecot.deliver(mailbox.address, mail("between"))  # after attaching, before the watcher's first SELECT

    account = storage.accounts.get("acme")
    assert len(account.watch) > 1  # INBOX and Junk: Junk is polled with STATUS, through the quirk too
    run = Running(account, pipeline, storage)
    await run.start()
    try:
        [new] = await until(lambda: events(storage), what="the message that came in between")
        assert new.data["subject"] == "message between"
        polled = len(rewritten)
        await until(lambda: len(rewritten) >= polled + 3, what="three more STATUS polls")
        dovecot.deliver(mailbox.address, mail("after"))
        await until(lambda: len(events(storage)) == 2, what="the next message")
        assert [e.data["subject"] for e in events(storage)] == ["message between", "message after"]
        assert events(storage, name="mailboxReset") == []
    finally:
        await run.stop()
        await proxy.close()
