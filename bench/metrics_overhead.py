"""What the metrics cost: one observation (counted in Redis) and one /metrics scrape.

Starts a private Redis, then times ``storage.metrics`` recording calls (what emit,
the webhook dispatcher, the send worker and the watcher add per observation) against
a plain PING on the same connection, and the full Prometheus exposition with
``--accounts`` accounts stored. Prints p50/p99 in microseconds.

    .venv/bin/python bench/metrics_overhead.py [--n 5000] [--accounts 100]

A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.config import Secret  # noqa: E402
from bridge.crypto import Vault  # noqa: E402
from bridge.metrics import exposition  # noqa: E402
from bridge.models import Account, ServerConfig  # noqa: E402
from bridge.storage import Storage, connect  # noqa: E402
from tests.servers.redis import RedisServer  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"


def timed(func: Callable[[], object], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[n // 2] * 1e6, samples[min(n - 1, int(n * 0.99))] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=100)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        storage = Storage(connect(server.url), Vault(SECRET))
        now = time.time()
        rows = {
            "PING (baseline)": lambda: storage.redis.ping(),
            "events(['messageNew'])": lambda: storage.metrics.events(["messageNew"], now),
            "webhook_attempt()": lambda: storage.metrics.webhook_attempt("delivered", 0.012, now),
            "send()": lambda: storage.metrics.send("sent"),
            "push_latency()": lambda: storage.metrics.push_latency(0.4),
        }
        for name, func in rows.items():
            p50, p99 = timed(func, args.n)
            print(f"{name:28s} p50 {p50:7.0f} µs   p99 {p99:7.0f} µs")
        imap = ServerConfig(host="127.0.0.1", port=1, user="u", password=Secret("p"))
        for i in range(args.accounts):
            storage.accounts.create(Account(id=f"acct{i}", email=f"a{i}@example.test", imap=imap))
        p50, p99 = timed(lambda: exposition.render(storage), max(50, args.n // 20))
        size = len(exposition.render(storage))
        print(f"/metrics with {args.accounts} accounts   p50 {p50:7.0f} µs   p99 {p99:7.0f} µs   ({size} bytes)")
        print(f"keys after {5 * args.n} observations: {sum(1 for k in storage.redis.scan_iter('bridge:metrics:*'))}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
