"""Benchmark: one watcher holding N idle IMAPS accounts (default 5,000), each with its IDLE connection.

Usage: .venv/bin/python bench/idle_scale.py [--n 5000] [--runs 1] [--tracemalloc]

Everything on 127.0.0.1, started and stopped here: redis-server, a Dovecot with N users
(tuned below for N concurrent TLS sessions), the DNS server, and Mailbridge as ``python
app.py watch`` + ``python app.py worker`` (``bench/_inbound_products.Mailbridge``, the
way bench/inbound.py runs it). The idle watcher's RSS, once it stops growing, is the baseline;
then the N accounts are attached through the API (``verify: false``: the bench knows the
logins work, and N verifying logins from the API would measure the API, not the watcher)
while the watcher runs; the time from the first attach until every account reports
``connected`` is the connect time. After 5 s of quiet, RSS (watcher and its children) is
sampled three times and the highest kept; per-account KiB = (RSS - baseline) / N.

``--tracemalloc``: instead, hold the first 500 accounts' IDLE sessions in this process (the
watcher's ``AccountWatcher`` with a handler that does nothing) under tracemalloc and print the
allocation sites that grew the most per account.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._inbound_env import inotify_limit  # noqa: E402
from bench._inbound_products import Mailbridge, _imaps  # noqa: E402
from tests.servers.dns import DnsServer  # noqa: E402
from tests.servers.dovecot import SPECIAL_USE, DovecotServer  # noqa: E402
from tests.servers.redis import RedisServer  # noqa: E402

CONNECT_TIMEOUT_S = 600.0
# N IMAPS sessions: a few login processes proxy all the TLS (performance mode, service_count = 0)
# and each imap process serves up to 100 idle clients (Dovecot allows client_limit > 1 for
# imap when all users share one system uid and service_count = 0), so N sessions are ~N/100 processes.
_DOVECOT_SCALE = """
default_process_limit = 2000
default_client_limit = 20000
service imap-login {
  service_count = 0
  process_min_avail = 4
  client_limit = 10000
  vsz_limit = 2G
}
service imap {
  service_count = 0
  client_limit = 100
  process_limit = 1000
  vsz_limit = 2G
}
service anvil {
  client_limit = 19000
}
"""


def say(text: str) -> None:
    print(text, flush=True)


def _raise_inotify(want: int) -> None:
    path = Path("/proc/sys/fs/inotify/max_user_instances")
    try:
        if int(path.read_text()) < want:
            path.write_text(str(want))
    except OSError:
        pass


class World(SimpleNamespace):
    redis: RedisServer
    dovecot: DovecotServer
    dns: DnsServer


def start_world() -> World:
    _raise_inotify(8192)
    redis_server = RedisServer()
    redis_server.start()
    # The special-use folders are not needed to idle; fewer folders make N users cheaper.
    dovecot = DovecotServer(special_use={k: v for k, v in SPECIAL_USE.items() if k == "Junk"})
    with open(dovecot.config, "a") as config:
        config.write(_DOVECOT_SCALE)
    dovecot.start()
    dns = DnsServer()
    dns.start()
    return World(redis=redis_server, dovecot=dovecot, dns=dns)


async def settled_rss(product: Mailbridge, at_least_s: float = 5.0, timeout_s: float = 60.0) -> int:
    """The idle watcher's RSS once it has stopped growing (imports done), on a busy machine too."""
    await asyncio.sleep(at_least_s)
    deadline = time.monotonic() + timeout_s
    last = product.rss()
    while time.monotonic() < deadline:
        await asyncio.sleep(2)
        now = product.rss()
        if abs(now - last) < 256 * 1024:
            return now
        last = now
    return last


async def run_once(world: World, accounts: list[Any], log_dir: Path) -> dict[str, float]:
    product = Mailbridge(world, log_dir)  # type: ignore[arg-type]
    product.start()
    try:
        baseline = await settled_rss(product)
        started = time.monotonic()
        for i, account in enumerate(accounts):
            body = {"account": f"idle{i:05d}", "email": account.address, "imap": _imaps(account), "verify": False}
            await asyncio.to_thread(product._call, "POST", "/v1/accounts", body)
        attached = time.monotonic() - started
        say(f"  attached {len(accounts)} accounts in {attached:.1f} s")
        deadline = started + CONNECT_TIMEOUT_S
        seen = 0
        while True:
            seen = await asyncio.to_thread(product.connected)
            if seen >= len(accounts) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        connected_in = time.monotonic() - started
        if seen < len(accounts):
            raise RuntimeError(f"only {seen} of {len(accounts)} connected after {connected_in:.0f} s")
        await asyncio.sleep(5)
        samples = []
        for _ in range(3):
            samples.append(product.rss())
            await asyncio.sleep(1)
        rss = max(samples)
        row = {
            "accounts": float(len(accounts)),
            "baseline_mb": baseline / 2**20,
            "rss_mb": rss / 2**20,
            "per_account_kib": (rss - baseline) / len(accounts) / 1024,
            "connected_s": connected_in,
            "attach_s": attached,
        }
        say(
            f"  {len(accounts)} IMAPS accounts connected {connected_in:.1f} s after the first attach; "
            f"RSS {row['rss_mb']:.1f} MB (idle watcher {row['baseline_mb']:.1f} MB, "
            f"{row['per_account_kib']:.1f} KiB per account)"
        )
        return row
    finally:
        product.stop()


def tracemalloc_profile(world: World, accounts: list[Any], top: int = 25) -> None:
    """Hold the accounts' IDLE sessions in this process with tracemalloc on; print the biggest sites."""
    import tracemalloc

    from bridge.config import Secret
    from bridge.imap.watcher import AccountWatcher, WatchTiming
    from bridge.models import Account, AccountState, FetchedMessage, ServerConfig

    class Quiet:
        async def messages(self, account: Account, folder: str, uidvalidity: int, batch: list[FetchedMessage]) -> None:
            return None

        async def state(self, account: Account, state: AccountState) -> None:
            return None

        async def mailbox_reset(self, account: Account, folder: str, old: int, new: int) -> None:
            return None

    class Checkpoints:
        def __init__(self) -> None:
            self.seen: dict[tuple[str, str], tuple[int, int]] = {}

        def checkpoint(self, account: str, folder: str) -> tuple[int, int] | None:
            return self.seen.get((account, folder))

        def set_checkpoint(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
            self.seen[(account, folder)] = (uidvalidity, last_uid)

    import psutil

    from bridge.imap.runner import SSL_READ_BUFFER

    asyncio.sslproto.SSLProtocol.max_size = SSL_READ_BUFFER  # as the watcher process sets it

    async def hold() -> None:
        handler, checkpoints = Quiet(), Checkpoints()
        rss_before = psutil.Process().memory_info().rss
        watchers = []
        for i, mailbox in enumerate(accounts):
            imap = ServerConfig(
                host=mailbox.host, port=mailbox.imaps_port, user=mailbox.address, password=Secret(mailbox.password),
                secure=True, starttls=False, reject_unauthorized=False,
            )  # fmt: skip
            account = Account(id=f"t{i}", email=mailbox.address, imap=imap, watch=("INBOX",))
            watchers.append(AccountWatcher(account, handler, checkpoints, timing=WatchTiming()))
        tracemalloc.start(10)
        before = tracemalloc.take_snapshot()
        tasks = []
        for start in range(0, len(watchers), 16):
            tasks += [asyncio.create_task(w.run()) for w in watchers[start : start + 16]]
            await asyncio.sleep(0.2)
        await asyncio.sleep(10)
        after = tracemalloc.take_snapshot()
        rss = psutil.Process().memory_info().rss - rss_before
        stats = after.compare_to(before, "traceback")
        total = sum(s.size_diff for s in stats)
        say(
            f"RSS {rss / len(accounts) / 1024:.1f} KiB per account (with tracemalloc's own overhead); "
            f"tracemalloc: {total / len(accounts) / 1024:.1f} KiB per account in Python objects; top sites:"
        )
        for stat in stats[:top]:
            frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in list(stat.traceback)[::-1][:4])
            say(f"  {stat.size_diff / len(accounts):8.0f} B/account  {frames}")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(hold())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="mb-bench-idle-"))
    say(f"logs: {log_dir}; load average {os.getloadavg()}")
    world = start_world()
    try:
        say(f"fs.inotify.max_user_instances: {inotify_limit()}")
        started = time.monotonic()
        accounts = [world.dovecot.new_account("idle") for _ in range(args.n)]
        say(f"{args.n} Dovecot users made in {time.monotonic() - started:.1f} s")
        if args.tracemalloc:
            tracemalloc_profile(world, accounts[:500])
            return 0
        rows = [asyncio.run(run_once(world, accounts, log_dir)) for _ in range(args.runs)]
        print(json.dumps(rows, indent=2))
    finally:
        world.dovecot.close()
        world.dns.stop()
        world.redis.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
