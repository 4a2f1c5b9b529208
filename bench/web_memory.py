"""Web worker memory under large submits: RSS idle, then after N submits of the largest allowed size.

Starts a private Redis and the web role under gunicorn with the repo's
``gunicorn.conf.py`` (one worker, so one process to measure), stores an
account and a token, measures the worker's RSS idle (after one small request,
so imports and the first request's caches are in), sends ``--requests``
submits of ``--mb`` MB each (one base64 attachment; the default is the
largest body whose composed message still fits ``MAX_MESSAGE_BYTES``) on
fresh connections, so they land on different worker threads, and prints RSS
after. No RQ worker runs: the messages stay queued in the private Redis.

    .venv/bin/python bench/web_memory.py [--requests 20] [--mb 24] [--concurrency 1]

A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.config import Secret  # noqa: E402
from bridge.crypto import Vault  # noqa: E402
from bridge.models import Account, ServerConfig  # noqa: E402
from bridge.storage import Storage, connect  # noqa: E402
from tests.servers.process import free_port  # noqa: E402
from tests.servers.redis import RedisServer  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"
USER = "bench@example.test"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_pid(master: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{master}/task/{master}/children") as f:
            children = [int(c) for c in f.read().split()]
        if children:
            return children[0]
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def request(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def wait_healthy(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/health", None, {}) == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the web role did not become healthy")


def submit_body(megabytes: float) -> bytes:
    # Base64 makes 4 bytes of every 3; the rest of the body is a few hundred bytes.
    raw = os.urandom(int(megabytes * 1_000_000 * 3 / 4) - 300)
    body = {
        "to": [{"address": "ann@example.com"}],
        "subject": "Large",
        "text": "See the attachment.\n",
        "copy": False,
        "attachments": [{"filename": "big.bin", "content": base64.b64encode(raw).decode("ascii")}],
    }
    return json.dumps(body).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--mb", type=float, default=24.0)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()

    redis = RedisServer()
    redis.start()
    try:
        storage = Storage(connect(redis.url), Vault(SECRET))
        server = ServerConfig(host="127.0.0.1", port=1, user=USER, password=Secret("x"), starttls=False)
        storage.accounts.create(Account(id="bench", email=USER, imap=server, smtp=server))
        token = storage.tokens.create("bench")[1]
        port = free_port()
        env = {
            **os.environ,
            "BRIDGE_REDIS_URL": redis.url,
            "BRIDGE_SECRET": SECRET,
            "BRIDGE_PORT": str(port),
            "BRIDGE_WEB_WORKERS": "1",
        }
        web = subprocess.Popen(  # noqa: S603
            [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(port)
            pid = worker_pid(web.pid)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            small = json.dumps({"to": [{"address": "ann@example.com"}], "subject": "s", "text": "t"}).encode()
            assert request(port, "POST", "/v1/account/bench/submit", small, headers) == 202
            idle = rss_mb(pid)
            body = submit_body(args.mb)
            statuses: list[int] = []
            peak = idle
            per = args.requests // args.concurrency

            def run() -> None:
                for _ in range(per):
                    statuses.append(request(port, "POST", "/v1/account/bench/submit", body, headers))

            t0 = time.perf_counter()
            threads = [threading.Thread(target=run) for _ in range(args.concurrency)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                peak = max(peak, rss_mb(pid))
                time.sleep(0.05)
            elapsed = time.perf_counter() - t0
            time.sleep(1.0)  # let the worker finish its last response
            after = rss_mb(pid)
            codes = {code: statuses.count(code) for code in sorted(set(statuses))}
            print(
                f"body {len(body) / 1e6:.1f} MB × {len(statuses)} (concurrency {args.concurrency}), "
                f"answers {codes}, {elapsed:.1f} s"
            )
            print(f"worker RSS idle {idle:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB ({after / idle:.2f}× idle)")
        finally:
            web.terminate()
            web.wait(30)
    finally:
        redis.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
