"""Self-tests of the real-server harness (tests/servers/ and tests/conftest.py).

Every other test trusts these servers, so each behaviour a test relies on
is checked here against the real thing.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from email.message import EmailMessage

import aioimaplib
import aiosmtplib
import httpx
import pytest
import redis

from tests.servers.dovecot import SPECIAL_USE, DovecotServer, MailAccount, imap_logout
from tests.servers.http import HttpReceiver
from tests.servers.redis import RedisServer
from tests.servers.smtp import SmtpSink

RAW = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: %s\r\nMessage-ID: <%s@example.test>\r\n\r\nbody\r\n"


def raw_message(subject: str) -> bytes:
    return RAW % (subject.encode(), subject.encode())


def refuses(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 0.5).close()
    except ConnectionRefusedError:
        return True
    return False


async def imap_login(account: MailAccount, *, tls: bool = False) -> aioimaplib.IMAP4:
    if tls:
        context = ssl.create_default_context(cafile=account.cafile)
        client = aioimaplib.IMAP4_SSL(account.host, account.imaps_port, ssl_context=context, timeout=5)
    else:
        client = aioimaplib.IMAP4(account.host, account.imap_port, timeout=5)
    await client.wait_hello_from_server()
    response = await client.login(account.address, account.password)
    assert response.result == "OK", response
    return client


async def subjects(account: MailAccount, folder: str = "INBOX") -> list[bytes]:
    client = await imap_login(account)
    try:
        assert (await client.select(folder)).result == "OK"
        fetched = await client.uid("fetch", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        return [bytes(line).strip() for line in fetched.lines if isinstance(line, bytearray)]
    finally:
        await imap_logout(client)


# -- Redis -------------------------------------------------------------------


@pytest.mark.parametrize("run", [1, 2])
def test_redis_is_empty_at_each_test_start(redis_client: redis.Redis, run: int) -> None:
    # Whichever run goes second sees the first one's key unless the fixture flushed.
    assert redis_client.dbsize() == 0
    redis_client.set("harness:leftover", run)
    assert redis_client.ping()


def test_redis_comes_back_empty_on_same_port_after_kill() -> None:
    # A private server of its own: the shared one may be an external Redis (BRIDGE_TEST_REDIS_URL),
    # which a test must not kill.
    server = RedisServer()
    server.start()
    client = redis.Redis.from_url(server.url)
    try:
        client.set("k", "v")
        port = server.port
        server.kill()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.restart()
        assert server.port == port
        assert client.ping()  # the pool reconnects by itself
        assert client.get("k") is None
    finally:
        client.close()
        server.close()


# -- Dovecot -----------------------------------------------------------------


async def test_imap_login_for_new_user(mailbox: MailAccount) -> None:
    client = await imap_login(mailbox)
    assert (await client.select("INBOX")).result == "OK"
    await imap_logout(client)


async def test_imap_rejects_wrong_password(mailbox: MailAccount) -> None:
    client = aioimaplib.IMAP4(mailbox.host, mailbox.imap_port, timeout=5)
    await client.wait_hello_from_server()
    assert (await client.login(mailbox.address, "wrong")).result == "NO"
    await imap_logout(client)


async def test_user_added_in_same_second_as_a_login_can_log_in(dovecot: DovecotServer, mailbox: MailAccount) -> None:
    # Guards the one-passwd-file-per-user design: Dovecot re-stats a
    # passwd-file at most once per second.
    await imap_logout(await imap_login(mailbox))
    other = dovecot.new_account()
    await imap_logout(await imap_login(other))


async def test_add_user_again_changes_password(dovecot: DovecotServer, mailbox: MailAccount) -> None:
    await imap_logout(await imap_login(mailbox))
    changed = dovecot.add_user(mailbox.address, "new-password")
    await imap_logout(await imap_login(changed))
    client = aioimaplib.IMAP4(mailbox.host, mailbox.imap_port, timeout=5)
    await client.wait_hello_from_server()
    assert (await client.login(mailbox.address, mailbox.password)).result == "NO"
    await imap_logout(client)


async def test_lmtp_delivery_is_visible_over_imap(dovecot: DovecotServer, mailbox: MailAccount) -> None:
    raw = raw_message("via-lmtp")
    dovecot.deliver(mailbox.address, raw)
    client = await imap_login(mailbox)
    await client.select("INBOX")
    search = await client.uid_search("ALL")
    assert search.lines[0] == b"1"
    fetched = await client.uid("fetch", "1", "(BODY.PEEK[])")
    body = next(bytes(line) for line in fetched.lines if isinstance(line, bytearray))
    # LMTP adds Return-Path/Delivered-To/Received on top of the original.
    assert body.endswith(raw)
    await imap_logout(client)


async def test_imaps_login_trusts_cafile(mailbox: MailAccount) -> None:
    client = await imap_login(mailbox, tls=True)
    await imap_logout(client)


async def test_imaps_without_cafile_fails_verification(mailbox: MailAccount) -> None:
    # Proves the TLS test above really verifies the certificate.
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection(mailbox.host, mailbox.imaps_port, ssl=ssl.create_default_context())


async def test_plain_imap_offers_starttls(mailbox: MailAccount) -> None:
    client = aioimaplib.IMAP4(mailbox.host, mailbox.imap_port, timeout=5)
    await client.wait_hello_from_server()
    assert client.has_capability("STARTTLS")
    await imap_logout(client)


async def test_special_use_folders_exist_for_every_user(mailbox: MailAccount) -> None:
    client = await imap_login(mailbox)
    listing = await client.list('""', "*")
    await imap_logout(client)
    flags = {line.rsplit(b" ", 1)[-1].decode(): line for line in listing.lines[:-1]}
    assert set(flags) == {"INBOX", *SPECIAL_USE}
    for name, flag in SPECIAL_USE.items():
        assert flag.encode() in flags[name]


async def test_many_connections_for_one_user(mailbox: MailAccount) -> None:
    # Dovecot's default mail_max_userip_connections is 10.
    clients = await asyncio.gather(*(imap_login(mailbox) for _ in range(15)))
    await asyncio.gather(*(imap_logout(client) for client in clients))


async def test_stop_start_keeps_mail_and_shows_offline_arrivals(dovecot: DovecotServer, mailbox: MailAccount) -> None:
    dovecot.deliver(mailbox.address, raw_message("before"))
    dovecot.stop()
    for port in (mailbox.imap_port, mailbox.imaps_port, mailbox.lmtp_port):
        assert refuses(mailbox.host, port)
    dovecot.append_offline(mailbox.address, "INBOX", raw_message("while-down"))
    dovecot.append_offline(mailbox.address, "Archive", raw_message("archived"))
    dovecot.start()
    assert await subjects(mailbox) == [b"Subject: before", b"Subject: while-down"]
    assert await subjects(mailbox, "Archive") == [b"Subject: archived"]


async def test_stop_ends_open_imap_sessions(dovecot: DovecotServer, mailbox: MailAccount) -> None:
    # A stopped server must not keep answering through surviving imap processes.
    reader, writer = await asyncio.open_connection(mailbox.host, mailbox.imap_port)
    await reader.readline()
    writer.write(f"a LOGIN {mailbox.address} {mailbox.password}\r\n".encode())
    await writer.drain()
    while not (line := await reader.readline()).startswith(b"a "):
        pass
    assert line.startswith(b"a OK")
    dovecot.stop()
    assert await asyncio.wait_for(reader.read(), 2) in (b"", b"* BYE Server shutting down.\r\n")
    writer.close()
    await writer.wait_closed()
    dovecot.start()


async def test_reset_wipes_mail_and_an_address_can_be_reused(dovecot: DovecotServer, mailbox: MailAccount) -> None:
    dovecot.deliver(mailbox.address, raw_message("old"))
    dovecot.reset()
    assert not any(dovecot.mail_dir.iterdir())
    assert not any((dovecot.dir / "users").iterdir())
    again = dovecot.add_user(mailbox.address, "another-password")
    assert await subjects(again) == []


# -- SMTP --------------------------------------------------------------------


def email(subject: str = "hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.test"
    message["To"] = "rcpt@example.test"
    message["Subject"] = subject
    message.set_content("hi")
    return message


async def send(sink: SmtpSink, message: EmailMessage, *, password: str | None = None, **kw: object) -> None:
    await aiosmtplib.send(
        message,
        hostname=sink.host,
        port=sink.port,
        start_tls=False,
        username=sink.login,
        password=password or sink.password,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_smtp_records_authenticated_message(smtp: SmtpSink, mechanism: str) -> None:
    client = aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, start_tls=False)
    await client.connect()
    await client.ehlo()  # auth_* without EHLO first gets 503
    auth = client.auth_plain if mechanism == "PLAIN" else client.auth_login
    await auth(smtp.login, smtp.password)
    await client.send_message(email())
    await client.quit()
    [received] = smtp.wait_for(1)
    assert received.auth_login == smtp.login
    assert received.mail_from == "sender@example.test"
    assert received.rcpt_tos == ("rcpt@example.test",)
    assert b"Subject: hello" in received.raw


@pytest.mark.parametrize("run", [1, 2])
async def test_smtp_is_empty_at_each_test_start(smtp: SmtpSink, run: int) -> None:
    assert smtp.messages == []
    await send(smtp, email())
    smtp.fail_always(550, "5.1.1 left over")


async def test_smtp_requires_auth(smtp: SmtpSink) -> None:
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as info:
        await aiosmtplib.send(email(), hostname=smtp.host, port=smtp.port, start_tls=False)
    assert info.value.code == 530


async def test_smtp_rejects_bad_password(smtp: SmtpSink) -> None:
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as info:
        await send(smtp, email(), password="wrong")
    assert info.value.code == 535


async def test_smtp_fail_next_451_then_accepts(smtp: SmtpSink) -> None:
    smtp.fail_next(451, "4.3.0 Try again later")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await send(smtp, email())
    assert info.value.recipients[0].code == 451
    await send(smtp, email())
    assert len(smtp.wait_for(1)) == 1


async def test_smtp_fail_always_550_until_recover(smtp: SmtpSink) -> None:
    smtp.fail_always(550, "5.1.1 No such user")
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
            await send(smtp, email())
        assert info.value.recipients[0].code == 550
    smtp.recover()
    await send(smtp, email())
    assert len(smtp.messages) == 1


async def test_smtp_data_stage_failure(smtp: SmtpSink) -> None:
    smtp.fail_next(554, "5.6.0 Content rejected", stage="data")
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await send(smtp, email())
    assert info.value.code == 554
    assert smtp.messages == []


async def test_smtp_down_then_back_on_same_port(smtp: SmtpSink) -> None:
    port = smtp.port
    smtp.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await send(smtp, email())
    smtp.start()
    assert smtp.port == port
    await send(smtp, email())
    assert len(smtp.messages) == 1


def test_smtp_wait_for_times_out(smtp: SmtpSink) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        smtp.wait_for(1, timeout=0.2)
    assert time.monotonic() - started >= 0.2


async def test_smtp_implicit_tls(dovecot: DovecotServer) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(dovecot.cafile, dovecot.keyfile)
    sink = SmtpSink(ssl_context=context)
    sink.start()
    try:
        client_context = ssl.create_default_context(cafile=dovecot.cafile)
        await send(sink, email(), use_tls=True, tls_context=client_context)
        assert len(sink.wait_for(1)) == 1
    finally:
        sink.stop()


# -- HTTP --------------------------------------------------------------------


def test_http_records_post_and_answers_scripted_status(http_receiver: HttpReceiver) -> None:
    http_receiver.respond(503, times=2)
    with httpx.Client(base_url=http_receiver.url) as client:
        statuses = [client.post("/hook", json={"n": n}, headers={"X-Sig": "s"}).status_code for n in range(3)]
    assert statuses == [503, 503, 200]
    requests = http_receiver.wait_for(3)
    assert [r.json() for r in requests] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert requests[0].method == "POST"
    assert requests[0].path == "/hook"
    assert requests[0].headers["x-sig"] == "s"
    assert [r.status for r in requests] == statuses


@pytest.mark.parametrize("run", [1, 2])
def test_http_is_empty_and_answers_200_at_each_test_start(http_receiver: HttpReceiver, run: int) -> None:
    # Whichever run goes second fails unless the fixture cleared the first one's leftovers.
    assert http_receiver.requests == []
    assert httpx.post(http_receiver.url).status_code == 200
    http_receiver.respond_always(500)


def test_http_down_closes_pooled_connections_and_up_reuses_port(http_receiver: HttpReceiver) -> None:
    port = http_receiver.port
    with httpx.Client(base_url=http_receiver.url) as client:
        assert client.get("/").status_code == 200
        http_receiver.down()
        with pytest.raises(httpx.TransportError):
            client.get("/")
        http_receiver.up()
        assert http_receiver.port == port
        assert client.get("/").status_code == 200


def test_http_delay(http_receiver: HttpReceiver) -> None:
    http_receiver.delay(0.3)
    started = time.monotonic()
    assert httpx.get(http_receiver.url).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(http_receiver.url, timeout=0.1)
    # Let the abandoned request finish, or it would be recorded in the next test.
    assert len(http_receiver.wait_for(2)) == 2
