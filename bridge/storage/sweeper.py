"""The claim key of a sweep chain: at most one periodic sweep job per resource.

Outbox sends, webhook deliveries and review holds each have a sweep that
takes over what a dead process or a lost RQ job left behind. The sweep
re-enqueues itself while its index has entries; a string key with expiry
says a chain is scheduled. Whoever adds to the index claims the key (SET NX)
and starts a chain when it got it; the sweep ends the chain only when the
index is empty, checked and released in one Lua step, so either it sees the
new entry or the adder sees the key gone and starts a new chain.
"""

from __future__ import annotations

import redis

from bridge.storage.base import redis_errors

_RELEASE_IF_IDLE = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
"""


class SweepChain:
    def __init__(self, client: redis.Redis, index_key: str, sweeper_key: str) -> None:
        self.redis = client
        self.index_key = index_key  # the sorted set the sweep works through
        self.sweeper_key = sweeper_key
        self._release = client.register_script(_RELEASE_IF_IDLE)

    @redis_errors
    def claim(self, ttl_s: float) -> bool:
        """Take the right to schedule the chain; False while one is scheduled."""
        return bool(self.redis.set(self.sweeper_key, "1", nx=True, ex=max(1, int(ttl_s))))

    @redis_errors
    def keep(self, ttl_s: float) -> None:
        """The chain goes on: extend the key past the next sweep."""
        self.redis.set(self.sweeper_key, "1", ex=max(1, int(ttl_s)))

    @redis_errors
    def release_if_idle(self) -> bool:
        """End the chain when the index is empty; False when a next sweep is needed."""
        return bool(self._release(keys=[self.index_key, self.sweeper_key]))
