"""The message index: one small entry per message the bridge has seen, and threading maps.

The IMAP server is the source of truth (issue 14): Redis keeps no bodies, sources
or attachments of delivered mail, only the ``Entry`` (``bridge.storage.message_index``,
a few hundred bytes in its compact stored form) of each message, its place in its
conversation, the Message-ID → conversation map that threads replies, and its place
in the account's recency index, which is also the pipeline's "emitted" mark
(``bridge.storage.mailstate``). All of it expires after the retention time (entries
by TTL; the sorted sets are trimmed by score on every add and expire with their
newest member). bench/redis_growth.py: ~0.9 KiB per message in all. The exception:
an inbound message held for review keeps its full record with its review
(``bridge.review.holds``) until a reviewer decides, because it is delivered nowhere yet.

``save_entries`` is the dedupe point of the inbound pipeline: an id that has an entry
is never indexed twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import redis

from bridge import keys
from bridge.storage.base import redis_errors, text
from bridge.storage.message_index import Entry, PolicyState

DEFAULT_RETENTION_S = 30 * 24 * 3600
# A listing request reads at most this many index entries, whatever its filters.
_MAX_SCAN = 5_000


# One round trip per new message: the entry only if new (SET NX, the dedupe point), then its
# place in its conversation (trimmed to the retention window and expiring with its newest
# member) and the Message-ID -> conversation map. Its place in the account's index is its
# "emitted" mark, set with its events (bridge.storage.publish) or by mark_emitted.
_SAVE_ENTRY = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if KEYS[3] then
  redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[2])
end
return 1
"""


class MessageStore:
    def __init__(self, client: redis.Redis, retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.redis = client
        self.retention_s = retention_s
        self._save_entry = client.register_script(_SAVE_ENTRY)

    # --- the index -------------------------------------------------------------

    @redis_errors
    def save_entries(self, entries: list[Entry]) -> list[bool]:
        """Store new index entries in one round trip; False for each id that has one (the dedupe point)."""
        if len(entries) == 1:
            return [bool(self._save_entry(*self._entry_call(entries[0])))]
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            self._save_entry(*self._entry_call(entry), client=pipe)
        return [bool(saved) for saved in pipe.execute()]

    def _entry_call(self, entry: Entry) -> tuple[list[str], list[str | int]]:
        account = entry.account
        score = order(entry.received_at, entry.uid)
        oldest = score - self.retention_s * 1000 * 1000
        names = [keys.message_entry(account, entry.id), keys.conversation_messages(account, entry.conversation_id)]
        args: list[str | int] = [entry.stored(), self.retention_s, score, entry.id, oldest]
        if entry.message_id:
            names.append(keys.conversation_of(account, keys.header_id_hash(entry.message_id)))
            args.append(entry.conversation_id)
        return names, args

    @redis_errors
    def entry(self, account: str, message_id: str) -> Entry | None:
        """The index entry of a message, or None when the bridge has none (never saw it, or it expired)."""
        raw = self.redis.get(keys.message_entry(account, message_id))
        return Entry.from_stored(raw, account, message_id) if raw is not None else None

    @redis_errors
    def entries(self, account: str, message_ids: list[str]) -> list[Entry | None]:
        """The entries in order, None where there is none; one round trip."""
        if not message_ids:
            return []
        found = self.redis.mget([keys.message_entry(account, mid) for mid in message_ids])
        return [
            Entry.from_stored(doc, account, mid) if doc is not None else None
            for mid, doc in zip(message_ids, found, strict=True)
        ]

    @redis_errors
    def thread(self, account: str, conversation_id: str) -> list[Entry]:
        """The conversation's messages the bridge has seen, oldest first (inbound and Sent copies)."""
        key = keys.conversation_messages(account, conversation_id)
        ids = [text(m) for m in self.redis.zrange(key, 0, -1)]
        if not ids:
            return []
        found = self.redis.mget([keys.message_entry(account, mid) for mid in ids])
        gone = [mid for mid, doc in zip(ids, found, strict=True) if doc is None]
        if gone:
            self.redis.zrem(key, *gone)
        return [Entry.from_stored(doc, account, mid) for mid, doc in zip(ids, found, strict=True) if doc is not None]

    @redis_errors
    def set_flags(self, account: str, message_id: str, flags: list[str]) -> Entry | None:
        """Record the flags the server now has; the updated entry, or None when there is none."""
        return self._rewrite(account, message_id, lambda e: e.with_flags(flags))

    @redis_errors
    def set_policy(self, account: str, message_id: str, policy: PolicyState | None) -> Entry | None:
        """Record the policy's decision (held, rejected, approved); the updated entry, or None."""
        return self._rewrite(account, message_id, lambda e: e.with_policy(policy))

    def _rewrite(self, account: str, message_id: str, change: Any) -> Entry | None:
        # Read-modify-write without WATCH: flags and policy are each written by one party at a
        # time (the API after an IMAP STORE, the gate or a reviewer), and the TTL is kept.
        key = keys.message_entry(account, message_id)
        raw = self.redis.get(key)
        if raw is None:
            return None
        updated: Entry = change(Entry.from_stored(raw, account, message_id))
        self.redis.set(key, updated.stored(), xx=True, keepttl=True)
        return updated

    @redis_errors
    def delete_entry(self, account: str, message_id: str) -> None:
        """Forget a message (deleted or moved on the server): its entry, index and thread places."""
        found = self.entry(account, message_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.message_entry(account, message_id))
        pipe.zrem(keys.message_index(account), message_id)
        if found is not None:
            pipe.zrem(keys.conversation_messages(account, found.conversation_id), message_id)
        pipe.execute()

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
        """Index entries (their JSON), newest first. ``before`` is the (score, id) cursor of the last item seen.

        ``match`` is an optional predicate over entries' JSON. Returns the page and
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
            docs = self.redis.mget([keys.message_entry(account, mid) for mid, _ in batch])
            for (mid, score), doc in zip(batch, docs, strict=True):
                scanned += 1
                cursor = (score, mid)
                if doc is None:  # gone (deleted, or expired before its mark): the mark stays, it dedupes
                    continue
                record = Entry.from_stored(doc, account, mid).to_json()
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


def order(received_at: str, uid: int) -> int:
    """Listing and thread order: receive time in ms, ties broken by UID (mail fetched in one batch
    shares a millisecond). ms * 1000 stays below 2^53, so the float score is exact."""
    ms = int(datetime.fromisoformat(received_at.replace("Z", "+00:00")).timestamp() * 1000)
    return ms * 1000 + uid % 1000
