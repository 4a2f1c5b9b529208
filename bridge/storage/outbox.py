"""The outbox: one entry per submission, its composed bytes, and its state machine.

An entry is a hash (``keys.outbox_entry``) and the exact MIME bytes a string
(``keys.outbox_raw``). The entry, not the RQ job, is the truth about a
submission; a job only says "look at this entry now". That makes every job
idempotent: a job for a cancelled, sent or already-leased entry does nothing.

States::

    scheduled ─┐
    queued ────┼─► sending ─► sent
    retrying ◄─┘      │  └──► failed
       ▲              │
       └──────────────┘ (transient failure, attempts left)
    queued/scheduled/retrying ─► cancelled

``sending`` carries a lease (``owner``, ``leaseUntil``) that the sending
worker renews. A worker that dies leaves an expired lease behind; the sweep
(``overdue``) finds it and a new job takes the entry over. Every transition
is one Lua script, so two workers can never both hold an entry.

Two ways in. ``create`` stores an entry with its own RQ job (scheduled
sends, held messages a reviewer approved). ``create_ready``, for a message
to send now, stores it and appends its id to the ready list in one Lua step;
a drain job (its id marked live in the drainers set) pops and claims ready
entries with ``claim_next`` and sends them one after another, so a send
costs no RQ job of its own; a backlog brings in helper drain jobs, up to
a limit, to use more worker processes. Pop and claim are one step: an id leaves the
list only as a ``sending`` entry under a lease, and a drain job killed
mid-send leaves exactly what a killed send job leaves. Ids of entries
cancelled or taken over meanwhile are dropped when popped.

Idempotency keys live here too: the check, the claim and the new entry
commit together (``create``: one MULTI/EXEC guarded by WATCH on the key;
``create_ready``: the same Lua step), so two identical requests racing
each other queue one message. The Lua sources are in
``bridge.storage.outbox_lua``, the field encodings in ``bridge.storage.outbox_records``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import redis
import redis.client

from bridge import keys
from bridge.errors import Conflict, NotFound
from bridge.storage import outbox_lua as lua
from bridge.storage.base import hashes_in_index, redis_errors, text
from bridge.storage.outbox_records import (
    Claim,
    Created,
    IdempotencyClaim,
    OutboxEntry,
    SendFailure,
    claim_of,
    decode,
    encode,
    stored_answer,
)
from bridge.storage.sweeper import SweepChain

# Finished entries stay readable for a week (bounces arrive within days: RFC 5321 § 4.5.4.1 queues
# retry for 4-5 days); the bytes only a day, long enough for the Sent upload and its retries.
ENTRY_TTL_S = 7 * 24 * 3600
RAW_TTL_S = 24 * 3600
IDEMPOTENCY_TTL_S = 24 * 3600
ACTIVE_STATES = ("queued", "scheduled", "sending", "retrying")
# Stale ready-list ids (cancelled, already sent by a sweep job) one claim_next call may drop.
_STALE_PER_CLAIM = 100


class OutboxStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(lua.CLAIM)
        self._owned_set = client.register_script(lua.OWNED_SET)
        self._finish = client.register_script(lua.FINISH)
        self._cancel = client.register_script(lua.CANCEL)
        self.sweeper = SweepChain(client, keys.outbox_active(), keys.outbox_sweeper())
        self._create_ready = client.register_script(lua.CREATE_READY)
        self._claim_next = client.register_script(lua.CLAIM_NEXT)
        self._hand_over = client.register_script(lua.HAND_OVER)
        # Ids popped inside CLAIM_NEXT name their keys from these halves (keys.py stays the one source).
        self._entry_key = keys.outbox_entry("\0").split("\0")
        self._raw_key = keys.outbox_raw("\0").split("\0")

    # -- submitting ----------------------------------------------------------

    @redis_errors
    def replay(self, claim: IdempotencyClaim) -> dict[str, Any] | None:
        """The first answer for this Idempotency-Key, or None when the key is new.

        Raises:
            Conflict: the key was used with a different body.
        """
        return _answer(self.redis.get(claim.redis_key), claim)

    @redis_errors
    def create(
        self,
        entry: OutboxEntry,
        raw: bytes,
        *,
        idempotency: IdempotencyClaim | None,
        answer: dict[str, Any],
        schedule: Callable[[redis.client.Pipeline], None],
        sweep_ttl: float,
    ) -> Created:
        """Store a new entry and its bytes, and let ``schedule`` add the RQ job, in one transaction.

        Returns ``answer``, or the first answer when the Idempotency-Key was claimed meanwhile.
        ``start_sweeper`` says no sweep was scheduled (the caller schedules one; ``sweep_ttl``
        bounds how long a sweep chain that died can block a new one).

        Raises:
            Conflict: the Idempotency-Key was used with a different body.
        """
        queue_id, due = entry.queue_id, entry.due
        stored = encode(entry.to_json())
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    if idempotency is not None:
                        pipe.watch(idempotency.redis_key)  # type: ignore[no-untyped-call]
                        earlier = _answer(pipe.get(idempotency.redis_key), idempotency)
                        if earlier is not None:
                            return Created(earlier, replayed=True)
                    pipe.multi()
                    if idempotency is not None:
                        record = {"fingerprint": idempotency.fingerprint, "answer": answer}
                        pipe.set(idempotency.redis_key, json.dumps(record), ex=IDEMPOTENCY_TTL_S)
                    pipe.hset(keys.outbox_entry(queue_id), mapping=stored)
                    pipe.set(keys.outbox_raw(queue_id), raw)
                    pipe.zadd(keys.outbox_active(), {queue_id: due})
                    pipe.set(
                        keys.outbox_by_message_id(entry.account, keys.header_id_hash(entry.message_id)),
                        queue_id,
                        ex=ENTRY_TTL_S,
                    )
                    schedule(pipe)
                    pipe.set(keys.outbox_sweeper(), "1", nx=True, ex=max(1, int(sweep_ttl)))
                    results = pipe.execute()
                    return Created(answer, start_sweeper=bool(results[-1]))
                except redis.WatchError:
                    continue

    @redis_errors
    def create_ready(
        self,
        entry: OutboxEntry,
        raw: bytes,
        *,
        idempotency: IdempotencyClaim | None,
        answer: dict[str, Any],
        drain_job_id: str,
        drainer_ttl: float,
        sweep_ttl: float,
        now: float,
    ) -> Created:
        """Store an entry to send now and put it on the ready list, in one Lua step (one round trip).

        No RQ job per entry: the drain job (``claim_next``) takes ready entries in order.
        ``start_drainer`` says no drain job was queued or running, and the caller must
        enqueue one with ``drain_job_id``, which now holds a live mark.

        Raises:
            Conflict: the Idempotency-Key was used with a different body.
        """
        queue_id, due = entry.queue_id, entry.due
        fields = json.dumps(encode(entry.to_json()), separators=(",", ":"))
        record = json.dumps({"fingerprint": idempotency.fingerprint, "answer": answer}) if idempotency else ""
        reply = cast(
            list[Any],
            self._create_ready(
                keys=[
                    keys.outbox_entry(queue_id),
                    keys.outbox_raw(queue_id),
                    keys.outbox_active(),
                    keys.outbox_by_message_id(entry.account, keys.header_id_hash(entry.message_id)),
                    keys.outbox_ready(),
                    keys.outbox_drainers(),
                    keys.outbox_sweeper(),
                    idempotency.redis_key if idempotency else keys.outbox_ready(),
                ],
                args=[
                    queue_id,
                    repr(due),
                    ENTRY_TTL_S,
                    IDEMPOTENCY_TTL_S,
                    record,
                    drain_job_id,
                    max(1, int(drainer_ttl)),
                    max(1, int(sweep_ttl)),
                    raw,
                    fields,
                    repr(now),
                ],
            ),
        )
        if text(reply[0]) == "replay":
            assert idempotency is not None  # noqa: S101 - only a claimed key replays
            earlier = _answer(reply[1], idempotency)
            assert earlier is not None  # noqa: S101 - the script found a record
            return Created(earlier, replayed=True)
        return Created(answer, start_drainer=bool(reply[1]), start_sweeper=bool(reply[2]))

    # -- reading -------------------------------------------------------------

    @redis_errors
    def get(self, queue_id: str) -> OutboxEntry:
        """The entry (its JSON form, as the API shows it, is ``to_json()``). Raises: NotFound (code queueNotFound)."""
        raw = self.redis.hgetall(keys.outbox_entry(queue_id))
        if not raw:
            raise NotFound(f"no queued message {queue_id!r}", code="queueNotFound")
        return decode(raw)

    @redis_errors
    def raw(self, queue_id: str) -> bytes:
        """The composed bytes. Raises: NotFound once they expired."""
        found = self.redis.get(keys.outbox_raw(queue_id))
        if found is None:
            raise NotFound(f"the message bytes of {queue_id!r} are gone", code="queueNotFound")
        return found if isinstance(found, bytes) else text(found).encode()

    @redis_errors
    def active(self, limit: int, account: str | None = None) -> list[OutboxEntry]:
        """Unfinished entries (queued, scheduled, sending, retrying), soonest first."""
        found = hashes_in_index(self.redis, keys.outbox_active(), keys.outbox_entry, limit, account)
        return [decode(doc) for doc in found]

    @redis_errors
    def find_by_message_id(self, account: str, message_id: str) -> OutboxEntry | None:
        """The submission that sent this Message-ID (with or without <>), for tying a bounce to it."""
        queue_id = self.redis.get(keys.outbox_by_message_id(account, keys.header_id_hash(message_id)))
        if queue_id is None:
            return None
        try:
            return self.get(text(queue_id))
        except NotFound:
            return None

    @redis_errors
    def overdue(self, before: float, limit: int = 500) -> list[OutboxEntry]:
        """Active entries whose due time or lease ended before ``before`` (the sweep's candidates)."""
        ids = self.redis.zrangebyscore(keys.outbox_active(), "-inf", before, start=0, num=limit)
        pipe = self.redis.pipeline(transaction=False)
        for qid in ids:
            pipe.hgetall(keys.outbox_entry(text(qid)))
        docs = pipe.execute()
        stale = [text(q) for q, d in zip(ids, docs, strict=True) if not d]
        if stale:
            self.redis.zrem(keys.outbox_active(), *stale)
        return [decode(d) for d in docs if d]

    # -- the state machine ---------------------------------------------------

    @redis_errors
    def claim(self, queue_id: str, owner: str, lease_until: float, now: float) -> Claim:
        """Take the entry for one send attempt (attempts + 1), or say why not."""
        reply = cast(list[Any], self._claim(keys=self._keys(queue_id), args=[owner, lease_until, now, queue_id]))
        return claim_of(reply)

    @redis_errors
    def claim_next(
        self,
        owner: str,
        lease_until: float,
        now: float,
        *,
        drainer: str,
        drainer_ttl: float,
        helper: str,
        max_drainers: int,
        helper_backlog: int,
    ) -> Claim:
        """Pop the ready list until an entry is claimed for its first attempt (attempts + 1).

        ``status`` is "ok", "empty" (the list is empty; ``drainer``'s mark is removed) or
        "more" (only stale ids seen so far; call again). Keeps ``drainer``'s mark alive for
        ``drainer_ttl``. ``Claim.helper`` says a mark for ``helper`` was added (at least
        ``helper_backlog`` ids wait and fewer than ``max_drainers`` marks are live): the
        caller enqueues that drain job.
        """
        reply = cast(
            list[Any],
            self._claim_next(
                keys=[keys.outbox_ready(), keys.outbox_drainers(), keys.outbox_active()],
                args=[
                    owner,
                    lease_until,
                    repr(now),
                    drainer,
                    max(1, int(drainer_ttl)),
                    *self._entry_key,
                    *self._raw_key,
                    _STALE_PER_CLAIM,
                    max_drainers,
                    helper,
                    helper_backlog,
                ],
            ),
        )
        if text(reply[0]) != "ok":
            return claim_of(reply)
        return replace(claim_of([reply[0], *reply[2:]]), helper=bool(reply[1]))

    @redis_errors
    def drainers(self, now: float) -> list[str]:
        """Ids of the drain jobs whose marks are live (queued or running drain jobs)."""
        return [text(i) for i in self.redis.zrangebyscore(keys.outbox_drainers(), f"({now!r}", "+inf")]

    @redis_errors
    def keep_drainer(self, drainer: str, ttl: float, now: float) -> None:
        """Extend a drain job's mark (a long send must not let it lapse)."""
        self._hand_over(keys=[keys.outbox_drainers()], args=[drainer, drainer, max(1, int(ttl)), repr(now)])

    @redis_errors
    def hand_over_drainer(self, drainer: str, successor: str, ttl: float, now: float) -> bool:
        """Pass a drain job's mark to the job that continues its drain; False when it had none."""
        args: list[str | int] = [drainer, successor, max(1, int(ttl)), repr(now)]
        return bool(self._hand_over(keys=[keys.outbox_drainers()], args=args))

    @redis_errors
    def ready_count(self) -> int:
        return int(self.redis.llen(keys.outbox_ready()))

    @redis_errors
    def renew(self, queue_id: str, owner: str, lease_until: float) -> bool:
        """Extend the lease; False when another worker took the entry over."""
        ok = self._owned_set(keys=self._keys(queue_id), args=[owner, "leaseUntil", lease_until])
        if ok:
            self.redis.zadd(keys.outbox_active(), {queue_id: lease_until}, xx=True)
        return bool(ok)

    @redis_errors
    def mark_data_started(self, queue_id: str, owner: str) -> None:
        """Record that DATA is about to be sent: from here a crash may leave a delivered message behind."""
        self._owned_set(keys=self._keys(queue_id), args=[owner, "dataStarted", "1"])

    @redis_errors
    def mark_sent(self, queue_id: str, owner: str, *, response: str, sent_at: str) -> bool:
        return self._finish_as(queue_id, owner, None, state="sent", response=response, sentAt=sent_at, nextAttempt="")

    @redis_errors
    def mark_retry(
        self, queue_id: str, owner: str, *, error: SendFailure, next_at: float, next_iso: str, job_id: str
    ) -> bool:
        """Back to waiting until ``next_at``; ``job_id`` is the job that will make the next attempt."""
        return self._finish_as(
            queue_id,
            owner,
            next_at,
            state="retrying",
            due=repr(next_at),
            nextAttempt=next_iso,
            lastError=error.to_json(),
            jobId=job_id,
        )

    @redis_errors
    def mark_failed(self, queue_id: str, owner: str, *, error: SendFailure) -> bool:
        return self._finish_as(queue_id, owner, None, state="failed", nextAttempt="", lastError=error.to_json())

    @redis_errors
    def set_fields(self, queue_id: str, **fields: Any) -> None:
        """Record after-send details (Sent folder copy, flag results) on any entry that still exists."""
        if self.redis.exists(keys.outbox_entry(queue_id)):
            self.redis.hset(keys.outbox_entry(queue_id), mapping=encode(fields))

    @redis_errors
    def drop_raw(self, queue_id: str) -> None:
        """The message is sent and filed: its bytes exist on the SMTP server's side and in Sent, not here."""
        self.redis.delete(keys.outbox_raw(queue_id))

    @redis_errors
    def reschedule(self, queue_id: str, when: float) -> None:
        """Move an active entry's next check (the sweep uses it after looking at an entry)."""
        self.redis.zadd(keys.outbox_active(), {queue_id: when}, xx=True)

    @redis_errors
    def cancel(self, queue_id: str, cancelled_at: str) -> None:
        """Cancel an entry that has not started sending.

        Raises:
            NotFound: no such entry.
            Conflict: it is being sent, or it is finished (code notCancellable).
        """
        result = text(self._cancel(keys=self._keys(queue_id), args=[cancelled_at, ENTRY_TTL_S, queue_id]))
        if result == "missing":
            raise NotFound(f"no queued message {queue_id!r}", code="queueNotFound")
        if result != "ok":
            raise Conflict(f"the message is {result}; it can no longer be cancelled", code="notCancellable")

    def _finish_as(self, queue_id: str, owner: str, score: float | None, **fields: Any) -> bool:
        pairs: list[Any] = []
        for name, value in encode(fields).items():
            pairs.extend((name, value))
        args = [owner, "" if score is None else score, ENTRY_TTL_S, RAW_TTL_S, *pairs]
        return bool(self._finish(keys=self._keys(queue_id), args=args))

    @staticmethod
    def _keys(queue_id: str) -> list[str]:
        return [keys.outbox_entry(queue_id), keys.outbox_raw(queue_id), keys.outbox_active()]


def _answer(stored: Any, claim: IdempotencyClaim) -> dict[str, Any] | None:
    return stored_answer(stored, claim.fingerprint)
