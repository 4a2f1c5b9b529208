"""The worker survives Redis going away: a real worker (`python app.py worker`) against a real Redis
that the test kills and starts again on the same port, with its data on disk (append-only file).

Before the fix RQ's scheduler ran as a forked child whose loop ended on the first Redis error; the
worker restarted it only in its maintenance run, so a send scheduled after a 3 s outage went out
about a minute late. And an outage that caught a job running ended the worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from bridge.config import Secret
from bridge.crypto import Vault
from bridge.models import Account, ServerConfig
from bridge.outbound import submit as outbound
from bridge.schemas.submit import SubmitBody
from bridge.storage import Storage, connect
from tests.servers.redis import RedisServer
from tests.servers.smtp import SmtpSink

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-do-not-use-0123456789"
OUTAGE_S = 3.0
# The old scheduler came back with the worker's maintenance, 50-60 s later; the new one within ~2 s.
LATE_S = 15.0


@pytest.fixture(scope="module")
def durable_redis():
    server = RedisServer(appendonly=True)
    server.start()
    yield server
    server.close()


@pytest.fixture
def durable_url(durable_redis):
    durable_redis.start()  # no-op unless a previous test left it stopped
    with redis.Redis.from_url(durable_redis.url) as client:
        client.flushall()
    return durable_redis.url


@pytest.fixture
def worker(durable_url, tmp_path):
    """`python app.py worker` in its own process group; yields it and its log file."""
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(BRIDGE_REDIS_URL=durable_url, BRIDGE_SECRET=SECRET)
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, str(ROOT / "app.py"), "worker"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield proc, log
    finally:
        with contextlib.suppress(ProcessLookupError):  # a worker that died on its own
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _attach(storage: Storage, sink: SmtpSink) -> None:
    sink.add_user("acme@example.test", "pw")
    server = ServerConfig(host=sink.host, port=sink.port, user="acme@example.test", password=Secret("pw"))
    storage.accounts.create(Account(id="acme", email="acme@example.test", name="Acme", imap=server, smtp=server))


def _submit(storage: Storage, subject: str, send_at: datetime | None = None) -> None:
    body = {"to": [{"address": "ann@example.com"}], "subject": subject, "text": "hi", "copy": False}
    if send_at is not None:
        body["sendAt"] = send_at.isoformat()
    outbound.submit(storage, "acme", SubmitBody.model_validate(body))


def _wait_for_scheduler(client: redis.Redis, log: Path) -> None:
    # The scheduler holds the lock of the send queue: it is up.
    _wait(lambda: client.exists("rq:scheduler-lock:send"), 30, f"the scheduler\n{log.read_text()}")


def test_a_scheduled_send_goes_out_on_time_after_a_redis_outage(durable_redis, durable_url, worker, smtp):
    _, log = worker
    with connect(durable_url) as client:
        storage = Storage(client, Vault(SECRET))
        _attach(storage, smtp)
        _wait_for_scheduler(client, log)
        send_at = datetime.now(UTC) + timedelta(seconds=OUTAGE_S + 4)
        _submit(storage, "on time", send_at)

    time.sleep(0.5)
    durable_redis.kill()  # every write is already on disk (appendfsync always)
    time.sleep(OUTAGE_S)
    durable_redis.start()
    back = time.time()

    remaining = send_at.timestamp() - time.time()
    try:
        [message] = smtp.wait_for(1, timeout=remaining + LATE_S)
    except TimeoutError as exc:
        raise AssertionError(f"not sent within {LATE_S} s of sendAt\n{log.read_text()}") from exc
    lag = message.received_at - send_at.timestamp()
    ahead = send_at.timestamp() - back
    print(f"\nRedis down {OUTAGE_S:.0f} s, back {ahead:.1f} s before sendAt: sent {lag:.2f} s after sendAt")
    assert lag >= 0
    assert "Redis is back" in log.read_text()


class StallingSink(SmtpSink):
    """The SMTP sink, holding the first message's DATA for a while, so Redis can fail under a running job."""

    def __init__(self, stall_s: float) -> None:
        super().__init__()
        self.stall_s = stall_s
        self.stalled = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if not self.stalled.is_set():
            self.stalled.set()
            await asyncio.sleep(self.stall_s)
        return await super().handle_DATA(server, session, envelope)


def test_the_worker_outlives_a_redis_outage_that_catches_a_job_running(durable_redis, durable_url, worker):
    proc, log = worker
    sink = StallingSink(stall_s=2.0)
    sink.start()
    try:
        with connect(durable_url) as client:
            storage = Storage(client, Vault(SECRET))
            _attach(storage, sink)
            _wait_for_scheduler(client, log)
            _submit(storage, "caught by the outage")
            assert sink.stalled.wait(30), log.read_text()
        durable_redis.kill()  # the send job ends (and RQ records it) while Redis is away
        time.sleep(OUTAGE_S)
        durable_redis.start()

        with connect(durable_url) as client:
            # Scheduled: a message sent now would join the first one's drain job, whose lease the sweep
            # takes over only after a minute (bridge/outbound/submit.py).
            _submit(Storage(client, Vault(SECRET)), "after the outage", datetime.now(UTC) + timedelta(seconds=2))
        try:
            _wait(lambda: any(b"after the outage" in m.raw for m in sink.messages), 30, "the next send")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; worker exit code {proc.poll()}\n{log.read_text()}") from None
        assert proc.poll() is None
    finally:
        sink.stop()
