"""Review holds: one hash per hold, the held outbound bytes, and the pending index.

The hash (``keys.review``) is the truth about a hold; its ``state`` leaves
``pending`` exactly once, in one Lua step (``decide``) that checks the state
and the expiry time and writes the outcome together, so two clicks, an API
call and the expiry job racing each other produce one transition. The state
machine is drawn in ``bridge.review.links``.

A hold and the RQ jobs that notify its reviewers and expire it are written in
one MULTI/EXEC (``create`` takes a ``schedule`` callback, as the outbox does),
so a hold never exists without its expiry job. Decided holds stay readable for
a week (a reused link can still say "already approved"); the held bytes are
dropped on rejection and kept a day after approval.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis
import redis.client

from bridge import keys
from bridge.storage.base import hashes_in_index, redis_errors, text
from bridge.storage.outbox_records import stored_answer
from bridge.storage.review_records import Review, decode, encode
from bridge.storage.sweeper import SweepChain

DECIDED_TTL_S = 7 * 24 * 3600
APPROVED_RAW_TTL_S = 24 * 3600

# KEYS: review, raw, pending. ARGV: target state, now, decidedAt, decidedBy, outcome, id, keep ttl, raw ttl ('' = drop).
# Returns 'ok', 'missing', 'late' (approve/reject at or after expiry), 'early' (expiry before time) or the final state.
_DECIDE = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'missing' end
if st ~= 'pending' then return st end
local target, now = ARGV[1], tonumber(ARGV[2])
local expires = tonumber(redis.call('HGET', KEYS[1], 'expiresAt'))
if target == 'expired' then
  if now < expires then return 'early' end
elseif now >= expires then
  return 'late'
end
redis.call('HSET', KEYS[1], 'state', target, 'decidedAt', ARGV[3], 'decidedBy', ARGV[4], 'outcome', ARGV[5])
redis.call('ZREM', KEYS[3], ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
if ARGV[8] == '' then redis.call('DEL', KEYS[2]) else redis.call('EXPIRE', KEYS[2], ARGV[8]) end
return 'ok'
"""


class ReviewStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self.sweeper = SweepChain(client, keys.reviews_pending(), keys.review_sweeper())
        self._decide = client.register_script(_DECIDE)

    @redis_errors
    def create(
        self,
        review: Review,
        raw: bytes | None,
        *,
        schedule: Callable[[redis.client.Pipeline], None],
        idempotency: tuple[str, str, dict[str, Any]] | None = None,
        idempotency_ttl_s: int = 24 * 3600,
    ) -> dict[str, Any] | None:
        """Store a new pending hold and let ``schedule`` add its jobs, in one transaction.

        ``idempotency`` is (redis key, request fingerprint, answer): the answer (the HTTP
        answer's JSON) is recorded under the key as the outbox does, so a replayed submit gets it.

        Returns None when stored, or the earlier answer when the hold (or the
        Idempotency-Key) already existed.

        Raises:
            Conflict: the Idempotency-Key was used with a different body.
        """
        key = keys.review(review.id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    watched = [key] + ([idempotency[0]] if idempotency else [])
                    pipe.watch(*watched)  # type: ignore[no-untyped-call]
                    if idempotency is not None:
                        earlier = pipe.get(idempotency[0])
                        if earlier is not None:
                            return stored_answer(earlier, idempotency[1])
                    if pipe.exists(key):
                        return {"status": "pending_review", "reviewId": review.id}
                    pipe.multi()
                    pipe.hset(key, mapping=encode(review.to_json()))
                    if raw is not None:
                        pipe.set(keys.review_raw(review.id), raw)
                    pipe.zadd(keys.reviews_pending(), {review.id: review.expires_at})
                    if idempotency is not None:
                        record = {"fingerprint": idempotency[1], "answer": idempotency[2]}
                        pipe.set(idempotency[0], json.dumps(record), ex=idempotency_ttl_s)
                    schedule(pipe)
                    pipe.execute()
                    return None
                except redis.WatchError:
                    continue

    @redis_errors
    def get(self, review_id: str) -> Review | None:
        found = self.redis.hgetall(keys.review(review_id))
        return decode(found) if found else None

    @redis_errors
    def raw(self, review_id: str) -> bytes | None:
        found = self.redis.get(keys.review_raw(review_id))
        if found is None:
            return None
        return found if isinstance(found, bytes) else text(found).encode()

    @redis_errors
    def pending(self, limit: int, account: str | None = None) -> list[Review]:
        """Pending holds, soonest expiry first, optionally of one account."""
        return [decode(doc) for doc in hashes_in_index(self.redis, keys.reviews_pending(), keys.review, limit, account)]

    @redis_errors
    def overdue(self, before: float, limit: int = 100) -> list[str]:
        """Ids of pending holds that expired before ``before`` (epoch s), soonest first."""
        found = self.redis.zrangebyscore(keys.reviews_pending(), "-inf", before, start=0, num=limit)
        return [text(review_id) for review_id in found]

    @redis_errors
    def decide(self, review_id: str, target: str, *, now: float, at: str, by: str, outcome: str, keep_raw: bool) -> str:
        """Move a pending hold to ``target`` (approved, rejected or expired); see ``_DECIDE`` for the answers."""
        args: list[str | int | float] = [
            target,
            repr(now),
            at,
            by,
            outcome,
            review_id,
            DECIDED_TTL_S,
            APPROVED_RAW_TTL_S if keep_raw else "",
        ]
        review_keys = [keys.review(review_id), keys.review_raw(review_id), keys.reviews_pending()]
        return text(self._decide(keys=review_keys, args=args))

    @redis_errors
    def drop_raw(self, review_id: str) -> None:
        """The hold's outcome was carried out: its message bytes (or inbound record) go."""
        self.redis.delete(keys.review_raw(review_id))

    @redis_errors
    def set_fields(self, review_id: str, **fields: Any) -> None:
        """Record follow-up details (the outbox queue id of an approved message) on an existing hold."""
        if self.redis.exists(keys.review(review_id)):
            self.redis.hset(keys.review(review_id), mapping=encode(fields))


def pending_holds(client: redis.Redis) -> int:
    """How many holds are pending, without a Vault (a worker's cheap startup check)."""
    return int(client.zcard(keys.reviews_pending()))
