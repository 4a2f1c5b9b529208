"""The command line as a new user meets it: `python app.py run` and `token …`.

`run` is what `make run` starts: embedded Redis (no BRIDGE_REDIS_URL), a first
admin token printed once, web + worker supervised, /health 200.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from simple_websocket import Client, ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(rb"^\s+(mb_[A-Za-z0-9_-]{40,})\s*$", re.M)
# An IMAP server where nothing listens (port 1): an account that is only there to be streamed.
_CLOSED_IMAP = {"host": "127.0.0.1", "port": 1, "auth": {"user": "a", "pass": "b"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback test URL
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(extra)
    return env


@pytest.fixture
def running_bridge(tmp_path, dns):
    port = _free_port()
    log = tmp_path / "run.log"
    env = _clean_env(
        BRIDGE_DATA_DIR=str(tmp_path / "data"),
        BRIDGE_PORT=str(port),
        BRIDGE_WEB_WORKERS="1",
        BRIDGE_DNS_SERVERS=f"{dns.address[0]}:{dns.address[1]}",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, str(ROOT / "app.py"), "run"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc, f"http://127.0.0.1:{port}", log, tmp_path / "data"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait(predicate, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def _wait_healthy(base: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            status, body = _request("GET", base + "/health")
            last = body
            if status == 200 and body["workers"]["count"] >= 1 and body["watchers"]["count"] >= 1:
                return body
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"not healthy in {timeout} s: {last}\n{log.read_text()}")


def test_run_starts_everything_on_an_embedded_redis(running_bridge, mailbox, smtp, dovecot):
    proc, base, log, data_dir = running_bridge
    health = _wait_healthy(base, proc, log)
    assert health["redis"]["ok"] is True
    assert health["watchers"]["count"] == 1

    found = TOKEN.search(log.read_bytes())
    assert found, log.read_text()
    token = found.group(1).decode()
    assert _request("GET", base + "/v1/accounts")[0] == 401
    assert _request("GET", base + "/v1/accounts", token) == (200, {"accounts": []})

    smtp.add_user(mailbox.address, mailbox.password)
    server = {"host": mailbox.host, "secure": False, "starttls": False}
    body = {
        "account": "support",
        "email": mailbox.address,
        "imap": {**server, "port": mailbox.imap_port, "auth": {"user": mailbox.address, "pass": mailbox.password}},
        "smtp": {
            **server,
            "host": smtp.host,
            "port": smtp.port,
            "auth": {"user": mailbox.address, "pass": mailbox.password},
        },
    }
    assert _request("POST", base + "/v1/accounts", token, body)[0] == 201

    # The watcher process picks the new account up (the mailbox routes go through it) and mail flows
    # through to the API.
    _wait(lambda: _request("GET", base + "/v1/account/support", token)[1]["state"]["state"] == "connected")
    status, boxes = _request("GET", base + "/v1/account/support/mailboxes", token)
    assert status == 200 and any(m["specialUse"] == "\\Sent" for m in boxes["mailboxes"])
    dovecot.deliver(mailbox.address, b"From: a@example.test\r\nSubject: through make run\r\n\r\nhi\r\n")
    listed = _wait(lambda: _request("GET", base + "/v1/account/support/messages", token)[1]["messages"])
    assert listed[0]["subject"] == "through make run"

    wrong = json.loads(json.dumps(body))
    wrong["account"] = "other"
    wrong["imap"]["auth"]["pass"] = "not-the-password"
    status, error = _request("POST", base + "/v1/accounts", token, wrong)
    assert (status, error["error"]["code"]) == (422, "authenticationFailed")

    # The data directory holds the embedded Redis' append-only file: no plaintext password in it.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    stored = b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())
    assert b"support" in stored
    assert mailbox.password.encode() not in stored


def test_second_start_keeps_data_and_prints_no_new_token(tmp_path, running_bridge):
    proc, base, log, data_dir = running_bridge
    _wait_healthy(base, proc, log)
    first = TOKEN.search(log.read_bytes()).group(1).decode()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0

    port = _free_port()
    again = tmp_path / "again.log"
    env = _clean_env(BRIDGE_DATA_DIR=str(data_dir), BRIDGE_PORT=str(port), BRIDGE_WEB_WORKERS="1")
    with again.open("wb") as out:
        second = subprocess.Popen(  # noqa: S603
            [sys.executable, str(ROOT / "app.py"), "run"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base2 = f"http://127.0.0.1:{port}"
        _wait_healthy(base2, second, again)
        assert not TOKEN.search(again.read_bytes())
        assert _request("GET", base2 + "/v1/accounts", first)[0] == 200
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0


def test_run_restarts_its_embedded_redis_with_the_data(running_bridge):
    proc, base, log, _ = running_bridge
    _wait_healthy(base, proc, log)
    token = TOKEN.search(log.read_bytes()).group(1).decode()
    [server] = [p for p in psutil.Process(proc.pid).children() if p.name() == "redis-server"]
    time.sleep(1.5)  # the token's write is fsynced to the append-only file within a second

    server.kill()  # as the OOM killer would
    killed = time.monotonic()
    psutil.wait_procs([server], timeout=10)
    health = _wait_healthy(base, proc, log)  # the same `run`: it did not stop
    print(f"\n/health answered 200 again {time.monotonic() - killed:.1f} s after redis-server was killed")
    assert health["redis"]["ok"] is True
    assert _request("GET", base + "/v1/accounts", token) == (200, {"accounts": []})
    assert "embedded redis-server exited" in log.read_text()
    [again] = [p for p in psutil.Process(proc.pid).children() if p.name() == "redis-server"]
    assert again.pid != server.pid


def test_token_commands(redis_url):
    env = _clean_env(BRIDGE_REDIS_URL=redis_url, BRIDGE_SECRET="cli-test-secret-0123456789")

    def cli(*args: str) -> str:
        done = subprocess.run(  # noqa: S603
            [sys.executable, str(ROOT / "app.py"), *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    token = cli("token", "create", "--description", "ci bot").strip()
    assert token.startswith("mb_")
    listing = cli("token", "list")
    assert "ci bot" in listing and token not in listing
    token_id = listing.split()[0]
    assert listing.split("\t")[3:5] == ["admin", "*"]  # no --scope: admin over every account, as before
    assert cli("token", "revoke", token_id).strip() == f"revoked {token_id}"
    assert cli("token", "list").strip() == ""
    scoped = cli("token", "create", "--scope", "read", "--scope", "send", "--account", "acme").strip()
    assert scoped.startswith("mb_")
    [line] = cli("token", "list").splitlines()
    assert line.split("\t")[3:5] == ["read,send", "acme"]
    bad = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "app.py"), "token", "create", "--scope", "root"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_bad_configuration_stops_with_the_variable_named(tmp_path):
    env = _clean_env(BRIDGE_PORT="99999", BRIDGE_DATA_DIR=str(tmp_path))
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "app.py"), "token", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "BRIDGE_PORT" in done.stderr


@pytest.fixture
def session_run(tmp_path):
    """A healthy `app.py run` in its own session, as a terminal runs it in its foreground process
    group; yields it, its log and its child processes."""
    port = _free_port()
    log = tmp_path / "session.log"
    env = _clean_env(BRIDGE_DATA_DIR=str(tmp_path / "data"), BRIDGE_PORT=str(port), BRIDGE_WEB_WORKERS="1")
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, str(ROOT / "app.py"), "run"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 5  # redis-server, web (gunicorn and its worker), worker, watcher
        yield proc, log, children, f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_ctrl_c_stops_every_process_cleanly(session_run):
    proc, log, children, base = session_run
    # A WebSocket client is connected when Ctrl-C comes: it must get a close frame, not a dropped connection.
    token = TOKEN.search(log.read_bytes()).group(1).decode()
    account = {"account": "a", "email": "a@example.test", "verify": False, "imap": _CLOSED_IMAP}
    assert _request("POST", base + "/v1/accounts", token, account)[0] == 201
    ws = Client.connect(base.replace("http://", "ws://") + f"/v1/account/a/stream?access_token={token}")

    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group gets it
    with pytest.raises(ConnectionClosed) as closed:
        while ws.receive(timeout=10) is not None:  # None: 10 s without a frame, and no close either
            pass
    assert (closed.value.reason, closed.value.message) == (1001, "server shutting down")
    assert proc.wait(10) == 0
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], alive
    # gunicorn's arbiter says "Worker (pid:…) was sent SIGKILL!" when a worker overstays graceful_timeout.
    # Redis outlived the roles (its own session, stopped last), so their shutdown had it.
    output = log.read_text()
    assert "SIGKILL" not in output and "Traceback" not in output, output


def test_a_killed_run_takes_its_processes_with_it(session_run):
    proc, _, children, _ = session_run
    proc.kill()
    killed = time.monotonic()
    proc.wait(10)
    assert psutil.wait_procs(children, timeout=20)[1] == []
    print(f"\n{len(children)} processes under `run`, all gone {time.monotonic() - killed:.1f} s after SIGKILL")
