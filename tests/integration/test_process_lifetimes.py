"""No process outlives its role: each role's main process is SIGKILLed (as by the OOM killer) while it
has children, and every process it started must be gone within seconds.

Processes are found by a marker in their environment, which every descendant inherits, so a child
reparented to init after its parent died is still found. Before the fix RQ's scheduler (a forked
child of the worker) and the watcher's analysis workers with multiprocessing's resource tracker
lived on, and the web role's gunicorn workers took 6-8 s ("Parent changed, shutting down", then
graceful_timeout for their requests) and 20 s or more while still booting on a loaded machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
import redis
from rq.job import JobStatus
from simple_websocket import Client as WsClient
from simple_websocket import ConnectionClosed

from bridge import jobs
from bridge.config import Secret
from bridge.crypto import Vault
from bridge.models import Account, ServerConfig, TokenScope
from bridge.storage import Storage, connect
from tests.servers.process import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-do-not-use-0123456789"
MARK = "MB_TEST_PROCESS_MARK"
GONE_WITHIN_S = 15.0
WEB_GONE_WITHIN_S = 4.0  # gunicorn's own way takes 6 s at least: a 1 s tick plus graceful_timeout (5 s)


def _marked(mark: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``mark`` (zombies count as gone)."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get(MARK) == mark:
                found.append(proc)
    return found


def _describe(procs: list[psutil.Process]) -> str:
    lines = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            lines.append(f"{proc.pid}: {' '.join(proc.cmdline())[:160]}")
    return "\n".join(lines)


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Role:
    """``python app.py <role>`` in its own process group, every process of it marked."""

    def __init__(self, role: str, log: Path, **env: str) -> None:
        self.role = role
        self.mark = uuid.uuid4().hex
        environ = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
        environ.update(env, **{MARK: self.mark})
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own entry point
                [sys.executable, str(ROOT / "app.py"), role],
                cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def processes(self) -> list[psutil.Process]:
        return _marked(self.mark)

    def kill_main_and_expect_no_survivors(self, within_s: float = GONE_WITHIN_S) -> None:
        before = self.processes()
        self.proc.kill()
        killed = time.monotonic()
        self.proc.wait(10)
        try:
            _wait_for(lambda: not self.processes(), within_s, "the role's processes to end")
            print(
                f"\n{len(before)} process(es) of `{self.role}`, all gone {time.monotonic() - killed:.1f} s after SIGKILL"
            )
        except AssertionError:
            raise AssertionError(
                f"left behind after SIGKILL of the main process:\n{_describe(self.processes())}\n"
                f"(there were:\n{_describe(before)})\n{self.log.read_text()}"
            ) from None

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers keep the group
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


@pytest.fixture
def roles():
    started: list[Role] = []

    def start(role: str, log: Path, **env: str) -> Role:
        started.append(Role(role, log, **env))
        return started[-1]

    yield start
    for role in started:
        role.close()


def test_a_killed_worker_leaves_no_scheduler_behind(roles, redis_url, tmp_path):
    worker = roles("worker", tmp_path / "worker.log", BRIDGE_REDIS_URL=redis_url, BRIDGE_SECRET=SECRET)
    with redis.Redis.from_url(redis_url) as client:
        _wait_for(lambda: client.exists("rq:scheduler-lock:send"), 30, "the scheduler to take its locks")
    worker.kill_main_and_expect_no_survivors()


def _is_analysis_worker(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "multiprocessing.spawn" in " ".join(proc.cmdline())
    return False


def test_a_watcher_killed_in_a_burst_leaves_no_analysis_workers_behind(
    roles, redis_url, mailbox, dovecot, dns, tmp_path
):
    for n in range(40):
        dovecot.deliver(mailbox.address, f"From: a@example.test\r\nSubject: burst {n}\r\n\r\nbody {n}\r\n".encode())
    imap = ServerConfig(
        host=mailbox.host,
        port=mailbox.imap_port,
        user=mailbox.address,
        password=Secret(mailbox.password),
        starttls=False,
    )
    with connect(redis_url) as client:
        # backfill: the 40 messages already there come in as one batch, big enough for the workers.
        Storage(client, Vault(SECRET)).accounts.create(
            Account(id="acme", email=mailbox.address, imap=imap, backfill=40)
        )
    watcher = roles(
        "watch",
        tmp_path / "watch.log",
        BRIDGE_REDIS_URL=redis_url,
        BRIDGE_SECRET=SECRET,
        BRIDGE_ANALYSIS_PROCESSES="2",
        BRIDGE_DNS_SERVERS=f"{dns.address[0]}:{dns.address[1]}",
    )
    try:
        _wait_for(lambda: sum(map(_is_analysis_worker, watcher.processes())) == 2, 60, "the analysis workers to start")
    except AssertionError:
        raise AssertionError(watcher.log.read_text()) from None
    assert any("resource_tracker" in " ".join(p.cmdline()) for p in watcher.processes())
    watcher.kill_main_and_expect_no_survivors()


def test_a_killed_web_arbiter_leaves_no_gunicorn_workers_behind(roles, redis_url, tmp_path):
    port = free_port()
    web = roles(
        "web", tmp_path / "web.log", BRIDGE_REDIS_URL=redis_url, BRIDGE_SECRET=SECRET,
        BRIDGE_PORT=str(port), BRIDGE_WEB_WORKERS="2", BRIDGE_WEB_THREADS="4",
    )  # fmt: skip

    def booted() -> bool:
        # Both workers forked and one of them answering: the arbiter has finished starting them.
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:  # noqa: S310
                return response.status == 200 and len(web.processes()) >= 3
        return False

    try:
        _wait_for(booted, 60, "the web role to answer with its two workers")
    except AssertionError:
        raise AssertionError(web.log.read_text()) from None
    web.kill_main_and_expect_no_survivors(within_s=WEB_GONE_WITHIN_S)


# --- SIGTERM: what a service manager sends each role to stop it -------------------------------

STOPPED_WITHIN_S = 10.0


def _ready(role: Role, redis_url: str, port: int) -> None:
    storage = Storage(connect(redis_url), Vault(SECRET))
    checks = {
        "web": lambda: _answers(f"http://127.0.0.1:{port}/health") and len(role.processes()) >= 2,
        "worker": lambda: storage.redis.exists("rq:scheduler-lock:send"),
        "watch": lambda: storage.processes.live("watcher", 20.0),
    }
    try:
        _wait_for(checks[role.role], 60, f"`{role.role}` to be up")
    except AssertionError:
        raise AssertionError(role.log.read_text()) from None


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback test URL
            return response.status == 200
    return False


@pytest.mark.parametrize("name", ["web", "worker", "watch"])
def test_sigterm_stops_each_role_cleanly(roles, redis_url, tmp_path, name):
    port = free_port()
    role = roles(
        name, tmp_path / f"{name}.log", BRIDGE_REDIS_URL=redis_url, BRIDGE_SECRET=SECRET,
        BRIDGE_PORT=str(port), BRIDGE_WEB_WORKERS="2", BRIDGE_WEB_THREADS="8",
    )  # fmt: skip
    _ready(role, redis_url, port)
    ws = None
    if name == "web":
        # A WebSocket client is connected: it must get a close frame, and must not hold the worker up.
        storage = Storage(connect(redis_url), Vault(SECRET))
        imap = ServerConfig(host="127.0.0.1", port=1, user="a", password=Secret("b"))
        storage.accounts.create(Account(id="a", email="a@example.test", imap=imap))
        _, token = storage.tokens.create("stream", [TokenScope.READ])
        ws = WsClient.connect(f"ws://127.0.0.1:{port}/v1/account/a/stream?access_token={token}")
    before = role.processes()
    role.proc.send_signal(signal.SIGTERM)
    if ws is not None:
        with pytest.raises(ConnectionClosed) as closed:
            while ws.receive(timeout=STOPPED_WITHIN_S) is not None:  # None: no frame and no close in time
                pass
        assert closed.value.reason == 1001
    assert role.proc.wait(STOPPED_WITHIN_S) == 0
    _, alive = psutil.wait_procs(before, timeout=STOPPED_WITHIN_S)
    assert alive == [], _describe(alive)
    output = role.log.read_text()
    assert "SIGKILL" not in output and "Traceback" not in output, output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_worker_stops_without_waiting_out_a_job_in_flight(roles, redis_url, tmp_path, signum):
    """RQ's warm shutdown waited for the job however long it ran (a webhook attempt up to 30 s); `app.py run`
    SIGKILLs a role after 10 s. The job is interrupted after the grace and fails as a killed worker's would."""
    role = roles("worker", tmp_path / "worker.log", BRIDGE_REDIS_URL=redis_url, BRIDGE_SECRET=SECRET)
    _ready(role, redis_url, free_port())
    with redis.Redis.from_url(redis_url) as client:
        job = jobs.queue("default", client).enqueue("time.sleep", 600, job_timeout=900)
        _wait_for(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 30, "the job to start")
        role.proc.send_signal(signum)
        assert role.proc.wait(STOPPED_WITHIN_S) == 0  # not the 600 s the job would take
        assert job.get_status(refresh=True) == JobStatus.FAILED
        assert "WorkerStopping" in (job.latest_result().exc_string or "")
    output = role.log.read_text()
    assert "interrupted" in output and "Traceback" not in output, output
