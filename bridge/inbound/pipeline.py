"""The inbound pipeline: fetched bytes → parsed, verified, classified, stored, emitted.

This is the watcher's ``MessageHandler``. Per batch it analyses messages in
parallel (``bridge.inbound.analysis``; on a thread pool, or in worker processes for
big batches, ``bridge.inbound.pool``: parsing and DKIM are CPU, SPF/DKIM/DMARC
wait on DNS; neither may block the watcher's event loop), then stores and
emits them in UID order so events keep the mailbox's order.

Exactly-once emission rests on two facts: ``messages.save_entries`` refuses an id it
has (the id is derived from account, folder, UIDVALIDITY and UID), and the
``emitted`` marker is set by the same atomic step that publishes the
message's last event (``bridge.storage.publish``). A message found stored but
not marked (a crash between the two) is emitted on the next pass; one marked
is skipped.

Malformed mail never stops the pipeline: a failing stage adds to the
record's ``parseErrors`` and the message is still delivered.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bridge.clock import SYSTEM_CLOCK, Clock
from bridge.events.emit import emit, emit_many
from bridge.events.model import EventName
from bridge.inbound import records
from bridge.inbound.analysis import Analysed, analyse
from bridge.inbound.commits import Committer
from bridge.inbound.pool import CHUNK, AnalysisPool
from bridge.inbound.publish import publish_message
from bridge.mail import ids
from bridge.models import Account, AccountState, ConnectionState, FetchedMessage
from bridge.review import gate, holds
from bridge.senderauth.resolver_protocol import Resolver
from bridge.storage import Storage, message_index
from bridge.storage.message_index import Entry
from bridge.storage.messages import order
from bridge.storage.publish import Publication

if TYPE_CHECKING:  # a type only: the watcher runner passes the dispatcher in
    from bridge.webhooks.dispatcher import Dispatcher

log = logging.getLogger(__name__)

_STATE_EVENTS = {
    ConnectionState.CONNECTED: EventName.ACCOUNT_CONNECTED,
    ConnectionState.AUTHENTICATION_ERROR: EventName.AUTHENTICATION_ERROR,
    ConnectionState.CONNECT_ERROR: EventName.CONNECT_ERROR,
}


@dataclass(frozen=True, slots=True)
class Analysis:
    """A fetched message, its stored id, and what the pure stages made of it."""

    fetched: FetchedMessage
    message_id: str
    analysed: Analysed


class InboundPipeline:
    """Stores and emits inbound mail; implements the watcher's MessageHandler."""

    def __init__(
        self,
        storage: Storage,
        resolver: Resolver,
        executor: ThreadPoolExecutor,
        *,
        pool: AnalysisPool | None = None,
        clock: Clock = SYSTEM_CLOCK,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.storage = storage
        self.resolver = resolver
        self.executor = executor
        self.pool = pool  # worker processes for big batches (bridge/inbound/pool.py)
        self.clock = clock  # the time a message is received at and gated at
        self.dispatcher = dispatcher  # first webhook attempts from this process (bridge/events/emit.py)
        # Commits (store, gate, emit) run one at a time per account, so its events keep UID order,
        # and in parallel across accounts (bridge/inbound/commits.py); analyses use ``executor``.
        self._committer = Committer()

    async def messages(self, account: Account, folder: str, uidvalidity: int, batch: list[FetchedMessage]) -> None:
        # Throughput (bench/inbound.py, burst of 1,000 DKIM-signed messages): analyses run in
        # parallel (threads, or worker processes for big batches); commits run on the
        # account's commit lane, in UID order, each taking every analysis finished by then, so Redis round
        # trips overlap the CPU work of later messages and a burst pays them per run, not per
        # message; the emitted markers of a batch are read in one round trip.
        loop = asyncio.get_running_loop()
        ids = [records.message_key(folder, uidvalidity, m.uid) for m in batch]
        emitted = await self._committer.run(account.id, self.storage.mailstate.emitted, account.id, ids)
        todo = [(m, message_id) for m, message_id in zip(batch, ids, strict=True) if message_id not in emitted]
        pool = self.pool
        # available() may start the worker processes (fork and exec): not on the event loop.
        if pool is not None and len(todo) >= pool.min_batch and await asyncio.to_thread(pool.available):
            chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
            pending = [asyncio.ensure_future(self._analyse_in_pool(pool, account, chunk)) for chunk in chunks]
        else:
            pending = [
                asyncio.ensure_future(loop.run_in_executor(self.executor, self.analyse, account, [item]))
                for item in todo
            ]
        try:
            done = 0
            while done < len(pending):
                await pending[done]
                ready = done + 1
                while ready < len(pending) and pending[ready].done():
                    ready += 1
                items = [analysis for p in pending[done:ready] for analysis in p.result()]
                await self._committer.run(account.id, self.commit, account, folder, uidvalidity, items)
                done = ready
        finally:
            for analysis in pending:
                analysis.cancel()  # after a failure: drop what has not started; the batch is fetched again

    async def _analyse_in_pool(
        self, pool: AnalysisPool, account: Account, chunk: list[tuple[FetchedMessage, str]]
    ) -> list[Analysis]:
        trusted = tuple(account.trusted_receivers or ())
        try:
            raws = [m.raw for m, _ in chunk]
            analysed = await asyncio.wrap_future(pool.submit(raws, trusted, account.trusted_arc_sealers))
        except Exception:  # noqa: BLE001 - a worker died (a message it choked on, OOM): redo here
            log.exception("analysis worker failed; analysing %d message(s) in the watcher", len(chunk))
            pool.reset()
            return await asyncio.get_running_loop().run_in_executor(self.executor, self.analyse, account, chunk)
        return [Analysis(m, message_id, a) for (m, message_id), a in zip(chunk, analysed, strict=True)]

    async def state(self, account: Account, state: AccountState) -> None:
        await asyncio.to_thread(self.report_state, account, state)

    async def mailbox_reset(self, account: Account, folder: str, old: int, new: int) -> None:
        data = {"folder": folder, "previousUidValidity": old, "uidValidity": new}
        await asyncio.to_thread(emit, self.storage, account.id, EventName.MAILBOX_RESET, data)

    def report_state(self, account: Account, state: AccountState) -> None:
        previous = self.storage.accounts.get_state(account.id)
        since = previous.since if previous.state is state.state else None
        self.storage.accounts.set_state(account.id, replace(state, since=since))
        name = _STATE_EVENTS.get(state.state)
        # One event per change, not per retry: the same error again only moves its time and nextRetry.
        changed = previous.state is not state.state or _what(previous) != _what(state)
        if name is not None and changed:
            emit(self.storage, account.id, name, state.event_data(), dispatcher=self.dispatcher)

    # --- the stages ----------------------------------------------------------

    def analyse(self, account: Account, items: list[tuple[FetchedMessage, str]]) -> list[Analysis]:
        """Parse, verify and classify messages not emitted yet, on this thread."""
        trusted, sealers = tuple(account.trusted_receivers or ()), account.trusted_arc_sealers
        return [Analysis(m, message_id, analyse(m.raw, self.resolver, trusted, sealers)) for m, message_id in items]

    def commit(self, account: Account, folder: str, uidvalidity: int, items: list[Analysis]) -> None:
        """Gate, index (deduped) and emit analysed messages of one folder, in order.

        Redis round trips per call, however many messages: the stored entries, conversations,
        the gate's policy read and audit records, the index entries, and one atomic publish
        of every event (``reviewPending`` of a hold in its message's place) together with
        the messages' "emitted" markers. Redis keeps only each message's index entry: the
        bodies travel in the events and stay on the IMAP server.
        """
        if not items:
            return
        messages = self.storage.messages
        built = self._build(account, folder, uidvalidity, items)
        stored = messages.entries(account.id, [r.id for r in built])
        # An entry that exists was gated and indexed before (a re-run after a crash): its decision
        # and conversation win, and it is not gated again. Only new messages meet the gate.
        records = [_adopt(r, entry) for r, entry in zip(built, stored, strict=True)]
        fresh = [i for i, entry in enumerate(stored) if entry is None]
        gated = gate.inbound(self.storage, account.id, [records[i] for i in fresh], now=self.clock.now())
        decisions: dict[int, gate.InboundGate] = dict(zip(fresh, gated, strict=True))
        for i, decided in decisions.items():
            if decided.policy is not None:  # held or rejected: the record and its index entry say so
                records[i] = records[i].with_content(policy=decided.policy.to_json())
        new_entries = [message_index.from_record(records[i].to_json()) for i in fresh]
        if new_entries:
            messages.save_entries(new_entries)
        publications: list[Publication] = []
        silent: list[tuple[str, int]] = []  # gated messages without an event of their own: marked emitted
        for i, (record, item) in enumerate(zip(records, items, strict=True)):
            score = order(record.received_at, item.fetched.uid)
            decision = decisions.get(i) or self._regated(account.id, stored[i])
            events = publish_message(self.storage, account.id, record) if decision.deliver else []
            if decision.announce is not None:
                events = [decision.announce, *events]
            if not events:
                silent.append((item.message_id, score))
                continue
            last = events[-1]
            events[-1] = Publication(
                last.account, last.name, last.data, emitted=item.message_id, emitted_ttl_s=messages.retention_s,
                emitted_score=score,
            )  # fmt: skip
            publications.extend(events)
        emit_many(self.storage, publications, dispatcher=self.dispatcher)
        if silent:
            self.storage.mailstate.mark_emitted(account.id, silent, messages.retention_s)

    def _regated(self, account: str, stored: Entry | None) -> gate.InboundGate:
        """A message gated before a crash (indexed, not emitted): delivered as then, and a hold
        it opened is announced now (its reviewPending went out with nothing before the crash)."""
        policy = stored.policy if stored is not None else None
        if policy is None or policy.state == "approved":
            return gate.InboundGate(True)
        review = self.storage.reviews.get(policy.review_id) if policy.review_id and policy.state == "pending" else None
        if review is None:
            return gate.InboundGate(False)
        return gate.InboundGate(False, Publication(account, EventName.REVIEW_PENDING, holds.event_data(review)))

    def _build(
        self, account: Account, folder: str, uidvalidity: int, items: list[Analysis]
    ) -> list[records.MessageRecord]:
        threads = [item.analysed.thread for item in items]
        known = self.storage.messages.conversations(account.id, [h for thread in threads for h in thread])
        received_at = self.clock.now()
        out = []
        for item, thread in zip(items, threads, strict=True):
            fields = item.analysed.fields
            header_id = fields["messageId"]
            # The newest message in References order that we know, stored or earlier in this batch.
            conversation = next((known[h] for h in reversed(thread) if h in known), None)
            conversation = conversation or ids.new_conversation_id(header_id, item.message_id)
            if header_id:
                known[header_id] = conversation  # a reply later in the same batch joins it
            record = records.MessageRecord.build(
                fields,
                message_id=item.message_id,
                account=account.id,
                folder=folder,
                uid=item.fetched.uid,
                uidvalidity=uidvalidity,
                received_at=received_at,
                conversation_id=conversation,
                flags=list(item.fetched.flags),
                extra=item.analysed.extra,
            )
            record = record.with_content(parseErrors=fields["parseErrors"] + item.analysed.errors)
            out.append(record)
        return out


def _adopt(built: records.MessageRecord, stored: Entry | None) -> records.MessageRecord:
    """The record to emit: built from the fetched bytes, with a stored entry's conversation and decision."""
    if stored is None:
        return built
    adopted = replace(built, conversation_id=stored.conversation_id)
    return adopted.with_content(policy=stored.policy.to_json()) if stored.policy is not None else adopted


def _what(state: AccountState) -> tuple[str, str] | None:
    return (state.error.code.value, state.error.message) if state.error else None
