"""App-level fixtures: a real app on the real test Redis, a token, account bodies."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from werkzeug.serving import make_server

from app import create_app
from bridge.config import Secret, Settings
from bridge.imap.runner import LeaseTiming, WatcherService
from bridge.imap.watcher import WatchTiming
from bridge.inbound.pipeline import InboundPipeline
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage

TEST_SECRET = "test-secret-do-not-use-0123456789"


@pytest.fixture
def settings(redis_url, tmp_path) -> Settings:
    return Settings(secret=Secret(TEST_SECRET), redis_url=redis_url, data_dir=tmp_path)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def storage(app) -> Storage:
    return app.extensions["bridge"].storage


@pytest.fixture
def token(storage) -> str:
    return storage.tokens.create("tests")[1]


@pytest.fixture
def auth(token) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def account_body(mailbox, smtp):
    """A valid POST /v1/accounts body for a fresh Dovecot user, whose SMTP login the sink accepts."""
    smtp.add_user(mailbox.address, mailbox.password)

    def build(account: str = "acme", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "account": account,
            "name": "Acme Support",
            "email": mailbox.address,
            "imap": {
                "host": mailbox.host,
                "port": mailbox.imap_port,
                "secure": False,
                "starttls": False,
                "auth": {"user": mailbox.address, "pass": mailbox.password},
            },
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "secure": False,
                "starttls": False,
                "auth": {"user": mailbox.address, "pass": mailbox.password},
            },
        }
        body.update(overrides)
        return body

    return build


class WatcherThread:
    """A real watcher process's service (lease, IDLE watch, inbound pipeline, mailbox commands) on its own
    event loop in a thread: what ``app.py watch`` runs, for the accounts in this test's Redis."""

    def __init__(
        self, storage, account_id: str, dns_address, *, command_connections: int = 1, connect=None, timing=None
    ) -> None:
        self.storage = storage
        self.account = storage.accounts.get(account_id)
        self.executor = ThreadPoolExecutor(4)
        pipeline = InboundPipeline(storage, DnsResolver([dns_address], timeout=1.0), self.executor)
        timing = timing or WatchTiming(poll_interval_s=0.3, retry_base_s=0.05, retry_cap_s=0.3)
        extra = {"connect": connect} if connect is not None else {}
        self.service = WatcherService(
            storage,
            pipeline,
            leases=LeaseTiming(tick_s=0.2),
            timing=timing,
            command_connections=command_connections,
            **extra,
        )
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None

    async def _main(self) -> None:
        self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
        task = asyncio.create_task(self.service.run())
        await self.stopping.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def start(self) -> WatcherThread:
        self.thread.start()
        deadline = time.monotonic() + 5
        while self.storage.accounts.get_state(self.account.id).state.value != "connected":
            assert time.monotonic() < deadline, "watcher did not connect"
            time.sleep(0.02)
        time.sleep(0.1)  # into IDLE
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)
        self.executor.shutdown()

    def wait_events(self, n: int, name: str = "messageNew", timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.storage.events.since(self.account.id, 0, count=10_000) if e.event == name]
            if len(found) >= n:
                return found
            assert time.monotonic() < deadline, f"{len(found)} of {n} {name} events"
            time.sleep(0.05)


@pytest.fixture
def attached(client, auth, account_body, storage, dns):
    """An account attached through the API, watched by a real watcher; yields the WatcherThread."""
    assert client.post("/v1/accounts", json=account_body(), headers=auth).status_code == 201
    watcher = WatcherThread(storage, "acme", dns.address).start()
    yield watcher
    watcher.stop()


@pytest.fixture
def server(app):
    """The app on a real threaded HTTP server (werkzeug) on a free port: ``"127.0.0.1:<port>"``."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


@pytest.fixture
def account(client, auth, account_body):
    """Account ``acme`` attached through the API without the connection check (no watcher)."""
    assert client.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    return "acme"
