"""Outbound benchmark: accepted submits/s, delivered msgs/s, scheduled-send lag; Mailbridge vs imapapi@1.8.2.

Everything on 127.0.0.1: a private Redis, an aiosmtpd sink in its own process,
Mailbridge under gunicorn with the repo's gunicorn.conf.py, RQ workers started
as ``python app.py worker``. imapapi@1.8.2 (npm) is installed into a temp dir
by this script (never into the repo) with imapflow pinned to 1.0.67 (imapapi 1.8.2 breaks
with later imapflow releases) and measured in the same run against the same
Redis server, sink and client; it needs a Dovecot for its IMAP side.

    .venv/bin/python bench/submit.py [--runs 3] [--submits 2000] [--clients 8] [--workers 2]

Prints one line per run and the medians, as Markdown.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge import keys  # noqa: E402
from bridge.config import Secret  # noqa: E402
from bridge.crypto import Vault  # noqa: E402
from bridge.models import Account, ServerConfig  # noqa: E402
from bridge.storage import Storage, connect  # noqa: E402
from bridge.storage.outbox_records import OutboxEntry  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.redis import RedisServer  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"
SMTP_USER, SMTP_PASS = "bench@example.test", "bench-pass"
BODY = {"to": [{"name": "Ann", "address": "ann@example.com"}], "subject": "Bench", "text": "Hello from the bench.\n"}

SINK = """
import json, signal, sys
sys.path.insert(0, sys.argv[1])
from tests.servers.smtp import SmtpSink
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
sink = SmtpSink(json.loads(sys.argv[2]))
sink.start()
print(sink.port, flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
print(len(sink.messages), flush=True)
sink.stop()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port}")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def process_tree(pid: int) -> list[int]:
    """The process and its children (gunicorn's master and workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [pid, *(int(c) for c in f.read().split())]
    except FileNotFoundError:
        return [pid]


def own_cpu() -> float:
    """CPU seconds of this process (the load generator's client threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def redis_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def hammer(port: int, path: str, headers: dict[str, str], total: int, clients: int, body: dict) -> tuple[float, int]:
    """POST ``total`` requests from ``clients`` keep-alive threads; returns (accepted per second, accepted)."""
    payload = json.dumps(body).encode()
    counts = [0] * clients
    per = total // clients
    start = threading.Barrier(clients + 1)

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        for _ in range(per):
            conn.request("POST", path, body=payload, headers={**headers, "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status in (200, 202):
                counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return sum(counts) / elapsed, sum(counts)


class Sink:
    def __init__(self, users: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SINK, str(ROOT), json.dumps(users)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def cpu(self) -> float:
        return cpu_seconds([self.proc.pid])

    def close(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return int(out.strip().splitlines()[-1])


# --- Mailbridge ------------------------------------------------------------------


def mailbridge_run(redis: RedisServer, args: argparse.Namespace) -> dict[str, float]:
    with connect(redis.url) as client:
        client.flushall()
    storage = Storage(connect(redis.url), Vault(SECRET))
    sink = Sink({SMTP_USER: SMTP_PASS})
    smtp = ServerConfig(host="127.0.0.1", port=sink.port, user=SMTP_USER, password=Secret(SMTP_PASS), starttls=False)
    imap = ServerConfig(host="127.0.0.1", port=1, user=SMTP_USER, password=Secret(SMTP_PASS), starttls=False)
    storage.accounts.create(Account(id="bench", email=SMTP_USER, imap=imap, smtp=smtp))
    token = storage.tokens.create("bench")[1]
    port = free_port()
    env = {**os.environ, "BRIDGE_REDIS_URL": redis.url, "BRIDGE_SECRET": SECRET, "BRIDGE_PORT": str(port)}
    env["BRIDGE_LOG_LEVEL"] = "WARNING"
    web = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        wait_http(port, "/health")
        headers = {"Authorization": f"Bearer {token}"}
        body = {**BODY, "copy": False}
        web_pids = process_tree(web.pid)
        before = (cpu_seconds(web_pids), own_cpu(), redis_cpu(storage.redis))
        submit_rate, accepted = hammer(port, "/v1/account/bench/submit", headers, args.submits, args.clients, body)
        after = (cpu_seconds(web_pids), own_cpu(), redis_cpu(storage.redis))
        web_ms, client_ms, redis_ms = ((b - a) * 1000 / max(1, accepted) for a, b in zip(before, after, strict=True))

        workers = [
            subprocess.Popen([sys.executable, "app.py", "worker"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
            for _ in range(args.workers)
        ]
        deadline = time.monotonic() + 300
        # CPU per delivered message: from the first send on (worker start-up and imports excluded).
        while storage.redis.zcard(keys.outbox_active()) >= accepted and time.monotonic() < deadline:
            time.sleep(0.01)
        left = storage.redis.zcard(keys.outbox_active())
        worker_pids = [w.pid for w in workers]
        before = (cpu_seconds(worker_pids), sink.cpu(), redis_cpu(storage.redis))
        while storage.redis.zcard(keys.outbox_active()) and time.monotonic() < deadline:
            time.sleep(0.1)
        after = (cpu_seconds(worker_pids), sink.cpu(), redis_cpu(storage.redis))
        worker_ms, sink_ms, redis_send_ms = ((b - a) * 1000 / max(1, left) for a, b in zip(before, after, strict=True))
        times = sorted(_epoch(e.sent_at) for e in _entries(storage) if e.sent_at)
        deliver_rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0

        # Scheduled sends, with the workers idle and running.
        base = datetime.now(UTC) + timedelta(seconds=3)
        for i in range(args.scheduled):
            conn = http.client.HTTPConnection("127.0.0.1", port)
            when = (base + timedelta(milliseconds=137 * i)).isoformat()
            conn.request("POST", "/v1/account/bench/submit", json.dumps({**body, "sendAt": when}), headers=headers)
            conn.getresponse().read()
        time.sleep(3 + 0.137 * args.scheduled + 3)
        lags = [_epoch(e.sent_at) - _epoch(e.send_at) for e in _entries(storage) if e.sent_at and e.subject][
            -args.scheduled :
        ]
    finally:
        for proc in [*workers, web]:
            proc.send_signal(signal.SIGTERM)
        for proc in [*workers, web]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        received = sink.close()
    return {
        "submit_per_s": submit_rate,
        "accepted": accepted,
        "web_cpu_ms": web_ms,
        "client_cpu_ms": client_ms,
        "redis_cpu_ms": redis_ms,
        "delivered_per_s": deliver_rate,
        "worker_cpu_ms": worker_ms,
        "sink_cpu_ms": sink_ms,
        "redis_send_cpu_ms": redis_send_ms,
        "delivered": received,
        "sched_lag_p50": statistics.median(lags) if lags else float("nan"),
        "sched_lag_max": max(lags) if lags else float("nan"),
        "sched_sent": len(lags),
    }


def _entries(storage: Storage) -> list[OutboxEntry]:
    out: list[OutboxEntry] = []
    prefix = keys.outbox_entry("")
    for key in storage.redis.scan_iter(prefix + "*", count=1000):
        queue_id = key.decode()[len(prefix) :]
        if ":" not in queue_id:
            out.append(storage.outbox.get(queue_id))
    return sorted(out, key=lambda e: e.send_at)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# --- imapapi ----------------------------------------------------------------------


def install_imapapi() -> Path | None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("imapapi: skipped: node/npm not installed", file=sys.stderr)
        return None
    tmp = Path(tempfile.mkdtemp(prefix="imapapi-bench-"))
    (tmp / "package.json").write_text(
        json.dumps({"name": "bench", "private": True, "overrides": {"imapflow": "1.0.67"}}, indent=1)
    )
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "imapapi@1.8.2"], cwd=tmp, capture_output=True, timeout=600
    )
    binary = tmp / "node_modules" / ".bin" / "imapapi"
    if result.returncode != 0 or not binary.exists():
        print(f"imapapi: skipped: npm install failed: {result.stderr.decode()[-500:]}", file=sys.stderr)
        return None
    return tmp


def imapapi_run(tmp: Path, redis: RedisServer, dovecot: DovecotServer, args: argparse.Namespace) -> dict[str, float]:
    # imapapi validates addresses with Joi, which refuses the reserved .test TLD.
    mailbox = dovecot.add_user("imapapi-bench@example.com", "imapapi-pass")
    sink = Sink({mailbox.address: mailbox.password})
    port = free_port()
    db_url = redis.url.rsplit("/", 1)[0] + "/5"
    with connect(db_url) as client:
        client.flushdb()
    proc = subprocess.Popen(
        [str(tmp / "node_modules/.bin/imapapi"), f"--dbs.redis={db_url}", f"--api.port={port}", "--api.host=127.0.0.1"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(port, "/v1/accounts", timeout=60)
        auth = {"user": mailbox.address, "pass": mailbox.password}
        account = {
            "account": "bench",
            "name": "Bench",
            "copy": False,  # no Sent upload, as in our run
            "imap": {"host": "127.0.0.1", "port": mailbox.imap_port, "secure": False, "auth": auth},
            "smtp": {"host": "127.0.0.1", "port": sink.port, "secure": False, "auth": auth},
        }
        account["imap"]["tls"] = {"rejectUnauthorized": False}
        account["smtp"]["tls"] = {"rejectUnauthorized": False}
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("POST", "/v1/account", json.dumps(account), {"Content-Type": "application/json"})
        conn.getresponse().read()
        time.sleep(3)  # its IMAP connection comes up in the background; submit only needs SMTP
        # imapapi 1.8.2 sends inside the request (no queue), so accepted/s is also its delivered/s.
        # It requires "from"; it has no sendAt.
        body = {**BODY, "from": {"address": mailbox.address}}
        with connect(db_url) as client:
            pids = process_tree(proc.pid)
            before = (cpu_seconds(pids), own_cpu(), redis_cpu(client), sink.cpu())
            rate, accepted = hammer(port, "/v1/account/bench/submit", {}, args.submits, args.clients, body)
            after = (cpu_seconds(pids), own_cpu(), redis_cpu(client), sink.cpu())
        web_ms, client_ms, redis_ms, sink_ms = (
            (b - a) * 1000 / max(1, accepted) for a, b in zip(before, after, strict=True)
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        received = sink.close()
    return {
        "submit_per_s": rate,
        "accepted": accepted,
        "delivered": received,
        "web_cpu_ms": web_ms,
        "client_cpu_ms": client_ms,
        "redis_cpu_ms": redis_ms,
        "sink_cpu_ms": sink_ms,
    }


# --- main ---------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--submits", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduled", type=int, default=20)
    parser.add_argument("--no-imapapi", action="store_true")
    args = parser.parse_args()

    redis = RedisServer()
    redis.start()
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    tmp = None if args.no_imapapi else install_imapapi()
    dovecot = DovecotServer() if tmp is not None else None
    try:
        if dovecot is not None:
            dovecot.start()
        for run in range(args.runs):
            ours.append(mailbridge_run(redis, args))
            print(f"mailbridge run {run + 1}: {json.dumps({k: round(v, 2) for k, v in ours[-1].items()})}", flush=True)
            if tmp is not None and dovecot is not None:
                try:
                    theirs.append(imapapi_run(tmp, redis, dovecot, args))
                    print(f"imapapi run {run + 1}: {json.dumps({k: round(v, 2) for k, v in theirs[-1].items()})}")
                except Exception as exc:  # noqa: BLE001 - report the peer's failure, keep our numbers
                    print(f"imapapi run {run + 1}: failed: {exc}", flush=True)
    finally:
        if dovecot is not None:
            dovecot.close()
        redis.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows) if rows else float("nan")

    s_ours, s_theirs = med(ours, "submit_per_s"), med(theirs, "submit_per_s")
    d_ours = med(ours, "delivered_per_s")
    peer = theirs and s_theirs > 0
    print(f"\n| measurement (median of {len(ours)} runs) | Mailbridge | imapapi 1.8.2 | ratio |")
    print("|---|---|---|---|")
    if peer:
        print(f"| accepted submits/s | {s_ours:.0f} | {s_theirs:.0f} | {s_ours / s_theirs:.1f}x |")
        print(
            f"| delivered msgs/s, queue → SMTP sink | {d_ours:.0f} | {s_theirs:.0f} (sent in-request) | {d_ours / s_theirs:.1f}x |"
        )
    else:
        print(f"| accepted submits/s | {s_ours:.0f} | not measured (see stderr) | |")
        print(f"| delivered msgs/s, queue → SMTP sink | {d_ours:.0f} | not measured | |")
    lag = f"{med(ours, 'sched_lag_p50'):.2f} / {med(ours, 'sched_lag_max'):.2f}"
    print(f"| scheduled send: lag after sendAt, p50 / max (s) | {lag} | no sendAt in 1.8.2 | |")

    def cpu(rows: list[dict[str, float]], *names: str) -> str:
        return " + ".join(f"{med(rows, n):.2f}" for n in names) if rows else "–"

    print("\nCPU per message, ms (medians; everything shares the same 2 cores):")
    print("| | Mailbridge | imapapi 1.8.2 |")
    print("|---|---|---|")
    print(
        f"| submit: server + Redis | {cpu(ours, 'web_cpu_ms', 'redis_cpu_ms')} | {cpu(theirs, 'web_cpu_ms', 'redis_cpu_ms')} |"
    )
    print(
        f"| submit: load generator (client threads) | {cpu(ours, 'client_cpu_ms')} | {cpu(theirs, 'client_cpu_ms')} |"
    )
    print(
        f"| delivery: workers + SMTP sink + Redis | {cpu(ours, 'worker_cpu_ms', 'sink_cpu_ms', 'redis_send_cpu_ms')} "
        f"| in the submit: sink {cpu(theirs, 'sink_cpu_ms')} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
