"""Reading the per-account event streams (Redis Streams) with their global, resumable order.

Events are written by ``bridge.storage.publish`` (stream entry and webhook
deliveries in one Lua step). Each entry sits at stream id ``<seq>-1``, where
``seq`` is the global sequence number, so an account's stream is strictly
increasing and the event id (``evt_<seq>``) is the resume position for
WebSocket clients. Streams are bounded by bytes and age (``bridge.config.EventRetention``,
BRIDGE_EVENT_RETENTION; trimmed by ``bridge.storage.publish``).
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from bridge import keys
from bridge.events.model import Event
from bridge.storage.base import redis_errors, text


class EventStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

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
    def recent(self, account: str, count: int) -> list[Event]:
        """The account's newest ``count`` events, oldest first (the console's first screenful)."""
        entries = cast(list[Any], self.redis.xrevrange(keys.events(account), count=count))
        return [_decode(entry_id, fields) for entry_id, fields in reversed(entries)]

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
