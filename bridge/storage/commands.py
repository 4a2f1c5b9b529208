"""Mailbox commands between web processes and the watcher holding an account: request and reply lists.

A request is pushed onto the holding watcher's list; its reply (an acknowledgement,
then the answer) onto a list of its own that the asker pops, so nothing stays behind
once read. Both lists expire: a request no one took, or an answer no one waited for
(the asker gave up), is gone within seconds. Payloads are opaque bytes (``bridge.mailbox.protocol``).
"""

from __future__ import annotations

import redis

from bridge import keys
from bridge.storage.base import redis_errors

# redis-py's socket timeout (bridge.storage.base.connect) is 5 s: a blocking pop waits less than that.
_MAX_BLOCK_S = 4.0
# Who holds the account's lease, and the request pushed onto that watcher's list, in one round trip:
# a kept listing's whole way through the web process is a handful of round trips, each ~0.1-0.3 ms.
_SEND_TO_HOLDER = """
local owner = redis.call('GET', KEYS[1])
if not owner then return false end
local key = ARGV[1] .. owner
redis.call('RPUSH', key, ARGV[2])
redis.call('EXPIRE', key, ARGV[3])
return owner
"""


class CommandStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._send_to_holder = client.register_script(_SEND_TO_HOLDER)

    @redis_errors
    def send_to_holder(self, account: str, request: bytes, ttl_s: int) -> str | None:
        """Push the request to the watcher holding the account's lease; that watcher's id, or None (not sent)."""
        found = self._send_to_holder(
            keys=[keys.account_lease(account)], args=[keys.mailbox_commands(""), request, ttl_s]
        )
        return _raw(found).decode() if found else None

    @redis_errors
    def take(self, watcher_id: str, timeout_s: float) -> bytes | None:
        """The oldest request for this watcher, waiting up to ``timeout_s`` (at most 4 s) for one."""
        return self._pop(keys.mailbox_commands(watcher_id), timeout_s)

    @redis_errors
    def answer(self, request_id: str, value: bytes, ttl_s: int) -> None:
        self._push(keys.mailbox_reply(request_id), value, ttl_s)

    @redis_errors
    def wait(self, request_id: str, timeout_s: float) -> bytes | None:
        """The next element of a reply, waiting up to ``timeout_s`` (at most 4 s); None if none came."""
        return self._pop(keys.mailbox_reply(request_id), timeout_s)

    @redis_errors
    def forget(self, request_id: str) -> None:
        self.redis.delete(keys.mailbox_reply(request_id))

    def _push(self, key: str, value: bytes, ttl_s: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(key, value)
        pipe.expire(key, ttl_s)
        pipe.execute()

    def _pop(self, key: str, timeout_s: float) -> bytes | None:
        found = self.redis.blpop([key], timeout=min(timeout_s, _MAX_BLOCK_S))
        return _raw(found[1]) if found else None


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
