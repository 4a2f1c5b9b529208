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

Idempotency keys live here too: the check, the claim and the new entry
commit in one MULTI/EXEC guarded by WATCH on the key, so two identical
requests racing each other queue one message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis
import redis.client

from bridge import keys
from bridge.errors import Conflict, NotFound
from bridge.records import header_id_hash
from bridge.storage.base import redis_errors, text

# Finished entries stay readable for a week (bounces arrive within days: RFC 5321 § 4.5.4.1 queues
# retry for 4-5 days); the bytes only a day, long enough for the Sent upload and its retries.
ENTRY_TTL_S = 7 * 24 * 3600
RAW_TTL_S = 24 * 3600
IDEMPOTENCY_TTL_S = 24 * 3600
ACTIVE_STATES = ("queued", "scheduled", "sending", "retrying")
_JSON_FIELDS = ("envelope", "lastError", "reference")
_INT_FIELDS = ("attempts", "maxAttempts")

_CLAIM = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'missing'} end
local now = tonumber(ARGV[3])
if st == 'sending' then
  if tonumber(redis.call('HGET', KEYS[1], 'leaseUntil') or '0') > now then return {'busy'} end
  if redis.call('HGET', KEYS[1], 'dataStarted') == '1' then
    redis.call('HSET', KEYS[1], 'possibleDuplicate', '1')
  end
elseif st == 'queued' or st == 'scheduled' or st == 'retrying' then
  if tonumber(redis.call('HGET', KEYS[1], 'due') or '0') > now + 1 then return {'early'} end
else
  return {st}
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'sending', 'owner', ARGV[1], 'leaseUntil', ARGV[2], 'dataStarted', '0')
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
local out = {'ok', redis.call('GET', KEYS[2]) or ''}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
"""

# ARGV: owner, then field/value pairs. Only the lease holder may change a sending entry.
_OWNED_SET = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""

# ARGV: owner, active score ('' = leave the active set), entry ttl, raw ttl, then field/value pairs.
_FINISH = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('HDEL', KEYS[1], 'owner', 'leaseUntil')
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[3], redis.call('HGET', KEYS[1], 'queueId'))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
else
  redis.call('ZADD', KEYS[3], ARGV[2], redis.call('HGET', KEYS[1], 'queueId'))
end
return 1
"""

_CANCEL = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'missing' end
if st ~= 'queued' and st ~= 'scheduled' and st ~= 'retrying' then return st end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'cancelledAt', ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 'ok'
"""


_RELEASE_SWEEPER = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of trying to take an entry for sending.

    ``status`` is "ok" (the caller holds the lease), "busy" (another worker
    does), "early" (not due yet), "missing", or the entry's final state.
    """

    status: str
    entry: dict[str, Any]
    raw: bytes


@dataclass(frozen=True, slots=True)
class Created:
    """The outcome of ``create``: the answer to give, and whether a sweep job must be started."""

    answer: dict[str, Any]
    replayed: bool = False
    start_sweeper: bool = False


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """An Idempotency-Key and the fingerprint of the request body that came with it."""

    account: str
    key: str
    fingerprint: str

    @property
    def redis_key(self) -> str:
        return keys.idempotency(self.account, header_id_hash(self.key))


class OutboxStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(_CLAIM)
        self._owned_set = client.register_script(_OWNED_SET)
        self._finish = client.register_script(_FINISH)
        self._cancel = client.register_script(_CANCEL)
        self._release = client.register_script(_RELEASE_SWEEPER)

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
        entry: dict[str, Any],
        raw: bytes,
        *,
        due: float,
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
        queue_id = entry["queueId"]
        stored = _encode({**entry, "due": repr(due)})
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
                        keys.outbox_by_message_id(entry["account"], header_id_hash(entry["messageId"])),
                        queue_id,
                        ex=ENTRY_TTL_S,
                    )
                    schedule(pipe)
                    pipe.set(keys.outbox_sweeper(), "1", nx=True, ex=max(1, int(sweep_ttl)))
                    results = pipe.execute()
                    return Created(answer, start_sweeper=bool(results[-1]))
                except redis.WatchError:
                    continue

    # -- reading -------------------------------------------------------------

    @redis_errors
    def get(self, queue_id: str) -> dict[str, Any]:
        """Raises: NotFound (code queueNotFound)."""
        raw = self.redis.hgetall(keys.outbox_entry(queue_id))
        if not raw:
            raise NotFound(f"no queued message {queue_id!r}", code="queueNotFound")
        return _decode(raw)

    @redis_errors
    def raw(self, queue_id: str) -> bytes:
        """The composed bytes. Raises: NotFound once they expired."""
        found = self.redis.get(keys.outbox_raw(queue_id))
        if found is None:
            raise NotFound(f"the message bytes of {queue_id!r} are gone", code="queueNotFound")
        return found if isinstance(found, bytes) else text(found).encode()

    @redis_errors
    def active(self, limit: int, account: str | None = None) -> list[dict[str, Any]]:
        """Unfinished entries (queued, scheduled, sending, retrying), soonest first."""
        out: list[dict[str, Any]] = []
        start = 0
        while len(out) < limit:
            ids = [text(i) for i in self.redis.zrange(keys.outbox_active(), start, start + 499)]
            if not ids:
                break
            start += len(ids)
            pipe = self.redis.pipeline(transaction=False)
            for qid in ids:
                pipe.hgetall(keys.outbox_entry(qid))
            for doc in pipe.execute():
                if doc and (account is None or text(doc.get(b"account", b"")) == account):
                    out.append(_decode(doc))
        return out[:limit]

    @redis_errors
    def find_by_message_id(self, account: str, message_id: str) -> dict[str, Any] | None:
        """The submission that sent this Message-ID (with or without <>), for tying a bounce to it."""
        queue_id = self.redis.get(keys.outbox_by_message_id(account, header_id_hash(message_id)))
        if queue_id is None:
            return None
        try:
            return self.get(text(queue_id))
        except NotFound:
            return None

    @redis_errors
    def overdue(self, before: float, limit: int = 500) -> list[dict[str, Any]]:
        """Active entries whose due time or lease ended before ``before`` (the sweep's candidates)."""
        ids = self.redis.zrangebyscore(keys.outbox_active(), "-inf", before, start=0, num=limit)
        pipe = self.redis.pipeline(transaction=False)
        for qid in ids:
            pipe.hgetall(keys.outbox_entry(text(qid)))
        docs = pipe.execute()
        stale = [text(q) for q, d in zip(ids, docs, strict=True) if not d]
        if stale:
            self.redis.zrem(keys.outbox_active(), *stale)
        return [_decode(d) for d in docs if d]

    # -- the state machine ---------------------------------------------------

    @redis_errors
    def claim(self, queue_id: str, owner: str, lease_until: float, now: float) -> Claim:
        """Take the entry for one send attempt (attempts + 1), or say why not."""
        reply = cast(list[Any], self._claim(keys=self._keys(queue_id), args=[owner, lease_until, now, queue_id]))
        status = text(reply[0])
        if status != "ok":
            return Claim(status=status, entry={}, raw=b"")
        fields = reply[2:]
        entry = _decode(dict(zip(fields[::2], fields[1::2], strict=True)))
        raw = reply[1] if isinstance(reply[1], bytes) else text(reply[1]).encode()
        return Claim(status="ok", entry=entry, raw=raw)

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
        self, queue_id: str, owner: str, *, error: dict[str, Any], next_at: float, next_iso: str, job_id: str
    ) -> bool:
        """Back to waiting until ``next_at``; ``job_id`` is the job that will make the next attempt."""
        return self._finish_as(
            queue_id,
            owner,
            next_at,
            state="retrying",
            due=repr(next_at),
            nextAttempt=next_iso,
            lastError=error,
            jobId=job_id,
        )

    @redis_errors
    def mark_failed(self, queue_id: str, owner: str, *, error: dict[str, Any]) -> bool:
        return self._finish_as(queue_id, owner, None, state="failed", nextAttempt="", lastError=error)

    @redis_errors
    def set_fields(self, queue_id: str, **fields: Any) -> None:
        """Record after-send details (Sent folder copy, flag results) on any entry that still exists."""
        if self.redis.exists(keys.outbox_entry(queue_id)):
            self.redis.hset(keys.outbox_entry(queue_id), mapping=_encode(fields))

    @redis_errors
    def claim_sweeper(self, ttl: float) -> bool:
        """Mark a sweep as scheduled unless one already is; True when the caller must schedule it."""
        return bool(self.redis.set(keys.outbox_sweeper(), "1", nx=True, ex=max(1, int(ttl))))

    @redis_errors
    def keep_sweeper(self, ttl: float) -> None:
        """Mark a sweep as scheduled for ``ttl`` seconds more."""
        self.redis.set(keys.outbox_sweeper(), "1", ex=max(1, int(ttl)))

    @redis_errors
    def release_sweeper_if_idle(self) -> bool:
        """End the sweep chain when nothing is active; False when a next sweep is needed."""
        return bool(self._release(keys=[keys.outbox_active(), keys.outbox_sweeper()]))

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
        for name, value in _encode(fields).items():
            pairs.extend((name, value))
        args = [owner, "" if score is None else score, ENTRY_TTL_S, RAW_TTL_S, *pairs]
        return bool(self._finish(keys=self._keys(queue_id), args=args))

    @staticmethod
    def _keys(queue_id: str) -> list[str]:
        return [keys.outbox_entry(queue_id), keys.outbox_raw(queue_id), keys.outbox_active()]


def _answer(stored: Any, claim: IdempotencyClaim) -> dict[str, Any] | None:
    if stored is None:
        return None
    record = json.loads(stored)
    if record["fingerprint"] != claim.fingerprint:
        raise Conflict(
            "this Idempotency-Key was already used with a different request body", code="idempotencyKeyReused"
        )
    answer: dict[str, Any] = record["answer"]
    return answer


def _encode(fields: dict[str, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for name, value in fields.items():
        if name in _JSON_FIELDS:
            out[name] = json.dumps(value) if value is not None else ""
        elif isinstance(value, bool):
            out[name] = "1" if value else ""
        else:
            out[name] = "" if value is None else str(value)
    return out


def _decode(raw: dict[Any, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {text(k): text(v) for k, v in raw.items()}
    for name in _JSON_FIELDS:
        entry[name] = json.loads(entry[name]) if entry.get(name) else None
    for name in _INT_FIELDS:
        entry[name] = int(entry.get(name) or 0)
    return entry
