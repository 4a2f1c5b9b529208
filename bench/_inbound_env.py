"""The loopback world of bench/inbound.py: servers, signed test mail, IDLE observers, the receiver.

Reuses the tests' server classes (tests/servers/): a private Dovecot (tuned
below for 500+ concurrent TLS sessions), redis-server and dnslib DNS server.
Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import aioimaplib
import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.servers.dns import DnsServer
from tests.servers.dovecot import DovecotServer, MailAccount
from tests.servers.redis import RedisServer

ROOT = Path(__file__).resolve().parent.parent
SENDER_DOMAIN = "sender.test"
SELECTOR = "bench"
INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")

# Dovecot's defaults cap login processes at 100 (default_process_limit) and, in
# its high-security mode, keep one imap-login process per TLS session as the TLS
# proxy, so 500 IMAPS sessions would queue. Performance mode (service_count = 0)
# lets a few login processes proxy all of them.
_DOVECOT_SCALE = """
default_process_limit = 2000
default_client_limit = 8000
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 4000
  vsz_limit = 1G
}
service imap {
  process_limit = 4000
}
"""


# -- servers -------------------------------------------------------------------------


@dataclass
class World:
    """Everything shared by the phases; ``close()`` stops it all."""

    redis: RedisServer
    dovecot: DovecotServer
    dns: DnsServer
    receiver: Receiver
    dkim_key: bytes
    inotify_before: int | None = None

    @classmethod
    def start(cls) -> World:
        inotify_before = _raise_inotify(4096)
        redis_server = RedisServer()
        redis_server.start()
        dovecot = DovecotServer()
        with open(dovecot.config, "a") as config:
            config.write(_DOVECOT_SCALE)
        dovecot.start()
        dns = DnsServer()
        dns.start()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        dns.add(f"{SELECTOR}._domainkey.{SENDER_DOMAIN}", "TXT", f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}")
        dns.add(SENDER_DOMAIN, "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
        dns.add(f"_dmarc.{SENDER_DOMAIN}", "TXT", "v=DMARC1; p=reject")
        return cls(redis_server, dovecot, dns, Receiver(), pem, inotify_before)

    def close(self) -> None:
        self.receiver.close()
        self.dns.stop()
        self.dovecot.close()
        self.redis.close()
        if self.inotify_before is not None:
            _write_inotify(self.inotify_before)


def _raise_inotify(wanted: int) -> int | None:
    """Dovecot falls back to polling past max_user_instances IDLE sessions per uid (all
    mail processes run as one uid here). Raise it when we may; return the old value."""
    try:
        before = int(INOTIFY.read_text())
    except OSError:
        return None
    if before >= wanted or os.geteuid() != 0:
        return None
    return before if _write_inotify(wanted) else None


def _write_inotify(value: int) -> bool:
    try:
        INOTIFY.write_text(str(value))
    except OSError:
        return False
    return True


def inotify_limit() -> int | None:
    try:
        return int(INOTIFY.read_text())
    except OSError:
        return None


# -- test mail -------------------------------------------------------------------------


def make_message(token: str, to: str, key: bytes) -> bytes:
    """A ~2 KB multipart/alternative message, DKIM-signed (rsa-sha256, relaxed) by sender.test."""
    boundary = f"b-{token}"
    text = f"Hello,\r\n\r\nthis is {token}, a benchmark message.\r\n" + "Lorem ipsum dolor sit amet. " * 12 + "\r\n"
    html = f"<html><body><p>Hello,</p><p>this is <b>{token}</b>.</p><p>{'Lorem ipsum dolor sit amet. ' * 12}</p></body></html>"
    raw = (
        f"From: Alice Sender <alice@{SENDER_DOMAIN}>\r\n"
        f"To: {to}\r\n"
        f"Subject: {token}\r\n"
        f"Date: {formatdate(localtime=False)}\r\n"
        f"Message-ID: <{token}@{SENDER_DOMAIN}>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type"]
    signature = dkim.sign(
        raw,
        SELECTOR.encode(),
        SENDER_DOMAIN.encode(),
        key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=headers,
    )
    return bytes(signature) + raw


def deliver(dovecot: DovecotServer, rcpts: Sequence[str], messages: Sequence[bytes], connections: int = 1) -> float:
    """LMTP-deliver each message to all ``rcpts`` in one transaction, over ``connections``
    parallel sessions; return the seconds taken."""
    started = time.monotonic()
    shares = [messages[i::connections] for i in range(connections)]

    def send(share: Sequence[bytes]) -> None:
        with smtplib.LMTP(dovecot.host, dovecot.lmtp_port, timeout=30) as lmtp:
            lmtp.ehlo_or_helo_if_needed()
            for raw in share:
                lmtp.mail(f"alice@{SENDER_DOMAIN}")
                for rcpt in rcpts:
                    code, reply = lmtp.rcpt(rcpt)
                    assert code == 250, reply
                code, reply = lmtp.data(raw)
                assert code == 250, reply
                for _ in rcpts[1:]:  # LMTP answers DATA once per recipient (RFC 2033 § 4.2)
                    code, reply = lmtp.getreply()
                    assert code == 250, reply

    threads = [threading.Thread(target=send, args=(share,)) for share in shares if share]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return time.monotonic() - started


# -- our own IDLE connection: when does the push reach a client? -----------------------


@dataclass
class Observer:
    """A raw aioimaplib IDLE session on a mailbox; records when each EXISTS count arrived."""

    account: MailAccount
    reidle: bool = True  # end IDLE on every EXISTS and start again, as the products do
    seen: dict[int, float] = field(default_factory=dict)  # EXISTS count -> monotonic time first seen
    _client: aioimaplib.IMAP4 | None = None
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        client = aioimaplib.IMAP4(self.account.host, self.account.imap_port, timeout=10)
        await client.wait_hello_from_server()
        await client.login(self.account.address, self.account.password)
        await client.select("INBOX")
        self._client = client
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._client is not None
        client = self._client
        while True:
            idle = await client.idle_start(timeout=20 * 60)
            while True:
                lines = await client.wait_server_push(timeout=21 * 60)
                now = time.monotonic()
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                exists = [bytes(line) for line in lines if bytes(line).upper().endswith(b"EXISTS")]
                for line in exists:
                    self.seen.setdefault(int(line.split()[0]), now)
                    self._changed.set()
                if exists and self.reidle:
                    break
            client.idle_done()
            await asyncio.wait_for(idle, 10)

    async def wait_exists(self, count: int, timeout: float = 10.0) -> float | None:
        """Monotonic time of the first push saying EXISTS >= count; None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            hit = [t for n, t in self.seen.items() if n >= count]
            if hit:
                return min(hit)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001, S110 - going away anyway
                pass
        if self._client is not None:
            transport = getattr(self._client.protocol, "transport", None)
            if transport is not None:
                transport.abort()


# -- the webhook receiver (child process) ---------------------------------------------


class Receiver:
    """bench/_receiver.py in a child process: a keep-alive, Nagle-free HTTP receiver."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_receiver.py")],
            cwd=str(ROOT),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in, self._out = self._proc.stdin, self._proc.stdout
        self.port = int(self._out.readline())
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.seen = 0
        self._lock = threading.Lock()

    def _ask(self, line: str) -> object:
        with self._lock:
            self._in.write(line + "\n")
            self._in.flush()
            return json.loads(self._out.readline())

    def wait(self, n: int, timeout: float, start: int = 0) -> list[tuple[str | None, float]]:
        """(token, receive time) of requests ``start``.. once ``n`` arrived; fewer after ``timeout``."""
        got = self._ask(f"wait {n} {timeout} {start}")
        assert isinstance(got, list)
        return [(token, float(t)) for token, t in got]

    def verify(self, secret: str) -> tuple[int, int]:
        ok, total = self._ask(f"verify {secret}")  # type: ignore[misc]
        return int(ok), int(total)

    def clear(self) -> None:
        self._ask("clear")
        self.seen = 0

    def close(self) -> None:
        self._in.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
