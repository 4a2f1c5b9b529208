"""The Sent copy on servers without a Sent folder (issue 14, part 6): created, or skipped with a reason.

A second Dovecot auto-creates every special-use folder but Sent. "The server refuses CREATE"
is played at the network edge: a proxy rewrites Dovecot's answer to CREATE into a NO.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from app import create_app
from bridge.config import Secret, Settings
from bridge.imap import mailbox_ops, session
from bridge.models import ServerConfig
from tests.integration import test_send as send
from tests.servers.dovecot import SPECIAL_USE, DovecotServer
from tests.servers.tcp_proxy import FaultProxy
from workers.context import worker_context

RAW = b"From: me@example.test\r\nTo: ann@example.test\r\nSubject: hi\r\nMessage-ID: <s1@example.test>\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def no_sent() -> Iterator[DovecotServer]:
    server = DovecotServer(special_use={k: v for k, v in SPECIAL_USE.items() if k != "Sent"})
    server.start()
    yield server
    server.close()


def _config(account, port: int | None = None) -> ServerConfig:
    return ServerConfig(
        host=account.host, port=port or account.imap_port, user=account.address,
        password=Secret(account.password), starttls=False,
    )  # fmt: skip


async def _folders(config: ServerConfig) -> dict[str, str | None]:
    return {box.path: box.special_use for box in await session.fetch_mailboxes(config)}


async def test_no_sent_folder_creates_one_marked_sent_and_files_the_copy(no_sent):
    account = no_sent.new_account()
    config = _config(account)
    assert "Sent" not in await _folders(config)

    result = await mailbox_ops.file_sent(config, RAW, copy=True, flag=None)
    assert result.copy.status == "created" and result.copy.folder == "Sent" and result.copy.uid == 1
    assert result.copy.to_json() == {"status": "created", "folder": "Sent", "uid": 1}
    # Dovecot 2.3 has no CREATE-SPECIAL-USE: a plain CREATE, with the name clients look for.
    assert "Sent" in await _folders(config)

    again = await mailbox_ops.file_sent(config, RAW, copy=True, flag=None)
    assert (again.copy.status, again.copy.folder, again.copy.uid) == ("filed", "Sent", 2)


async def test_create_special_use_is_asked_for_where_the_server_has_it(no_sent):
    account = no_sent.new_account()
    proxy = FaultProxy(account.imap_port)
    # Advertise RFC 6154 CREATE-SPECIAL-USE; Dovecot's parser then takes "CREATE Sent (USE (\Sent))".
    proxy.rewrite = lambda line: line.replace(b" UIDPLUS ", b" UIDPLUS CREATE-SPECIAL-USE ")
    await proxy.start()
    try:
        result = await mailbox_ops.file_sent(_config(account, proxy.port), RAW, copy=True, flag=None)
    finally:
        await proxy.close()
    assert (result.copy.status, result.copy.folder, result.copy.uid) == ("created", "Sent", 1)
    assert "Sent" in await _folders(_config(account))


async def test_a_refused_create_skips_the_copy_and_says_why(no_sent):
    account = no_sent.new_account()
    proxy = FaultProxy(account.imap_port)
    created = re.compile(rb"^(\S+) OK (\[[^]]*\] )?Create completed.*$", re.DOTALL)
    proxy.rewrite = lambda line: created.sub(rb"\1 NO [NOPERM] Permission denied\r\n", line)
    await proxy.start()
    try:
        result = await mailbox_ops.file_sent(_config(account, proxy.port), RAW, copy=True, flag=None)
    finally:
        await proxy.close()
    assert result.copy.status == "skipped" and result.copy.folder is None
    assert result.copy.reason == "createFailed: [NOPERM] Permission denied"
    assert result.copy.to_json() == {"status": "skipped", "reason": "createFailed: [NOPERM] Permission denied"}


async def test_copy_not_requested_is_said_too(no_sent):
    result = await mailbox_ops.file_sent(_config(no_sent.new_account()), RAW, copy=False, flag=None)
    assert result.copy.to_json() == {"status": "skipped", "reason": "notRequested"}


# --- end to end: submit -> worker -> SMTP sink -> Sent, on the server without a Sent folder --------


@pytest.fixture
def app(redis_url, tmp_path):
    return create_app(Settings(secret=Secret(send.SECRET), redis_url=redis_url, data_dir=tmp_path))


@pytest.fixture
def storage(app):
    services = app.extensions["bridge"]
    with worker_context(services.storage, services.settings, send_policy=send.FAST):
        yield services.storage


def test_a_send_from_an_account_without_sent_creates_it_and_says_so(app, storage, no_sent, smtp):
    mailbox = no_sent.new_account()
    send._account(storage, mailbox, smtp)
    client, auth = app.test_client(), {"Authorization": f"Bearer {storage.tokens.create('tests')[1]}"}
    answer = send.submit(client, auth)
    send.drain(storage, lambda: storage.outbox.get(answer["queueId"]).sent_copy is not None)

    [sent] = send.events(storage, "messageSent")
    assert sent["sentCopy"] == {"status": "pending"}
    entry = client.get(f"/v1/outbox/{answer['queueId']}", headers=auth).json
    assert entry["sentCopy"] == {"status": "created", "folder": "Sent", "uid": 1}
    ((flags, raw),) = send.imap_flags(mailbox, "Sent")
    assert "\\Seen" in flags and raw == smtp.messages[0].raw
    [copy] = storage.messages.thread("acme", sent["conversationId"])
    assert (copy.folder, copy.direction) == ("Sent", "sent")
