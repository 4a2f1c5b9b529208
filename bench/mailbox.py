"""Benchmark: the live mailbox API (list, search, get, concurrent listing), Mailbridge and imapapi 1.8.2 side by side.

Usage: .venv/bin/python bench/mailbox.py [--messages 10000] [--samples 200] [--seconds 10] [--no-peer]

Everything runs on 127.0.0.1 and is started and stopped here: redis-server, Dovecot (the
products connect over IMAPS), a DNS server. One Dovecot user gets a folder of ``--messages``
messages (APPENDed before either product attaches; 1-4 KB each, one of 50 KB), then:

- Mailbridge: gunicorn with the repo's gunicorn.conf.py (the web role) and ``app.py watch``
  (the watcher holding the account's lease, which runs the commands on its command connection);
  the account is attached through the API over IMAPS.
- imapapi 1.8.2 (npm, into a temp dir, deleted afterwards), attached through its API.

Measured per product, over HTTP with one keep-alive client (after 20 warm-up requests):
list the 50 newest (p50, p90), search by a subject word matching 10 messages (p50), get the
50 KB message (p50); then 8 clients listing the 50 newest as fast as they can for ``--seconds``
(requests/s). Not a test: numbers depend on the machine; BENCHMARKS.md records them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._inbound_env import World  # noqa: E402
from bench._inbound_products import SECRET, Imapapi, _imaps  # noqa: E402
from tests.servers.dovecot import MailAccount  # noqa: E402

RARE = "zebra"
BIG_SUBJECT = "fifty kilobytes"
WORDS = ("invoice", "meeting", "report", "update", "question", "offer", "welcome", "reminder", "order", "news")


def message(n: int, size: int) -> bytes:
    subject = f"{WORDS[n % len(WORDS)]} {n}" + (f" {RARE}" if n % 1000 == 7 else "")
    if size >= 50_000:
        subject = BIG_SUBJECT
    line = f"Line {n} of a message that says something, like mail does. " * 2
    body = (line + "\r\n") * max(1, size // (len(line) + 2))
    return (
        f"From: Sender {n % 50} <sender{n % 50}@example.com>\r\nTo: bench@example.test\r\n"
        f"Subject: {subject}\r\nMessage-ID: <bench{n}@example.com>\r\n"
        f"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def fill(account: MailAccount, total: int, connections: int = 4) -> None:
    import aioimaplib

    big = total // 2

    async def one(share: range) -> None:
        c = aioimaplib.IMAP4(account.host, account.imap_port, timeout=60)
        await c.wait_hello_from_server()
        await c.login(account.address, account.password)
        for n in share:
            size = 50_000 if n == big else 1000 + (n * 37) % 3000
            await c.append(message(n, size), mailbox="INBOX")
        await c.logout()

    async def main() -> None:
        step = (total + connections - 1) // connections
        await asyncio.gather(*(one(range(i, min(total, i + step))) for i in range(0, total, step)))

    asyncio.run(main())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailbridgeHttp:
    name = "Mailbridge"

    def __init__(self, world: World, log_dir: Path) -> None:
        self.world, self.log_dir = world, log_dir
        self.redis_url = world.redis.url.rsplit("/", 1)[0] + "/0"
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.base = f"http://127.0.0.1:{self.port}/v1/account/bench"
        self.headers: dict[str, str] = {}

    def start(self, account: MailAccount) -> None:
        from bridge.crypto import Vault
        from bridge.storage import Storage, connect

        client = connect(self.redis_url)
        client.flushdb()
        _, token = Storage(client, Vault(SECRET)).tokens.create("bench")
        self.headers = {"Authorization": f"Bearer {token}"}
        env = dict(os.environ, BRIDGE_REDIS_URL=self.redis_url, BRIDGE_SECRET=SECRET, BRIDGE_PORT=str(self.port),
                   BRIDGE_DATA_DIR=str(self.log_dir), BRIDGE_LOG_LEVEL="WARNING")  # fmt: skip
        env.pop("BRIDGE_ENV", None)
        for name, command in (("web", [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]),
                              ("watch", [sys.executable, str(ROOT / "app.py"), "watch"])):  # fmt: skip
            log = open(self.log_dir / f"mailbridge-{name}.log", "ab")  # noqa: SIM115 - closed with the process
            self.procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log))
        http = httpx.Client(timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                http.get(f"http://127.0.0.1:{self.port}/health")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        body = {"account": "bench", "email": account.address, "imap": _imaps(account)}
        created = http.post(f"http://127.0.0.1:{self.port}/v1/accounts", json=body, headers=self.headers)
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 120
        while http.get(f"{self.base}/messages?pageSize=1", headers=self.headers).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the account did not come up")
            time.sleep(0.2)
        http.close()

    def list_path(self) -> str:
        return f"{self.base}/messages?path=INBOX&pageSize=50"

    def search(self, client: httpx.Client, subject: str) -> httpx.Response:
        return client.post(f"{self.base}/search?path=INBOX&pageSize=20", json={"search": {"subject": subject}},
                           headers=self.headers)  # fmt: skip

    def message_path(self, message_id: str) -> str:
        return f"{self.base}/message/{message_id}"

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


class ImapapiHttp:
    name = "imapapi 1.8.2"

    def __init__(self, world: World, log_dir: Path) -> None:
        self.peer = Imapapi(world, log_dir)
        self.headers: dict[str, str] = {}
        self.base = ""

    def install(self) -> str | None:
        return self.peer.install()

    def start(self, account: MailAccount) -> None:
        self.peer.start()
        self.base = f"http://127.0.0.1:{self.peer.port}/v1/account/bench"
        body = {"account": "bench", "name": "bench", "path": "INBOX", "imap": _imaps(account), "smtp": False}
        self.peer._call("POST", "/v1/account", body)
        deadline = time.monotonic() + 300
        while self.peer.connected() < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("imapapi did not connect")
            time.sleep(0.5)

    def list_path(self) -> str:
        return f"{self.base}/messages?path=INBOX&pageSize=50"

    def search(self, client: httpx.Client, subject: str) -> httpx.Response:
        return client.post(f"{self.base}/search?path=INBOX&pageSize=20", json={"search": {"subject": subject}})

    def message_path(self, message_id: str) -> str:
        return f"{self.base}/message/{message_id}"

    def stop(self) -> None:
        self.peer.close()


def timed(samples: int, call: Callable[[], httpx.Response]) -> list[float]:
    for _ in range(20):
        assert call().status_code == 200
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        response = call()
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:300]
    return out


def concurrent(url: str, headers: dict[str, str], clients: int, seconds: float) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with httpx.Client(timeout=30, headers=headers) as http:
            while time.monotonic() < stop:
                assert http.get(url).status_code == 200
                done[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - start)


def measure(product: Any, samples: int, seconds: float) -> dict[str, float]:
    with httpx.Client(timeout=60, headers=product.headers) as http:
        listing = timed(samples, lambda: http.get(product.list_path()))
        first = http.get(product.list_path()).json()
        assert len(first["messages"]) == 50, first
        search = timed(samples, lambda: product.search(http, RARE))
        found = product.search(http, RARE).json()
        assert found["total"] >= 1, found
        big = product.search(http, BIG_SUBJECT).json()["messages"][0]["id"]
        get = timed(samples, lambda: http.get(product.message_path(big)))
    rate = concurrent(product.list_path(), product.headers, 8, seconds)
    return {
        "list50_p50_ms": statistics.median(listing),
        "list50_p90_ms": statistics.quantiles(listing, n=10)[-1],
        "search_p50_ms": statistics.median(search),
        "search_hits": float(found["total"]),
        "get50k_p50_ms": statistics.median(get),
        "list50_8clients_rps": rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="mb-bench-mailbox-"))
    world = World.start()
    results: dict[str, dict[str, float]] = {}
    try:
        account = world.dovecot.add_user("bench@example.test", "bench-pass")
        start = time.monotonic()
        fill(account, args.messages)
        print(f"filled INBOX with {args.messages} messages in {time.monotonic() - start:.1f} s", file=sys.stderr)
        products: list[Any] = [MailbridgeHttp(world, log_dir)]
        if not args.no_peer:
            peer = ImapapiHttp(world, log_dir)
            why = peer.install()
            if why is None:
                products.append(peer)
            else:
                print(f"imapapi skipped: {why}", file=sys.stderr)
        for product in products:
            try:
                product.start(account)
                results[product.name] = measure(product, args.samples, args.seconds)
            finally:
                product.stop()
            print(f"{product.name}: {results[product.name]}", file=sys.stderr)
    finally:
        world.close()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.messages} messages in INBOX, Dovecot over TLS, {args.samples} samples")  # fmt: skip
    names = list(results)
    print(f"{'metric':24} " + " ".join(f"{n:>16}" for n in names) + ("   ratio" if len(names) == 2 else ""))
    for metric in next(iter(results.values()), {}):
        values = [results[n][metric] for n in names]
        ratio = ""
        if len(values) == 2 and values[0] and values[1]:
            better = values[0] / values[1] if metric.endswith("rps") else values[1] / values[0]
            ratio = f"  {better:5.1f}x"
        print(f"{metric:24} " + " ".join(f"{v:16.1f}" for v in values) + ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
