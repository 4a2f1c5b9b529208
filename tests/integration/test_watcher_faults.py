"""The watcher when the IMAP server fails it: each way a server refuses, and a watch stuck for good.

A ``FaultProxy`` sits in front of the real Dovecot. Each test watches through
it, turns a fault on and drops the open connection (the server restarting into
the fault), waits until the account's state names the fault, turns the proxy
back to pass-through, APPENDs a message to Dovecot and waits for its event.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from bridge.config import Secret
from bridge.crypto import Vault
from bridge.imap import session
from bridge.imap.handshake import ConnectFailed
from bridge.imap.runner import LeaseTiming, WatcherService
from bridge.imap.watcher import WatchTiming
from bridge.inbound.pipeline import InboundPipeline
from bridge.models import ConnectionState, MailboxFault, ServerConfig
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage
from tests.servers.tcp_proxy import Fault, FaultProxy
from tests.watcher_support import Running, append, events, imap_tasks, mail, make_account, until

# Timeouts short enough that the slowest fault (a stalled greeting) is met several times
# within a test; the old code waited its 120 s command timeout instead, or forever.
TIMING = WatchTiming(poll_interval_s=0.3, retry_base_s=0.1, retry_cap_s=0.5, connect_timeout_s=1.0)
# How long a fault may take to show in the account's state, and mail to arrive once the
# server is back: the connect timeout and the backoff cap, with room for a busy machine.
NOTICE_S = 8.0
RECOVER_S = 8.0

# (fault, proxy trigger, secure account, the code the account's state must show)
FAULTS = [
    pytest.param(Fault.REFUSE, None, False, MailboxFault.CONNECTION_REFUSED, id="refused"),
    pytest.param(
        Fault.CLOSE_BEFORE_GREETING, None, False, MailboxFault.CLOSED_BEFORE_GREETING, id="closed-before-greeting"
    ),
    pytest.param(Fault.GREET_THEN_CLOSE, None, False, MailboxFault.CLOSED_AFTER_GREETING, id="greeting-then-closed"),
    pytest.param(Fault.STALL, None, False, MailboxFault.GREETING_TIMEOUT, id="stalled-greeting"),
    pytest.param(Fault.PLAINTEXT, None, True, MailboxFault.TLS_FAILED, id="plaintext-on-imaps-port"),
    pytest.param(Fault.CUT, b" LOGIN ", False, MailboxFault.CLOSED_DURING_LOGIN, id="closed-during-login"),
]


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault("watcher-test-secret-0123456789"))


@pytest.fixture
def pipeline(storage, dns):
    with ThreadPoolExecutor(4) as executor:
        yield InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor)


async def play(proxy: FaultProxy, fault: Fault, trigger: bytes | None) -> None:
    if trigger is not None:
        await proxy.cut_on(trigger)
    else:
        await proxy.set(fault)
    await proxy.drop_all()


@pytest.mark.parametrize(("fault", "trigger", "secure", "code"), FAULTS)
async def test_the_watch_comes_back_after_the_server_fails_it(storage, pipeline, mailbox, fault, trigger, secure, code):
    upstream = mailbox.imaps_port if secure else mailbox.imap_port
    proxy = FaultProxy(upstream, plain_port=mailbox.imap_port)
    await proxy.start()
    run = Running(make_account(storage, mailbox, port=proxy.port, secure=secure), pipeline, storage, timing=TIMING)
    await run.start()
    try:
        await play(proxy, fault, trigger)
        state = await until(
            lambda: (s := storage.accounts.get_state("acme")).error and s.error.code == code and s,
            timeout=NOTICE_S,
            what=f"state {code}",
        )
        assert state.state is ConnectionState.CONNECT_ERROR and state.next_retry is not None
        assert state.error.message.startswith(f"IMAP server 127.0.0.1:{proxy.port} ")
        retried = proxy.accepted
        await until(lambda: proxy.accepted > retried + 1 or fault is Fault.REFUSE, what="retries")

        await proxy.set(Fault.PASS)
        await append(mailbox, mail(1))
        await until(lambda: events(storage), timeout=RECOVER_S, what="the message, once the server is back")
        assert storage.accounts.get_state("acme").state is ConnectionState.CONNECTED
        # The dropped connection first, then the fault the server went on playing.
        reported = [e.data for e in events(storage, name="connectError")]
        assert [r["error"]["code"] for r in reported][:2] == [MailboxFault.CONNECTION_LOST, code]
        assert all(r["nextRetry"] for r in reported)
    finally:
        await run.stop()
        await proxy.close()
    assert imap_tasks() == []


@pytest.mark.parametrize(("fault", "trigger", "secure", "code"), FAULTS)
async def test_connect_fails_fast_naming_the_fault_and_leaves_nothing_running(mailbox, fault, trigger, secure, code):
    upstream = mailbox.imaps_port if secure else mailbox.imap_port
    proxy = FaultProxy(upstream, plain_port=mailbox.imap_port)
    await proxy.start()
    account_config = _config(mailbox, proxy.port, secure)
    try:
        await play(proxy, fault, trigger)
        # The bound is the wait: the old code waited its full command timeout (here 60 s),
        # or for ever after a greeting and a close.
        with pytest.raises(ConnectFailed) as failed:
            await asyncio.wait_for(session.connect(account_config, timeout=60, connect_timeout=1.0), 10)
        assert failed.value.fault is code
        assert failed.value.code == "connectFailed" and failed.value.details == {"side": "imap"}
    finally:
        await proxy.close()
    assert imap_tasks() == []


async def test_a_certificate_that_fails_verification_is_a_tls_failure(mailbox):
    config = _config(mailbox, mailbox.imaps_port, secure=True, verify=True)
    with pytest.raises(ConnectFailed) as failed:
        await asyncio.wait_for(session.connect(config, connect_timeout=1.0), 10)
    assert failed.value.fault is MailboxFault.TLS_FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in failed.value.message
    assert imap_tasks() == []


def _config(mailbox, port: int, secure: bool, verify: bool = False) -> ServerConfig:
    return ServerConfig(
        host=mailbox.host,
        port=port,
        user=mailbox.address,
        password=Secret(mailbox.password),
        secure=secure,
        starttls=False,
        reject_unauthorized=verify,
    )


class HangsOnce:
    """Opens IMAP sessions (the service's ``connect`` seam), but the first call never returns.

    The shape of the aioimaplib hang this watchdog exists for: a connect whose
    timeout never fires.
    """

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, config, **kwargs):
        self.calls += 1
        if self.calls == 1:
            await asyncio.Event().wait()
        return await session.connect(config, **kwargs)


async def test_the_watchdog_restarts_a_watch_that_shows_no_sign_of_life(storage, pipeline, mailbox, caplog):
    make_account(storage, mailbox)
    connect = HangsOnce()
    timing = WatchTiming(
        poll_interval_s=0.3, retry_base_s=0.05, retry_cap_s=0.3, connect_timeout_s=0.2, watchdog_grace_s=0.5
    )
    service = WatcherService(
        storage, pipeline, watcher_id="a", leases=LeaseTiming(tick_s=0.2), timing=timing, connect=connect
    )
    task = asyncio.create_task(service.run())
    try:
        with caplog.at_level(logging.WARNING, logger="bridge.imap.runner"):
            await until(lambda: storage.mailstate.checkpoint("acme", "INBOX"), timeout=10, what="the restarted watch")
        assert connect.calls == 2
        [warning] = [r.getMessage() for r in caplog.records if "no sign of life" in r.getMessage()]
        assert "while connecting" in warning and "watch restarted" in warning
        [stalled] = [e.data["error"] for e in events(storage, name="connectError")]
        assert stalled["code"] == "stalled"
        await append(mailbox, mail(1))
        await until(lambda: events(storage), what="mail after the restart")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
