"""Shared fixtures: real servers on loopback, started once per session, cleaned per test.

The servers live in tests/servers/ as plain classes (no pytest), so bench/
can reuse them. Here they only get a lifetime:

=================  ========  ===================================================
fixture            scope     gives
=================  ========  ===================================================
redis_server       session   RedisServer (BRIDGE_TEST_REDIS_URL: an external one)
redis_url          function  its URL, after FLUSHALL (FLUSHDB if external)
redis_client       function  redis.Redis on redis_url, closed after the test
dovecot            session   DovecotServer: IMAP, IMAPS (cafile), LMTP
mailbox            function  MailAccount: a fresh user on a reset Dovecot
smtp_sink          session   SmtpSink (aiosmtpd) with AUTH; login/password attrs
smtp               function  smtp_sink, listening, with no messages or failures
http_server        session   HttpReceiver
http_receiver      function  http_server, listening, with no requests or scripts
dns_server         session   DnsServer (dnslib), UDP+TCP, records set per test
dns                function  dns_server, running, with no records
=================  ========  ===================================================

Each function fixture first brings its server back up, so a test that
stops or kills a server cannot break the next one. Redis and Dovecot are
child processes with atexit cleanup, started under `setpriv --pdeathsig`,
so they die with pytest even on SIGKILL; SMTP and HTTP are daemon threads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.servers.dns import DnsServer
from tests.servers.dovecot import SPECIAL_USE, DovecotServer, MailAccount
from tests.servers.http import HttpReceiver
from tests.servers.redis import RedisServer
from tests.servers.smtp import SmtpSink

# -- Redis -------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.from_env(os.environ)
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis."""
    if not redis_server.external:
        redis_server.start()  # no-op unless a previous test stopped it
    with redis.Redis.from_url(redis_server.url) as client:
        if redis_server.external:
            client.flushdb()  # someone else's server: touch only our database
        else:
            client.flushall()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    # Closed explicitly: an unclosed pool socket is a ResourceWarning, an error here.
    with redis.Redis.from_url(redis_url) as client:
        yield client


# -- Dovecot -----------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    server = DovecotServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def no_trash() -> Iterator[DovecotServer]:
    """A Dovecot whose namespace has no Trash folder (servers differ; deleting must not expunge there)."""
    server = DovecotServer(special_use={k: v for k, v in SPECIAL_USE.items() if k != "Trash"})
    server.start()
    yield server
    server.close()


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> MailAccount:
    """A new user (``user-<n>@example.test``) on a Dovecot with no other mail or users."""
    dovecot.start()  # no-op unless a previous test stopped it
    dovecot.reset()
    return dovecot.new_account()


# -- SMTP --------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_sink: SmtpSink) -> SmtpSink:
    smtp_sink.start()
    smtp_sink.clear()
    return smtp_sink


# -- HTTP (webhook receiver) ---------------------------------------------------


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def http_receiver(http_server: HttpReceiver) -> HttpReceiver:
    http_server.start()
    http_server.clear()
    return http_server


# -- DNS -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dns(dns_server: DnsServer) -> DnsServer:
    dns_server.start()
    dns_server.reset()
    return dns_server
