"""ARC end to end: a list breaks the author's DKIM, a forwarder seals, the account decides whom to trust.

Real parts: Dovecot (delivery over LMTP, the watcher over IMAP IDLE), Redis, the dnslib
DNS server holding the keys and the DMARC record, the inbound pipeline on threads and on
worker processes. The message is signed by the author with dkimpy, changed as a mailing
list changes it, then sealed with dkimpy's ``arc_sign`` by ``forwarder.example`` with an
ARC-Authentication-Results that says ``dmarc=pass``. The same bytes come out verified for
an account that trusts that sealer, and not verified for one that does not.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from bridge.config import Secret
from bridge.crypto import Vault
from bridge.inbound.pipeline import InboundPipeline
from bridge.inbound.pool import AnalysisPool, ResolverSpec
from bridge.models import Account, FetchedMessage, ServerConfig
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage
from tests.arc_support import Key, forwarded, make_key
from tests.integration.test_inbound_pipeline import wait_available
from tests.integration.test_watcher import Running, events, until

SEALER = "forwarder.example"
# The forwarder's MTA hands the sealed message to the account's provider.
RECEIVED = (
    "from mail.forwarder.example (mail.forwarder.example [93.184.216.34]) by mx.example.test "
    "(Postfix) with ESMTPS id 4Q; Mon, 02 Mar 2026 10:00:05 +0000"
)


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault("arc-test-secret-0123456789abcdef"))


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {"sender": make_key("sender.example"), "sealer": make_key(SEALER, "arc2026")}


@pytest.fixture
def published(dns, keys):
    """The author's and the sealer's keys, and a p=reject DMARC record for the author's domain."""
    for key in keys.values():
        dns.add(key.dns_name, "TXT", key.record)
    dns.add("_dmarc.sender.example", "TXT", "v=DMARC1; p=reject; rua=mailto:d@sender.example")
    dns.add("lists.forwarder.example", "TXT", "v=spf1 ip4:93.184.216.34 -all")
    return dns


def sealed(keys) -> bytes:
    return f"Received: {RECEIVED}\r\n".encode() + forwarded(keys["sender"], keys["sealer"])


def create(storage, account_id: str, imap: ServerConfig, sealers: tuple[str, ...]) -> Account:
    account = Account(
        id=account_id,
        email=imap.user,
        imap=imap,
        trusted_receivers=("mx.example.test",),
        trusted_arc_sealers=sealers,
    )
    return storage.accounts.create(account)


def check_auth(auth: dict, *, trusted: bool) -> None:
    # The list broke the author's signature and the envelope is the list's: DMARC fails here.
    assert auth["fromDomain"] == "sender.example"
    assert auth["dmarc"]["result"] == "fail" and auth["dmarc"]["policy"] == "reject"
    assert [(d["domain"], d["result"]) for d in auth["dkim"]] == [("sender.example", "fail")]
    assert auth["spf"]["result"] == "pass", auth["spf"]
    assert auth["spf"]["domain"] == "lists.forwarder.example"
    assert auth["arc"]["result"] == "pass"
    assert auth["arc"]["chain"] == [{"instance": 1, "domain": SEALER, "selector": "arc2026", "cv": "none"}]
    assert auth["arc"]["sealers"] == [SEALER]
    assert auth["verified"] is trusted
    assert auth["verifiedVia"] == ("arc" if trusted else None)
    assert auth["arc"]["trustedSealer"] == (SEALER if trusted else None)


async def test_watcher_verifies_through_a_trusted_sealer_only(storage, published, keys, mailbox, dovecot):
    imap = ServerConfig(
        host=mailbox.host,
        port=mailbox.imap_port,
        user=mailbox.address,
        password=Secret(mailbox.password),
        starttls=False,
    )
    trusting = create(storage, "trusting", imap, (SEALER,))
    plain = create(storage, "plain", imap, ())
    with ThreadPoolExecutor(4) as executor:
        pipeline = InboundPipeline(storage, DnsResolver([published.address], timeout=1.0), executor)
        runs = [Running(account, pipeline, storage) for account in (trusting, plain)]
        for run in runs:
            await run.start()
        try:
            dovecot.deliver(mailbox.address, sealed(keys), mail_from="bounces@lists.forwarder.example")
            [vouched] = await until(lambda: events(storage, "trusting"), what="messageNew for trusting")
            [unvouched] = await until(lambda: events(storage, "plain"), what="messageNew for plain")
        finally:
            for run in runs:
                await run.stop()
    check_auth(vouched.data["auth"], trusted=True)
    check_auth(unvouched.data["auth"], trusted=False)
    assert storage.messages.entry("trusting", vouched.data["id"]).auth.verified_via == "arc"


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_pipeline_carries_the_trusted_sealers_to_the_analysis(storage, published, keys, mode):
    raw = b"Return-Path: <bounces@lists.forwarder.example>\r\n" + sealed(keys)
    imap = ServerConfig(host="127.0.0.1", port=1, user="user@example.test", password=Secret("p"), starttls=False)
    accounts = [create(storage, "trusting", imap, (SEALER,)), create(storage, "plain", imap, ())]
    with ThreadPoolExecutor(4) as executor, contextlib.ExitStack() as stack:
        pool = None
        if mode == "processes":
            pool = stack.enter_context(AnalysisPool(ResolverSpec([published.address], 1.0), min_batch=1))
            wait_available(pool)
        pipeline = InboundPipeline(storage, DnsResolver([published.address], timeout=1.0), executor, pool=pool)
        for account in accounts:
            asyncio.run(pipeline.messages(account, "INBOX", 7, [FetchedMessage(1, (), None, raw)]))
        if pool is not None:
            assert pool.chunks_done == 2
    [vouched] = events(storage, "trusting")
    [unvouched] = events(storage, "plain")
    check_auth(vouched.data["auth"], trusted=True)
    check_auth(unvouched.data["auth"], trusted=False)
