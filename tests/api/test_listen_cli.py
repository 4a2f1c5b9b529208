"""``python app.py listen``: a real server, the CLI as a child process, a real local HTTP handler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mailbridge
import pytest

from bridge.events.emit import emit
from bridge.models import TokenScope
from bridge.webhooks.signing import generate_secret
from tests.api.conftest import TEST_SECRET
from tests.servers.web import Gunicorn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(server, storage, tmp_path):
    """``cli(*args)`` starts ``app.py listen`` with a read-only token; stopped at the end."""
    started = []
    token = storage.tokens.create("listener", [TokenScope.READ], ["acme"])[1]

    def start(*args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "MAILBRIDGE_TOKEN": token, "BRIDGE_SECRET": TEST_SECRET, "BRIDGE_DATA_DIR": str(tmp_path)}
        env.pop("BRIDGE_REDIS_URL", None)  # the CLI needs only the API
        url = f"http://{server}"
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "app.py", "listen", "--account", "acme", "--url", url, "--since", "evt_0", *args],
            cwd=ROOT,
            env=env,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)


def test_forward_posts_each_event_signed_like_a_webhook(cli, storage, account, http_receiver):
    secret = generate_secret()
    sent = [emit(storage, "acme", "messageNew", {"n": n}) for n in range(3)]
    cli("--forward", http_receiver.url + "/hook", "--secret", secret)
    sent.append(emit(storage, "acme", "messageSent", {"n": 3}))
    received = http_receiver.wait_for(4, timeout=30)
    assert [r.path for r in received] == ["/hook"] * 4
    events = [mailbridge.verify_webhook(secret, r.body, r.headers) for r in received]
    assert events == [e.to_dict() for e in sent]
    assert [r.headers["webhook-id"] for r in received] == [e.id for e in sent]


def test_forward_retries_a_handler_that_is_down_and_then_delivers(cli, storage, account, http_receiver):
    secret = generate_secret()
    http_receiver.respond(503, times=2)
    sent = emit(storage, "acme", "messageNew", {"n": 1})
    cli("--forward", http_receiver.url, "--secret", secret)
    received = http_receiver.wait_for(3, timeout=30)
    assert [r.status for r in received] == [503, 503, 200]
    assert mailbridge.verify_webhook(secret, received[-1].body, received[-1].headers) == sent.to_dict()


def test_exec_pipes_each_event_to_the_command(cli, storage, account, tmp_path):
    out = tmp_path / "events.jsonl"
    script = f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read() + '\\n')"
    sent = [emit(storage, "acme", "messageNew", {"n": n}) for n in range(3)]
    cli("--exec", f"{sys.executable} -c {json.dumps(script)}")
    deadline = time.monotonic() + 30
    while not out.exists() or len(out.read_text().splitlines()) < 3:
        assert time.monotonic() < deadline, "the command did not get every event"
        time.sleep(0.05)
    assert [json.loads(line) for line in out.read_text().splitlines()] == [e.to_dict() for e in sent]


def test_forwarding_resumes_after_a_server_restart_with_nothing_lost_or_repeated(
    redis_url, storage, account, http_receiver, tmp_path
):
    web = Gunicorn(redis_url, TEST_SECRET)
    web.start()
    token = storage.tokens.create("listener", [TokenScope.READ])[1]
    env = {**os.environ, "MAILBRIDGE_TOKEN": token, "BRIDGE_SECRET": TEST_SECRET, "BRIDGE_DATA_DIR": str(tmp_path)}
    secret = generate_secret()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "app.py", "listen", "--account", "acme", "--url", web.url, "--since", "evt_0",
         "--forward", http_receiver.url, "--secret", secret],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        sent = [emit(storage, "acme", "messageNew", {"n": n}).id for n in range(3)]
        http_receiver.wait_for(3, timeout=30)
        web.stop()
        sent += [emit(storage, "acme", "messageNew", {"n": n}).id for n in range(3, 6)]
        web.start()
        sent += [emit(storage, "acme", "messageNew", {"n": n}).id for n in range(6, 9)]
        received = http_receiver.wait_for(9, timeout=60)
        assert [mailbridge.verify_webhook(secret, r.body, r.headers)["id"] for r in received] == sent
    finally:
        proc.terminate()
        proc.wait(10)
        web.stop()
