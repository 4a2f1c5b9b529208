"""Per-account event streams (Redis Streams) with a global, resumable order.

Appending is one Lua script: take the next global sequence number and XADD
the envelope at stream id ``<seq>-1``. Doing both atomically keeps each
account's stream strictly increasing even with many emitters, and makes the
event id (``evt_<seq>``) the resume position for WebSocket clients.
Streams are capped (``MAXLEN ~``) so a busy account cannot grow Redis forever.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from bridge import keys
from bridge.events import Event
from bridge.storage.base import redis_errors, text, utc_now

# Events a client can replay after a disconnect, per account (approximate: XADD MAXLEN ~).
STREAM_RETENTION = 10_000

_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-1', 'e', ARGV[1])
return seq
"""


class EventStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._append = client.register_script(_APPEND)

    @redis_errors
    def append(self, account: str, name: str, data: dict[str, Any], date: str | None = None) -> Event:
        """Store an event at the end of the account's stream and return it with its id."""
        when = date or utc_now()
        body = json.dumps({"event": name, "account": account, "date": when, "data": data}, separators=(",", ":"))
        seq = int(self._append(keys=[keys.event_seq(), keys.events(account)], args=[body, STREAM_RETENTION]))
        return Event(seq=seq, event=name, account=account, date=when, data=data)

    @redis_errors
    def since(self, account: str, after_seq: int, count: int = 500) -> list[Event]:
        """Events of the account after ``after_seq`` (exclusive), oldest first."""
        entries = cast(list[Any], self.redis.xrange(keys.events(account), min=f"({after_seq}-1", max="+", count=count))
        return [_decode(entry_id, fields) for entry_id, fields in entries]

    @redis_errors
    def wait(self, account: str, after_seq: int, block_ms: int, count: int = 500) -> list[Event]:
        """Block up to ``block_ms`` for events after ``after_seq``."""
        found = cast(
            list[Any], self.redis.xread({keys.events(account): f"{after_seq}-1"}, count=count, block=block_ms) or []
        )
        return [_decode(entry_id, fields) for _, entries in found for entry_id, fields in entries]

    @redis_errors
    def last_seq(self, account: str) -> int:
        """The newest event's sequence number in the account's stream, 0 when empty."""
        newest = cast(list[Any], self.redis.xrevrange(keys.events(account), count=1))
        return int(text(newest[0][0]).split("-")[0]) if newest else 0

    @redis_errors
    def oldest_seq(self, account: str) -> int:
        oldest = cast(list[Any], self.redis.xrange(keys.events(account), count=1))
        return int(text(oldest[0][0]).split("-")[0]) if oldest else 0


def _decode(entry_id: bytes | str, fields: dict[Any, Any]) -> Event:
    body = json.loads(fields.get(b"e") or fields["e"])
    seq = int(text(entry_id).split("-")[0])
    return Event(seq=seq, event=body["event"], account=body["account"], date=body["date"], data=body["data"])
