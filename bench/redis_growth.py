"""Benchmark: Redis memory growth per inbound message, this tree against an older commit, same run.

Usage: .venv/bin/python bench/redis_growth.py [--n 10000] [--baseline 49a1540] [--no-baseline] [--webhook]

For each tree (this checkout, and ``--baseline`` checked out with ``git worktree add`` into a
temp dir, removed after), a child process starts its own redis-server and DNS server (the
tests' server classes), builds the bridge's ``InboundPipeline`` on them and hands it N
messages in batches of 100 (the watcher's FETCH batch), exactly as the watcher does after a
UID FETCH. Redis ``used_memory`` is read before and after; the growth is split into the
event stream (``MEMORY USAGE`` of the account's stream, bounded by BRIDGE_EVENT_RETENTION in
this tree, by 10,000 entries before) and everything else (what grows with mail volume).

The message mix (seeded, the same for both trees): the MIME, bounce, ARF and auth corpora's
``.eml`` files as they are (51 B to 72 KB, median 2.5 KB) for 79 % of the messages; 20 % get a
50–200 KB attachment; 1 % a 1–3 MB attachment (a newsletter's PDF). Mean ~55 KB. No IMAP server
is involved: what is measured is what the pipeline stores, not how fast mail arrives
(bench/inbound.py measures that).

``--webhook``: one subscription to every event, on a local HTTP receiver that answers 200, with
the watcher's in-process dispatcher making the first attempts (RQ jobs run for any it had no
room for); measured once every delivery is delivered, so webhook keys (``webhook-body``
copies, ``delivery`` records and their attempt logs) are in the split by kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BATCH = 100
_MESSAGE_ID = re.compile(rb"^Message-ID:.*?\r?\n(?![ \t])", re.IGNORECASE | re.MULTILINE | re.DOTALL)


def corpus() -> list[bytes]:
    files = sorted((ROOT / "tests" / "corpora").rglob("*.eml"))
    return [p.read_bytes() for p in files if p.stat().st_size > 0]


def mix(n: int, seed: int = 14) -> list[bytes]:
    """N messages, each with its own Message-ID; see the module docstring for the sizes."""
    rng = random.Random(seed)
    base = corpus()
    out = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.79:
            raw = base[i % len(base)]
            raw = _MESSAGE_ID.sub(b"", raw, count=1)
            out.append(f"Message-ID: <bench{i}@growth.test>\r\n".encode() + raw)
            continue
        size = rng.randint(1_000_000, 3_000_000) if roll >= 0.99 else rng.randint(50_000, 200_000)
        msg = EmailMessage()
        msg["From"] = f"Sender {i % 97} <sender{i % 97}@example.test>"
        msg["To"] = "support@example.test"
        msg["Subject"] = f"Report {i}"
        msg["Message-ID"] = f"<bench{i}@growth.test>"
        msg["Date"] = "Mon, 07 Dec 2026 10:00:00 +0000"
        text = base[i % len(base)].decode("utf-8", "replace")
        msg.set_content(f"Please find the report attached.\n\n{text[:4000]}\n")
        msg.add_attachment(rng.randbytes(size), maintype="application", subtype="pdf", filename=f"report{i}.pdf")
        out.append(msg.as_bytes())
    return out


# -- child: one tree -------------------------------------------------------------------


def child(n: int, webhook: bool) -> dict[str, Any]:
    import contextlib
    from concurrent.futures import ThreadPoolExecutor

    import redis

    from bridge.config import Secret
    from bridge.crypto import Vault
    from bridge.inbound.pipeline import InboundPipeline
    from bridge.models import Account, FetchedMessage, ServerConfig
    from bridge.senderauth.resolver import DnsResolver
    from bridge.storage import Storage
    from tests.servers.dns import DnsServer
    from tests.servers.redis import RedisServer

    messages = mix(n)
    server = RedisServer()
    server.start()
    dns = DnsServer()
    dns.start()
    try:
        client = redis.Redis.from_url(server.url)
        storage = Storage(client, Vault("growth-bench-secret-0123456789"))
        imap = ServerConfig(host="127.0.0.1", port=1, user="u", password=Secret("p"), starttls=False)
        account = Account(id="acme", email="support@example.test", imap=imap, watch=("INBOX",))
        storage.accounts.create(account)
        with contextlib.ExitStack() as stack:
            dispatcher = _webhook(stack, storage, server.url) if webhook else None
            client.memory_purge()
            before = int(client.info("memory")["used_memory"])
            started = time.monotonic()
            with ThreadPoolExecutor(2) as executor:
                pipeline = InboundPipeline(
                    storage, DnsResolver([dns.address], timeout=1.0), executor, dispatcher=dispatcher
                )
                for start in range(0, n, BATCH):
                    batch = [
                        FetchedMessage(uid=start + j + 1, flags=(), internal_date=None, raw=raw)
                        for j, raw in enumerate(messages[start : start + BATCH])
                    ]
                    asyncio.run(pipeline.messages(account, "INBOX", 7, batch))
            if webhook:
                from tests.webhook_support import drain

                drain(client, lambda: storage.webhooks.pending_count() == 0, timeout=600)
            took = time.monotonic() - started
        client.memory_purge()
        after = int(client.info("memory")["used_memory"])
        stream_key = next(iter(client.scan_iter("*:acme:events")), None)
        stream = int(client.memory_usage(stream_key, samples=0) or 0) if stream_key else 0
        events = int(client.xlen(stream_key)) if stream_key else 0
        kinds: dict[str, list[int]] = {}
        for key in client.scan_iter("*", count=1000):
            # bridge:account:acme:<kind>:... -> <kind>; others by their second part
            parts = key.decode().split(":")
            kind = parts[3] if len(parts) > 3 and parts[1] == "account" else parts[1]
            tally = kinds.setdefault(kind, [0, 0])
            tally[0] += 1
            tally[1] += int(client.memory_usage(key, samples=0) or 0)
        return {
            "by_kind": {k: {"keys": c, "bytes": b} for k, (c, b) in sorted(kinds.items(), key=lambda kv: -kv[1][1])},
            "n": n,
            "mime_bytes": sum(len(m) for m in messages),
            "used_before": before,
            "used_after": after,
            "growth": after - before,
            "stream": stream,
            "stream_events": events,
            "keys": int(client.dbsize()),
            "seconds": took,
        }
    finally:
        dns.stop()
        server.close()


def _webhook(stack: Any, storage: Any, redis_url: str) -> Any:
    """A subscription to every event on a local receiver, and this process's dispatcher bound as the
    worker context (tests.webhook_support), as the watcher runs it."""
    from bridge.config import Secret, Settings
    from tests.servers.http import HttpReceiver
    from tests.webhook_support import FAST, webhook_worker

    receiver = HttpReceiver()
    receiver.start()
    stack.callback(receiver.stop)
    storage.webhooks.create(receiver.url + "/hook", None, None)
    data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-growth-"))
    settings = Settings(secret=Secret("growth-bench-secret-0123456789"), redis_url=redis_url, data_dir=Path(data_dir))
    return stack.enter_context(webhook_worker(storage, settings, policy=FAST))


# -- parent ----------------------------------------------------------------------------


def run_tree(tree: Path, n: int, webhook: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--n", str(n), *(["--webhook"] if webhook else [])]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child in {tree} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(label: str, r: dict[str, Any]) -> str:
    n = r["n"]
    rest = r["growth"] - r["stream"]
    return (
        f"{label}: {n} messages ({r['mime_bytes'] / n / 1024:.1f} KiB mean MIME) in {r['seconds']:.0f} s; "
        f"used_memory +{r['growth'] / 2**20:.1f} MiB = {r['growth'] / n / 1024:.2f} KiB/message; "
        f"event stream {r['stream'] / 2**20:.1f} MiB ({r['stream_events']} events); "
        f"everything else {rest / 2**20:.2f} MiB = {rest / n:.0f} B/message; {r['keys']} keys"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--baseline", default="49a1540", help="the commit to compare with (git worktree)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--webhook", action="store_true", help="subscribe a webhook to every event (see above)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(child(args.n, args.webhook)))
        return 0
    results = {"this tree": run_tree(ROOT, args.n, args.webhook)}
    print(report("this tree", results["this tree"]), flush=True)
    if not args.no_baseline:
        with tempfile.TemporaryDirectory(prefix="mb-growth-") as tmp:
            tree = Path(tmp) / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline], cwd=ROOT, check=True,
                           capture_output=True)  # fmt: skip
            try:
                label = f"baseline {args.baseline}"
                results[label] = run_tree(tree, args.n, args.webhook)
                print(report(label, results[label]), flush=True)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
