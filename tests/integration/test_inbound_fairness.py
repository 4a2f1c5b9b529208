"""One account's slow commits do not hold up another's (real Redis, the test DNS server, worker processes).

Account A gets a burst of one analysis chunk (``pool.CHUNK`` messages, so one
commit run) under a content guard that runs into its time limit on every message
(``bridge.policy.guards``: up to 0.25 s each); account B gets one message while
A's run is being committed. B's message must be out before A's run is done.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from bridge import keys
from bridge.config import Secret
from bridge.crypto import Vault
from bridge.inbound.pipeline import InboundPipeline
from bridge.inbound.pool import CHUNK, AnalysisPool, ResolverSpec
from bridge.inbound.records import message_key
from bridge.models import Account, FetchedMessage, ServerConfig
from bridge.schemas.policy import Policy
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage

UIDVALIDITY = 7


def _message(account: str, uid: int, body: str) -> FetchedMessage:
    raw = (
        f"From: sender{uid}@example.test\r\nTo: {account}@example.test\r\nSubject: m{uid}\r\n"
        f"Message-ID: <{account}{uid}@example.test>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()
    return FetchedMessage(uid=uid, flags=(), internal_date=None, raw=raw)


def _account(storage: Storage, name: str) -> Account:
    imap = ServerConfig(host="127.0.0.1", port=1, user="u", password=Secret("p"), starttls=False)
    return storage.accounts.create(Account(id=name, email=f"{name}@example.test", imap=imap, watch=("INBOX",)))


async def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_a_slow_burst_on_one_account_does_not_delay_another_accounts_mail(redis_client, dns):
    storage = Storage(redis_client, Vault("fairness-test-secret-0123456789"))
    a, b = _account(storage, "alpha"), _account(storage, "beta")
    # Catastrophic backtracking: every message of A runs the guard into its time limit.
    # (The regex package short-cuts "(x+x+)+y": it sees the required "y" is missing.)
    slow = {"pattern": "(x|xx)+z", "action": "reject"}
    counted = {"match": {"domain": "example.test"}, "action": "deliver", "rateLimit": {"perHour": 100_000}}
    storage.policies.put("alpha", Policy.model_validate({"inbound": {"contentGuards": [slow], "senders": [counted]}}))
    burst = [_message("alpha", uid, "x" * 40) for uid in range(1, CHUNK + 1)]
    burst_ids = [message_key("INBOX", UIDVALIDITY, m.uid) for m in burst]

    async def scenario(pipeline: InboundPipeline) -> set[str]:
        a_task = asyncio.ensure_future(pipeline.messages(a, "INBOX", UIDVALIDITY, burst))
        # A's run is being committed once the gate counted its first message (the gate comes before
        # the index entries are saved). A generous rate limit leaves that trace as the gate starts on each message.
        await _until(lambda: any(True for _ in redis_client.scan_iter(keys.rate_log("alpha", "*"))))
        await pipeline.messages(b, "INBOX", UIDVALIDITY, [_message("beta", 1, "hello")])
        [b_new] = [e for e in storage.events.since("beta", 0, count=10) if e.event == "messageNew"]
        done_when_b_arrived = storage.mailstate.emitted("alpha", burst_ids)
        await a_task
        return done_when_b_arrived

    with (
        ThreadPoolExecutor(4) as executor,
        AnalysisPool(ResolverSpec([dns.address], 1.0), min_batch=1) as pool,
    ):
        deadline = time.monotonic() + 60
        while not pool.available():
            assert time.monotonic() < deadline, "analysis workers did not start"
            time.sleep(0.05)
        pipeline = InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor, pool=pool)
        done_when_b_arrived = asyncio.run(scenario(pipeline))

    assert done_when_b_arrived == set()  # none of A's run was through when B's message went out
    assert storage.mailstate.emitted("alpha", burst_ids) == set(burst_ids)  # and A's burst was handled after
    audit, _ = storage.audit.page("alpha", limit=100, before=None, since_ms=0)
    assert len(audit) == CHUNK
