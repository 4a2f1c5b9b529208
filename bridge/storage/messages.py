"""Stored inbound messages: records, raw sources, listing index, threading maps.

Records and sources expire after the retention time; the listing index is
cleaned lazily when it points at an expired record. ``save`` is the dedupe
point of the inbound pipeline: a record id that exists is never stored or
emitted twice.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

import redis

from bridge import keys
from bridge.errors import NotFound
from bridge.storage.base import redis_errors, text

DEFAULT_RETENTION_S = 30 * 24 * 3600
# A listing request reads at most this many index entries, whatever its filters.
_MAX_SCAN = 5_000


# One round trip per new message (the inbound burst pays it per message): the record
# only if new (SET NX, the dedupe point), then its source, listing entry and threading maps.
_SAVE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
if KEYS[4] then
  redis.call('SET', KEYS[4], ARGV[5], 'EX', ARGV[3])
  redis.call('SET', KEYS[5], ARGV[6], 'EX', ARGV[3])
end
return 1
"""


class MessageStore:
    def __init__(self, client: redis.Redis, retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.redis = client
        self.retention_s = retention_s
        self._save = client.register_script(_SAVE)

    @redis_errors
    def save(self, record: dict[str, Any], raw: bytes) -> bool:
        """Store a new record and its source. Returns False when it was stored before."""
        return self.save_many([(record, raw)])[0]

    @redis_errors
    def save_many(self, items: list[tuple[dict[str, Any], bytes]]) -> list[bool]:
        """``save`` for several (record, source) pairs in one round trip; each save is atomic."""
        if len(items) == 1:
            return [bool(self._save(*self._save_call(*items[0])))]
        pipe = self.redis.pipeline(transaction=False)
        for record, raw in items:
            self._save(*self._save_call(record, raw), client=pipe)
        return [bool(saved) for saved in pipe.execute()]

    def _save_call(self, record: dict[str, Any], raw: bytes) -> tuple[list[str], list[str | bytes | int]]:
        account, mid = record["account"], record["id"]
        names = [keys.message(account, mid), keys.message_source(account, mid), keys.message_index(account)]
        args: list[str | bytes | int] = [json.dumps(record), raw, self.retention_s, _order(record), mid]
        if record.get("messageId"):
            hid = keys.header_id_hash(record["messageId"])
            names += [keys.message_by_header_id(account, hid), keys.conversation_of(account, hid)]
            args.append(record["conversationId"])
        return names, args

    @redis_errors
    def exists(self, account: str, message_id: str) -> bool:
        return bool(self.redis.exists(keys.message(account, message_id)))

    @redis_errors
    def get(self, account: str, message_id: str) -> dict[str, Any]:
        """Raises: NotFound (code messageNotFound)."""
        raw = self.redis.get(keys.message(account, message_id))
        if raw is None:
            raise NotFound(f"no message {message_id!r} in account {account!r}", code="messageNotFound")
        record: dict[str, Any] = json.loads(raw)
        return record

    @redis_errors
    def get_many(self, account: str, message_ids: list[str]) -> list[dict[str, Any] | None]:
        """The records in order, None where one is gone; one round trip."""
        found = self.redis.mget([keys.message(account, mid) for mid in message_ids])
        return [json.loads(doc) if doc is not None else None for doc in found]

    @redis_errors
    def source(self, account: str, message_id: str) -> bytes:
        """Raises: NotFound (code messageNotFound)."""
        raw = self.redis.get(keys.message_source(account, message_id))
        if raw is None:
            raise NotFound(f"no message {message_id!r} in account {account!r}", code="messageNotFound")
        return raw if isinstance(raw, bytes) else text(raw).encode()

    @redis_errors
    def replace(self, record: dict[str, Any]) -> None:
        """Rewrite a stored record (flags changed), keeping its expiry."""
        self.redis.set(keys.message(record["account"], record["id"]), json.dumps(record), xx=True, keepttl=True)

    @redis_errors
    def delete(self, account: str, message_id: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.message(account, message_id), keys.message_source(account, message_id))
        pipe.zrem(keys.message_index(account), message_id)
        pipe.execute()

    @redis_errors
    def find_by_header_id(self, account: str, header_message_id: str) -> str | None:
        """The stored message id for a Message-ID header value, if we have it."""
        found = self.redis.get(keys.message_by_header_id(account, keys.header_id_hash(header_message_id)))
        return text(found) if found is not None else None

    @redis_errors
    def conversations(self, account: str, header_ids: list[str]) -> dict[str, str]:
        """Header Message-ID -> conversation, for those of ``header_ids`` that are known; one round trip."""
        wanted = list(dict.fromkeys(header_ids))
        if not wanted:
            return {}
        found = self.redis.mget([keys.conversation_of(account, keys.header_id_hash(h)) for h in wanted])
        return {h: text(value) for h, value in zip(wanted, found, strict=True) if value is not None}

    @redis_errors
    def remember_conversation(self, account: str, header_message_id: str, conversation_id: str) -> None:
        """Record the conversation of a message we sent, so replies to it join the thread."""
        key = keys.conversation_of(account, keys.header_id_hash(header_message_id))
        self.redis.set(key, conversation_id, ex=self.retention_s)

    @redis_errors
    def page(
        self, account: str, *, limit: int, before: tuple[int, str] | None = None, match: Any = None
    ) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
        """Newest first. ``before`` is the (score, id) cursor of the last item seen.

        ``match`` is an optional predicate over records. Returns the page and
        the cursor for the next one (None at the end). Equal scores are ordered
        by id, descending, as ZREVRANGEBYSCORE orders them.
        """
        index = keys.message_index(account)
        out: list[dict[str, Any]] = []
        cursor = before
        scanned = 0
        while scanned < _MAX_SCAN:
            batch = self._after(index, cursor, 200)
            if not batch:
                return out, None
            docs = self.redis.mget([keys.message(account, mid) for mid, _ in batch])
            for (mid, score), doc in zip(batch, docs, strict=True):
                scanned += 1
                cursor = (score, mid)
                if doc is None:
                    self.redis.zrem(index, mid)
                    continue
                record = json.loads(doc)
                if match is None or match(record):
                    out.append(record)
                    if len(out) == limit:
                        return out, cursor
        return out, cursor

    def _after(self, index: str, cursor: tuple[int, str] | None, count: int) -> list[tuple[str, int]]:
        if cursor is None:
            found = self.redis.zrevrangebyscore(index, "+inf", "-inf", start=0, num=count, withscores=True)
        else:
            score, mid = cursor
            ties = self.redis.zrevrangebyscore(index, score, score)
            skip = sum(1 for m in ties if text(m) >= mid)
            found = self.redis.zrevrangebyscore(index, score, "-inf", start=skip, num=count, withscores=True)
        return [(text(m), int(s)) for m, s in cast(list[tuple[Any, float]], found)]


def _order(record: dict[str, Any]) -> int:
    """Listing order: receive time in ms, ties broken by UID (mail fetched in one batch
    shares a millisecond). ms * 1000 stays below 2^53, so the float score is exact."""
    ms = int(datetime.fromisoformat(record["receivedAt"].replace("Z", "+00:00")).timestamp() * 1000)
    return ms * 1000 + int(record.get("uid", 0)) % 1000
