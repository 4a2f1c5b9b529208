"""Per-account protection policies and the per-sender rate-limit logs.

A policy is one JSON string per account (absent: the default policy), parsed
once per distinct document (an LRU cache keyed by the JSON), because the
watcher reads it for every message. Rate limits are sliding logs: a sorted
set per (account, sender) of message ids scored by arrival. One Lua step
drops entries older than a day, refuses a message past ``perHour`` or
``perDay``, and otherwise records it. A refused message is not recorded, so a
flood does not keep its sender locked out once it stops; a message already
in the log (the pipeline re-running after a crash) is not counted twice.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import redis

from bridge import keys
from bridge.schemas.policy import DEFAULT_POLICY, Policy, RateLimit
from bridge.storage.base import redis_errors, text

HOUR_S = 3600
DAY_S = 86400

# ARGV: now, member, perHour (0 = none), perDay (0 = none). Returns the exceeded window or ''.
_RATE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 86400)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return '' end
local hour, day = tonumber(ARGV[3]), tonumber(ARGV[4])
if hour > 0 and redis.call('ZCOUNT', KEYS[1], now - 3600, '+inf') >= hour then return 'perHour' end
if day > 0 and redis.call('ZCARD', KEYS[1]) >= day then return 'perDay' end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('EXPIRE', KEYS[1], 86400 + 60)
return ''
"""


@lru_cache(maxsize=256)
def _parse(document: str) -> Policy:
    return Policy.model_validate_json(document)


class PolicyStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._rate = client.register_script(_RATE)

    @redis_errors
    def get(self, account: str) -> Policy:
        """The account's policy, or the default one when none was set."""
        found = self.redis.get(keys.policy(account))
        return DEFAULT_POLICY if found is None else _parse(text(found))

    @redis_errors
    def put(self, account: str, policy: Policy) -> None:
        self.redis.set(keys.policy(account), policy.model_dump_json(by_alias=True))

    @redis_errors
    def delete(self, account: str) -> None:
        self.redis.delete(keys.policy(account))

    @redis_errors
    def count(self, account: str, sender: str, message_id: str, limit: RateLimit, now: float) -> str | None:
        """Record one message from ``sender`` unless it is past a limit; returns ``perHour``/``perDay`` then."""
        digest = hashlib.sha256(sender.lower().encode()).hexdigest()[:32]
        args: list[str | int] = [repr(now), message_id, limit.per_hour or 0, limit.per_day or 0]
        window = text(self._rate(keys=[keys.rate_log(account, digest)], args=args))
        return window or None
