"""Benchmark: emit() -> signed webhook at a local keep-alive receiver, latency and throughput.

Usage: .venv/bin/python bench/webhook_delivery.py [--latency-n 300] [--burst-n 2000] [--modes direct,rq]

Everything runs on 127.0.0.1: a private redis-server and the tests' recording
HTTP receiver (tests/servers/http.py: Nagle off, HTTP/1.1 keep-alive) in a
child process, as a real receiver would be. Two modes:

- ``direct``: this process has a Dispatcher installed (what the watcher and
  the workers do): emit() writes the delivery and queues the first attempt
  on the dispatcher's thread pool.
- ``rq``: no dispatcher; emit() enqueues an RQ job and a real worker
  (``python app.py worker``, a separate process, SimpleWorker) makes the attempt.

Measured:
- latency: one event at a time (the next after the previous arrived), from
  just before emit() to the receiver reading the request; p50/p99/max.
- emit: how long emit() itself holds the calling thread; p50/p99.
- burst: N events emitted back to back from one thread; throughput from the
  first emit to the last request received.

Counts are bounded by the arguments; nothing leaves the machine.

Results on the project machine (2 cores, three runs, n=300 / 2000):

    direct  latency p50 1.75-2.67 ms  p99 3.2-8.9 ms | emit() p50 ~0.9 ms | burst 360-479 events/s
    rq      latency p50 6.0-9.1 ms    p99 14-24 ms   | emit() p50 2.0-2.8 ms | burst 114-147 events/s
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.config import Secret, Settings  # noqa: E402
from bridge.crypto import Vault  # noqa: E402
from bridge.events.emit import emit  # noqa: E402
from bridge.storage import Storage, connect  # noqa: E402
from bridge.webhooks.dispatcher import Dispatcher  # noqa: E402
from tests.servers.redis import RedisServer  # noqa: E402

SECRET = "bench-secret-0123456789abcdef0123"
MAX_N = 20_000


class RemoteReceiver:
    """The tests' HttpReceiver in a child process, so its request handling does not share our GIL.

    CLOCK_MONOTONIC is system-wide on Linux, so its receive times compare with ours.
    """

    _CHILD = (
        "import json, sys\n"
        "from tests.servers.http import HttpReceiver\n"
        "r = HttpReceiver(); r.start(); print(r.port, flush=True)\n"
        "for line in sys.stdin:\n"
        "    cmd = line.split()\n"
        "    if cmd[0] == 'wait':\n"
        "        got = r.wait_for(int(cmd[1]), timeout=float(cmd[2]))\n"
        "        print(json.dumps([[q.headers.get('webhook-id'), q.monotonic] for q in got[int(cmd[3]):]]), flush=True)\n"
        "    elif cmd[0] == 'clear':\n"
        "        r.clear(); print('ok', flush=True)\n"
        "r.stop()\n"
    )

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", self._CHILD], cwd=str(ROOT), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in, self._out = self._proc.stdin, self._proc.stdout
        self.url = f"http://127.0.0.1:{int(self._out.readline())}"
        self.seen = 0

    def wait_for(self, n: int, timeout: float = 120.0, start: int = 0) -> list[tuple[str, float]]:
        """Wait until n requests arrived; return (webhook-id, monotonic) of requests start.. ."""
        self._in.write(f"wait {n} {timeout} {start}\n")
        self._in.flush()
        return [(i, t) for i, t in json.loads(self._out.readline())]

    def clear(self) -> None:
        self._in.write("clear\n")
        self._in.flush()
        self._out.readline()

    def close(self) -> None:
        self._in.close()
        self._proc.wait(10)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _latency(storage: Storage, dispatcher: Dispatcher | None, receiver: RemoteReceiver, n: int) -> dict[str, float]:
    latencies: list[float] = []
    emit_costs: list[float] = []
    for i in range(n):
        started = time.monotonic()
        emit(storage, "bench", "messageNew", {"n": i, "subject": "latency"}, dispatcher=dispatcher)
        emit_costs.append((time.monotonic() - started) * 1000)
        [(_, received)] = receiver.wait_for(receiver.seen + 1, timeout=10, start=receiver.seen)
        receiver.seen += 1
        latencies.append((received - started) * 1000)
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": max(latencies),
        "emit_p50_ms": statistics.median(emit_costs),
        "emit_p99_ms": _pct(emit_costs, 0.99),
    }


def _burst(storage: Storage, dispatcher: Dispatcher | None, receiver: RemoteReceiver, n: int) -> dict[str, float]:
    started = time.monotonic()
    for i in range(n):
        emit(storage, "bench", "messageNew", {"n": i, "subject": "burst"}, dispatcher=dispatcher)
    emitted = time.monotonic() - started
    got = receiver.wait_for(receiver.seen + n, timeout=120, start=receiver.seen)
    receiver.seen += n
    elapsed = max(t for _, t in got) - started
    return {"events": n, "emit_s": emitted, "total_s": elapsed, "per_s": n / elapsed}


def _worker(redis_url: str, data_dir: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, BRIDGE_REDIS_URL=redis_url, BRIDGE_SECRET=SECRET, BRIDGE_DATA_DIR=data_dir)
    env.pop("BRIDGE_ENV", None)
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), "worker"], env=env, cwd=str(ROOT))


def run(modes: list[str], latency_n: int, burst_n: int) -> None:
    redis_server = RedisServer()
    redis_server.start()
    receiver = RemoteReceiver()
    data_dir = tempfile.mkdtemp(prefix="mb-bench-")
    settings = Settings(secret=Secret(SECRET), redis_url=redis_server.url, data_dir=Path(data_dir))
    client = connect(redis_server.url)
    storage = Storage(client, Vault(SECRET))
    try:
        for mode in modes:
            client.flushall()
            receiver.clear()
            receiver.seen = 0
            storage.webhooks.create(receiver.url + "/hook", None, None)
            worker = None
            if mode == "direct":
                dispatcher = Dispatcher(storage, production=settings.production)
            else:
                dispatcher = None
                worker = _worker(redis_server.url, data_dir)
                time.sleep(1.5)  # let the worker register and block on its queues
            try:
                _latency(storage, dispatcher, receiver, min(20, latency_n))  # warm up connections and caches
                lat = _latency(storage, dispatcher, receiver, latency_n)
                burst = _burst(storage, dispatcher, receiver, burst_n)
            finally:
                if dispatcher is not None:
                    dispatcher.close()
                if worker is not None:
                    worker.terminate()
                    worker.wait(10)
            print(
                f"{mode:7s} latency n={latency_n}: p50 {lat['p50_ms']:.2f} ms  p99 {lat['p99_ms']:.2f} ms  "
                f"max {lat['max_ms']:.2f} ms | emit() p50 {lat['emit_p50_ms']:.3f} ms  p99 {lat['emit_p99_ms']:.3f} ms"
            )
            print(
                f"{mode:7s} burst n={burst['events']}: {burst['per_s']:.0f} events/s "
                f"(emitting took {burst['emit_s']:.2f} s, all received after {burst['total_s']:.2f} s)",
                flush=True,
            )
    finally:
        client.close()
        receiver.close()
        redis_server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-n", type=int, default=300)
    parser.add_argument("--burst-n", type=int, default=2000)
    parser.add_argument("--modes", default="direct,rq")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= {"direct", "rq"} or not (0 < args.latency_n <= MAX_N and 0 < args.burst_n <= MAX_N):
        parser.error(f"modes are direct and rq; counts from 1 to {MAX_N}")
    run(modes, args.latency_n, args.burst_n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
