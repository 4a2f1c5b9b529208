"""Benchmark: inbound mail → signed webhook, for Mailbridge and, side by side, imapapi 1.8.2.

Usage: .venv/bin/python bench/inbound.py [--quick] [--runs 3] [--phases latency,burst,scale] [--no-peer]

Everything runs on 127.0.0.1 and is started and stopped here: redis-server,
Dovecot (IMAPS with the harness's self-signed cert, LMTP), a dnslib DNS server
holding the sender's SPF, DKIM key and DMARC policy (the bridge is pointed at
it with BRIDGE_DNS_SERVERS), and a keep-alive webhook receiver in a child
process. Mailbridge runs as ``python app.py watch`` and ``python app.py
worker``; accounts and the webhook are created through its API (create_app,
in-process). The peer is installed with npm into a temp dir and deleted after.

Phases (medians over ``--runs`` runs, each product in the same command):

- latency: messages LMTP-delivered one at a time (the next after the previous
  webhook arrived). Two raw IDLE connections of ours on the same mailbox
  timestamp Dovecot's EXISTS push; "overhead" is push → webhook at the
  receiver, "end to end" is LMTP → webhook. The spread between the two raw
  clients bounds how far the product's own connection may see the push apart
  from ours.
- burst: N DKIM-signed messages LMTP-delivered at once (4 sessions) to a fresh
  mailbox → all N webhooks received; messages/s from the first EXISTS push (and
  from the start of delivery) to the last webhook.
- scale: RSS of the process holding N idle IMAPS accounts (one per Dovecot
  user), after all report connected.

Every wait is bounded (timeouts below); counts are capped by the arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._inbound_env import Observer, World, deliver, inotify_limit, make_message  # noqa: E402
from bench._inbound_products import Imapapi, Mailbridge  # noqa: E402
from tests.servers.dovecot import MailAccount  # noqa: E402

MAX_N = 5_000
CONNECT_TIMEOUT = 300.0
WEBHOOK_TIMEOUT = 15.0
BURST_TIMEOUT = 300.0


class Product(Protocol):
    name: str

    def start(self) -> None: ...
    def attach(self, account: MailAccount, account_id: str) -> None: ...
    def subscribe(self, url: str) -> None: ...
    def connected(self) -> int: ...
    def rss(self) -> int: ...
    def cpu(self) -> float: ...
    def alive(self) -> bool: ...
    def stop(self) -> None: ...


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def say(text: str) -> None:
    print(text, flush=True)


async def wait_connected(product: Product, n: int, timeout: float = CONNECT_TIMEOUT) -> float:
    started = time.monotonic()
    while True:
        got = await asyncio.to_thread(product.connected)
        if got >= n:
            return time.monotonic() - started
        if not product.alive():
            raise RuntimeError(f"{product.name} died while connecting")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{product.name}: only {got} of {n} accounts connected after {timeout:.0f} s")
        await asyncio.sleep(0.25)


# -- latency -----------------------------------------------------------------------------


async def latency(world: World, product: Product, runs: int, n: int, messages: list[bytes]) -> dict[str, Any]:
    # The product watches A. Our raw IDLE clients watch B and C, which get the same
    # LMTP transaction (RCPT B, A, C: Dovecot saves in that order, so B and C bracket A).
    # They are never on A: the product's FETCH writes A's index, which starts
    # Dovecot's 500 ms notify timer in every other IDLE session on A, and the next
    # message then reaches those sessions early (measured: up to 400 ms early).
    account = world.dovecot.new_account("lat")
    watched = [world.dovecot.new_account("push"), world.dovecot.new_account("push")]
    observers = [Observer(a) for a in watched]
    rcpts = [watched[0].address, account.address, watched[1].address]
    product.start()
    try:
        product.subscribe(world.receiver.url)
        await asyncio.to_thread(product.attach, account, "lat")
        await wait_connected(product, 1)
        for observer in observers:
            await observer.start()
        world.receiver.clear()
        count = 0
        per_run: list[dict[str, float]] = []
        spreads: list[float] = []
        missed = 0
        warmup = 5
        for run in range(runs + 1):  # run 0 is the warm-up
            overhead: list[float] = []
            e2e: list[float] = []
            for i in range(warmup if run == 0 else n):
                raw = messages[i]
                token = f"bench-lat-{i:05d}"
                started = time.monotonic()
                await asyncio.to_thread(deliver, world.dovecot, rcpts, [raw])
                count += 1
                pushes = [await o.wait_exists(count, timeout=WEBHOOK_TIMEOUT) for o in observers]
                arrived = await _webhook_for(world, token, started + WEBHOOK_TIMEOUT)
                if pushes[0] is None or pushes[1] is None:
                    raise RuntimeError(f"message {count}: no IDLE push to our raw clients ({pushes})")
                if arrived is None:
                    say(
                        f"  *** {product.name}: no webhook for {token} within {WEBHOOK_TIMEOUT:.0f} s (counted as missed)"
                    )
                    missed += 1
                    continue
                push = (pushes[0] + pushes[1]) / 2
                if run:
                    overhead.append((arrived - push) * 1000)
                    e2e.append((arrived - started) * 1000)
                    spreads.append(abs(pushes[0] - pushes[1]) * 1000)
            if run:
                row = {
                    "overhead_p50": med(overhead),
                    "overhead_p99": pct(overhead, 0.99),
                    "overhead_max": max(overhead),
                    "e2e_p50": med(e2e),
                    "e2e_p99": pct(e2e, 0.99),
                    "push_p50": med(e2e) - med(overhead),
                }
                per_run.append(row)
                say(
                    f"  {product.name} latency run {run}/{runs} (n={n}): push→webhook p50 {row['overhead_p50']:.1f} ms "
                    f"p99 {row['overhead_p99']:.1f} ms max {row['overhead_max']:.1f} | LMTP→webhook p50 "
                    f"{row['e2e_p50']:.0f} ms p99 {row['e2e_p99']:.0f} ms"
                )
        signed = await asyncio.to_thread(world.receiver.verify, product.secret) if _signs(product) else None
    finally:
        for observer in observers:
            await observer.stop()
        product.stop()
    result: dict[str, Any] = {k: med([r[k] for r in per_run]) for k in per_run[0]}
    result["spread_p50"] = med(spreads)
    result["spread_p99"] = pct(spreads, 0.99)
    result["spread_max"] = max(spreads)
    result["missed"] = missed
    result["signed"] = signed
    return result


async def _webhook_for(world: World, token: str, deadline: float) -> float | None:
    """Receive time of the webhook for ``token``; late ones for earlier messages are skipped."""
    receiver = world.receiver
    while (left := deadline - time.monotonic()) > 0:
        got = await asyncio.to_thread(receiver.wait, receiver.seen + 1, left, receiver.seen)
        receiver.seen += len(got)
        for got_token, arrived in got:
            if got_token == token:
                return arrived
    return None


def _signs(product: Product) -> bool:
    return getattr(product, "secret", None) is not None


# -- burst -------------------------------------------------------------------------------


async def burst(
    world: World, product: Product, runs: int, n: int, make: Callable[[str], list[bytes]], py_spy: str | None = None
) -> dict[str, Any]:
    product.start()
    rows: list[dict[str, float]] = []
    try:
        product.subscribe(world.receiver.url)
        for run in range(1, runs + 1):
            account = world.dovecot.new_account("burst")
            messages = make(account.address)
            await asyncio.to_thread(product.attach, account, f"burst{run}")
            await wait_connected(product, run)
            observer = Observer(account)
            await observer.start()
            world.receiver.clear()
            profiler = _profile(product, py_spy, f"burst{run}")
            cpu_before = product.cpu()
            try:
                started = time.monotonic()
                took = await asyncio.to_thread(deliver, world.dovecot, [account.address], messages, 4)
                first_push = await observer.wait_exists(1, timeout=WEBHOOK_TIMEOUT)
                got = await asyncio.to_thread(world.receiver.wait, n, BURST_TIMEOUT, 0)
            finally:
                await observer.stop()
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(30)
            tokens = {t for t, _ in got if t}
            if len(tokens) < n or first_push is None:
                raise RuntimeError(f"{product.name}: burst got {len(tokens)} of {n} webhooks (push {first_push})")
            last = max(t for _, t in got)
            cpu_ms = (product.cpu() - cpu_before) * 1000 / n
            row = {
                "cpu_ms": cpu_ms,
                "from_push": n / (last - first_push),
                "from_delivery": n / (last - started),
                "delivery_s": took,
                "total_s": last - started,
            }
            rows.append(row)
            say(
                f"  {product.name} burst run {run}/{runs} (n={n}): {row['from_push']:.0f} msgs/s from the first push, "
                f"{row['from_delivery']:.0f} msgs/s from delivery start (LMTP took {took:.2f} s, all in {row['total_s']:.2f} s); "
                f"{cpu_ms:.2f} CPU-ms per message in the product's processes"
            )
        signed = await asyncio.to_thread(world.receiver.verify, product.secret) if _signs(product) else None
    finally:
        product.stop()
    result: dict[str, Any] = {k: med([r[k] for r in rows]) for k in rows[0]}
    result["signed"] = signed
    return result


def _profile(product: Product, py_spy: str | None, label: str) -> subprocess.Popen[bytes] | None:
    """With --py-spy DIR: sample Mailbridge's watcher (all threads) until stopped, into DIR/<label>.txt."""
    pid = getattr(product, "watcher_pid", None)
    if py_spy is None or pid is None:
        return None
    out = Path(py_spy) / f"{label}.txt"
    cmd = ["py-spy", "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(out), "--nonblocking", "--gil"]
    profiler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attach before the burst starts
    return profiler


# -- scale -------------------------------------------------------------------------------


async def scale(world: World, product: Product, runs: int, accounts: list[MailAccount]) -> dict[str, Any]:
    rows: list[dict[str, float]] = []
    for run in range(1, runs + 1):
        product.start()
        try:
            await asyncio.sleep(3)
            baseline = product.rss()
            started = time.monotonic()
            for i, account in enumerate(accounts):
                await asyncio.to_thread(product.attach, account, f"idle{i:04d}")
            connected_in = await wait_connected(product, len(accounts))
            await asyncio.sleep(5)  # let connection setup garbage settle
            samples = []
            for _ in range(3):
                samples.append(product.rss())
                await asyncio.sleep(1)
            rss = max(samples)
            rows.append(
                {
                    "baseline_mb": baseline / 2**20,
                    "rss_mb": rss / 2**20,
                    "per_account_kib": (rss - baseline) / len(accounts) / 1024,
                }
            )
            say(
                f"  {product.name} scale run {run}/{runs}: {len(accounts)} IMAPS accounts connected "
                f"{time.monotonic() - started:.1f} s after the first attach ({connected_in:.1f} s after the last); "
                f"RSS {rss / 2**20:.1f} MB (idle process {baseline / 2**20:.1f} MB, "
                f"{rows[-1]['per_account_kib']:.0f} KiB per account)"
            )
        finally:
            product.stop()
    return {k: med([r[k] for r in rows]) for k in rows[0]}


# -- report ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    total = mem[1].split()[1] if len(mem) > 1 else "?"
    return {
        "cpu": cpu,
        "nproc": nproc,
        "memory": total,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def table(results: dict[str, dict[str, dict[str, Any]]], names: list[str]) -> str:
    peer = names[1] if len(names) > 1 else None
    lines = ["| measurement | target | " + " | ".join(names) + (" | Mailbridge ÷ peer |" if peer else "|")]
    lines.append("|---|---|" + "---|" * len(names) + ("---|" if peer else ""))
    rows = [
        ("latency", "overhead_p50", "IDLE push → signed webhook, p50 (ms)", "≤ 20", "{:.1f}"),
        ("latency", "overhead_p99", "IDLE push → signed webhook, p99 (ms)", "≤ 100", "{:.1f}"),
        ("latency", "e2e_p50", "LMTP delivery → webhook, p50 (ms)", "", "{:.0f}"),
        ("latency", "push_p50", "of which Dovecot's delay before the push, p50 (ms)", "", "{:.0f}"),
        ("latency", "e2e_p99", "LMTP delivery → webhook, p99 (ms)", "", "{:.0f}"),
        ("latency", "missed", "webhooks missing after 15 s (of all latency messages)", "0", "{:.0f}"),
        ("latency", "spread_p50", "push spread between two raw IDLE clients, p50 (ms)", "", "{:.2f}"),
        ("latency", "spread_p99", "push spread between two raw IDLE clients, p99 (ms)", "", "{:.2f}"),
        ("latency", "spread_max", "push spread between two raw IDLE clients, max (ms)", "", "{:.2f}"),
        ("burst", "from_push", "burst: msgs/s, first push → last webhook", "≥ 300", "{:.0f}"),
        ("burst", "from_delivery", "burst: msgs/s, delivery start → last webhook", "", "{:.0f}"),
        ("burst", "cpu_ms", "burst: CPU-ms per message, all product processes", "", "{:.2f}"),
        ("scale", "rss_mb", "RSS with the idle IMAPS accounts (MB)", "≤ 150", "{:.1f}"),
        ("scale", "baseline_mb", "RSS of the idle process, no accounts (MB)", "", "{:.1f}"),
        ("scale", "per_account_kib", "RSS per account (KiB)", "", "{:.0f}"),
    ]
    for phase, key, label, target, fmt in rows:
        values = [results.get(name, {}).get(phase, {}).get(key) for name in names]
        if all(v is None for v in values):
            continue
        cells = [fmt.format(v) if v is not None else "n/a" for v in values]
        ratio = ""
        if peer:
            a, b = values[0], values[1]
            ratio = f" {a / b:.3f} |" if a is not None and b else " n/a |"
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |" + ratio)
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    phases = [p for p in args.phases.split(",") if p]
    log_dir = Path(tempfile.mkdtemp(prefix="mb-bench-inbound-"))
    say(f"machine: {machine()}; load average {os.getloadavg()}")
    say(f"logs: {log_dir}")
    world = World.start()
    say(f"fs.inotify.max_user_instances: {inotify_limit()}")
    products: list[Any] = [Mailbridge(world, log_dir)]
    peer: Imapapi | None = None
    if not args.no_peer:
        peer = Imapapi(world, log_dir)
        say(f"installing imapapi@{peer.name.split()[-1]} into {peer.dir} …")
        problem = peer.install()
        if problem is None:
            products.append(peer)
        else:
            say(f"*** PEER NOT MEASURED: {problem}")
    results: dict[str, dict[str, dict[str, Any]]] = {p.name: {} for p in products}
    try:
        key = world.dkim_key
        lat_messages = [
            make_message(f"bench-lat-{i:05d}", "lat@example.test", key) for i in range(max(args.latency_n, 5))
        ]
        burst_messages = [make_message(f"bench-burst-{i:05d}", "burst@example.test", key) for i in range(args.burst_n)]
        idle_accounts = [world.dovecot.new_account("idle") for _ in range(args.scale_n)] if "scale" in phases else []
        for phase in phases:
            say(f"== {phase}")
            for product in products:
                try:
                    if phase == "latency":
                        results[product.name][phase] = await latency(
                            world, product, args.runs, args.latency_n, lat_messages
                        )
                    elif phase == "burst":
                        results[product.name][phase] = await burst(
                            world, product, args.runs, args.burst_n, lambda _to: burst_messages, args.py_spy
                        )
                    elif phase == "scale":
                        results[product.name][phase] = await scale(world, product, args.runs, idle_accounts)
                except Exception as exc:  # noqa: BLE001 - report and go on with the other product/phase
                    say(f"*** {product.name} {phase} failed: {exc!r}")
                    product.stop()
                if phase in results[product.name] and results[product.name][phase].get("signed") is not None:
                    ok, total = results[product.name][phase]["signed"]
                    say(f"  {product.name}: {ok} of {total} webhooks carry a valid Standard Webhooks signature")
    finally:
        if peer is not None:
            peer.close()
        world.close()
    say("")
    say(
        f"runs: {args.runs}, latency n={args.latency_n}, burst n={args.burst_n}, scale n={args.scale_n} (medians of runs)"
    )
    say(table(results, [p.name for p in products]))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="small counts for a smoke run (latency 20, burst 200, scale 50)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-n", type=int, default=200)
    parser.add_argument("--burst-n", type=int, default=1000)
    parser.add_argument("--scale-n", type=int, default=500)
    parser.add_argument("--phases", default="latency,burst,scale")
    parser.add_argument("--no-peer", action="store_true", help="measure Mailbridge only")
    parser.add_argument("--py-spy", metavar="DIR", help="profile the watcher during bursts (py-spy on PATH) into DIR")
    args = parser.parse_args()
    if args.quick:
        args.latency_n, args.burst_n, args.scale_n = 20, 200, 50
    counts = (args.runs, args.latency_n, args.burst_n, args.scale_n)
    if not all(0 < c <= MAX_N for c in counts) or not set(args.phases.split(",")) <= {"latency", "burst", "scale"}:
        parser.error(f"counts from 1 to {MAX_N}; phases are latency, burst and scale")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
