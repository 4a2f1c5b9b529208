"""Scheduled work survives Redis going away: a real worker (`python app.py worker`) against a real Redis
that the test stops and starts again on the same port, with its data on disk (append-only file).

Before the fix RQ's scheduler ran as a forked child whose loop ended on the first Redis error; the
worker restarted it only in its maintenance run, so a send scheduled after a 3 s outage went out
about a minute late.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from bridge import outbound
from bridge.config import Secret
from bridge.crypto import Vault
from bridge.models import Account, ServerConfig
from bridge.schemas.submit import SubmitBody
from bridge.storage import Storage, connect
from tests.servers.redis import RedisServer

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
    """`python app.py worker` in its own process group; yields its log file."""
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(BRIDGE_REDIS_URL=durable_url, BRIDGE_SECRET=SECRET)
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, str(ROOT / "app.py"), "worker"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield log
    finally:
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


def test_a_scheduled_send_goes_out_on_time_after_a_redis_outage(durable_redis, durable_url, worker, smtp):
    with connect(durable_url) as client:
        storage = Storage(client, Vault(SECRET))
        smtp.add_user("acme@example.test", "pw")
        server = ServerConfig(host=smtp.host, port=smtp.port, user="acme@example.test", password=Secret("pw"))
        storage.accounts.create(Account(id="acme", email="acme@example.test", name="Acme", imap=server, smtp=server))
        # The scheduler has the lock of the send queue: it is up.
        _wait(lambda: client.exists("rq:scheduler-lock:send"), 30, f"the scheduler\n{worker.read_text()}")

        send_at = datetime.now(UTC) + timedelta(seconds=OUTAGE_S + 4)
        body = {"to": [{"address": "ann@example.com"}], "subject": "on time", "text": "hi", "copy": False}
        outbound.submit(storage, "acme", SubmitBody.model_validate({**body, "sendAt": send_at.isoformat()}))

    time.sleep(0.5)
    durable_redis.kill()  # every write is already on disk (appendfsync always)
    time.sleep(OUTAGE_S)
    durable_redis.start()
    back = time.time()

    remaining = send_at.timestamp() - time.time()
    try:
        [message] = smtp.wait_for(1, timeout=remaining + LATE_S)
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"not sent within {LATE_S} s of sendAt\n{worker.read_text()}") from exc
    lag = message.received_at - send_at.timestamp()
    ahead = send_at.timestamp() - back
    print(f"\nRedis down {OUTAGE_S:.0f} s, back {ahead:.1f} s before sendAt: sent {lag:.2f} s after sendAt")
    assert lag >= 0
    assert "Redis is back" in worker.read_text()
