"""The two products bench/inbound.py drives the same way: Mailbridge and the peer, imapapi 1.8.2.

Each one runs as its real processes and is set up through its own HTTP API,
as a user would: attach accounts over IMAPS, subscribe one webhook to
``messageNew``, wait until every account is connected, read the RSS of the
process that holds the IMAP connections.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench._inbound_env import ROOT, World
from tests.servers.dovecot import MailAccount

SECRET = "bench-secret-0123456789abcdef0123"
PEER_VERSION = "1.8.2"
PEER_IMAPFLOW = "1.0.67"  # imapapi 1.8.2 breaks with later imapflow releases (performance notes)


def _imaps(account: MailAccount) -> dict[str, Any]:
    return {
        "host": account.host,
        "port": account.imaps_port,
        "secure": True,
        "tls": {"rejectUnauthorized": False},
        "auth": {"user": account.address, "pass": account.password},
    }


def _cpu(pids: list[int]) -> float:
    """User + system CPU seconds of the processes and their children so far."""
    total = 0.0
    for pid in pids:
        process = psutil.Process(pid)
        for p in (process, *process.children(recursive=True)):
            times = p.cpu_times()
            total += times.user + times.system
    return total


def _rss(pid: int) -> int:
    process = psutil.Process(pid)
    return int(process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True)))


class Mailbridge:
    """``python app.py watch`` + ``python app.py worker`` as child processes; the API in-process (create_app)."""

    name = "Mailbridge"

    def __init__(self, world: World, log_dir: Path) -> None:
        self.world = world
        self.log_dir = log_dir
        self.redis_url = world.redis.url.rsplit("/", 1)[0] + "/0"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.secret: str | None = None
        self._api: Any = None
        self._headers: dict[str, str] = {}

    def start(self) -> None:
        from app import create_app
        from bridge.config import Secret, Settings
        from bridge.crypto import Vault
        from bridge.storage import Storage, connect

        client = connect(self.redis_url)
        client.flushdb()
        _, token = Storage(client, Vault(SECRET)).tokens.create("bench")
        client.close()
        host, port = self.world.dns.address
        settings = Settings(
            secret=Secret(SECRET),
            redis_url=self.redis_url,
            dns_servers=((host, port),),
            data_dir=self.log_dir,
        )
        self._api = create_app(settings).test_client()
        self._headers = {"Authorization": f"Bearer {token}"}
        env = dict(
            os.environ,
            BRIDGE_REDIS_URL=self.redis_url,
            BRIDGE_SECRET=SECRET,
            BRIDGE_DNS_SERVERS=f"{host}:{port}",
            BRIDGE_DATA_DIR=str(self.log_dir),
            BRIDGE_LOG_LEVEL="INFO",  # reconnects and dropped pushes show in the log
        )
        env.pop("BRIDGE_ENV", None)
        for role in ("watch", "worker"):
            log = open(self.log_dir / f"mailbridge-{role}.log", "ab")  # noqa: SIM115 - closed with the process
            self.procs[role] = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py"), role], env=env, cwd=str(ROOT), stdout=log, stderr=log
            )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._api.open(path, method=method, json=body, headers=self._headers)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response.get_json()

    def attach(self, account: MailAccount, account_id: str) -> None:
        body = {"account": account_id, "email": account.address, "imap": _imaps(account)}
        self._call("POST", "/v1/accounts", body)

    def subscribe(self, url: str) -> None:
        self.secret = self._call("POST", "/v1/webhooks", {"url": url, "events": ["messageNew"]})["secret"]

    def connected(self) -> int:
        accounts = self._call("GET", "/v1/accounts")["accounts"]
        return sum(1 for a in accounts if a["state"]["state"] == "connected")

    @property
    def watcher_pid(self) -> int:
        return self.procs["watch"].pid

    def rss(self) -> int:
        return _rss(self.watcher_pid)

    def cpu(self) -> float:
        return _cpu([p.pid for p in self.procs.values()])

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs.values())

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()


class Imapapi:
    """imapapi 1.8.2 from npm, installed into a temp dir for this run and deleted afterwards."""

    name = f"imapapi {PEER_VERSION}"

    def __init__(self, world: World, log_dir: Path) -> None:
        self.world = world
        self.log_dir = log_dir
        self.dir = Path(tempfile.mkdtemp(prefix="mb-bench-imapapi-"))
        self.redis_url = world.redis.url.rsplit("/", 1)[0] + "/1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.http = httpx.Client(timeout=60)

    def install(self) -> str | None:
        """npm install into the temp dir; returns why it failed, or None."""
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            return "node/npm not found"
        package = {"name": "mailbridge-bench-peer", "private": True, "overrides": {"imapflow": PEER_IMAPFLOW}}
        (self.dir / "package.json").write_text(json.dumps(package))
        try:
            result = subprocess.run(
                [npm, "install", f"imapapi@{PEER_VERSION}", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=self.dir,
                capture_output=True,
                timeout=300,
            )
        except subprocess.TimeoutExpired:
            return "npm install timed out after 300 s"
        if result.returncode != 0:
            return f"npm install failed: {result.stderr.decode(errors='replace')[-500:]}"
        return None

    def start(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        client.flushdb()
        client.close()
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        entry = self.dir / "node_modules" / "imapapi" / "bin" / "imapapi.js"
        log = open(self.log_dir / "imapapi.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                "node",
                str(entry),
                f"--dbs.redis={self.redis_url}",
                f"--api.port={self.port}",
                "--api.host=127.0.0.1",
                "--log.level=info",  # the default, trace, logs every IMAP line
            ],
            cwd=self.dir / "node_modules" / "imapapi",
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.http.get(f"http://127.0.0.1:{self.port}/v1/settings", timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError(f"imapapi did not start; see {self.log_dir / 'imapapi.log'}")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"http://127.0.0.1:{self.port}{path}", json=body)
        if response.status_code >= 300:
            raise RuntimeError(f"imapapi {method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def attach(self, account: MailAccount, account_id: str) -> None:
        # notifyFrom defaults to "now" and imapapi compares it with the Date header, which the
        # bench wrote when it signed the messages (before attaching): every message would be "old".
        body = {
            "account": account_id,
            "name": account_id,
            "path": "INBOX",
            "notifyFrom": "2000-01-01T00:00:00.000Z",
            "imap": _imaps(account),
            "smtp": False,
        }
        self._call("POST", "/v1/account", body)

    def subscribe(self, url: str) -> None:
        self._call("POST", "/v1/settings", {"webhooks": url, "webhookEvents": ["messageNew"]})

    def connected(self) -> int:
        return int(self._call("GET", "/v1/accounts?state=connected&pageSize=1000")["total"])

    def rss(self) -> int:
        assert self.proc is not None
        return _rss(self.proc.pid)

    def cpu(self) -> float:
        assert self.proc is not None
        return _cpu([self.proc.pid])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.http.close()
        shutil.rmtree(self.dir, ignore_errors=True)
