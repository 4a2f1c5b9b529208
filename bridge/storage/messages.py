"""The message index: one small entry per message the bridge has seen, and threading maps.

The IMAP server is the source of truth (issue 14): Redis keeps no bodies, sources
or attachments of delivered mail, only the ``Entry`` (``bridge.storage.message_index``,
a few hundred bytes in its compact stored form) of each message, what threads it,
and its place in the account's recency index, which is also the pipeline's "emitted"
mark (``bridge.storage.mailstate``). The exception: an inbound message held for
review keeps its full record with its review (``bridge.review.holds``) until a
reviewer decides, because it is delivered nowhere yet.

Threading, laid out so that most messages (a conversation of one) cost no key of their own:

- **Heads** (``keys.conversation_heads``): every message is filed under the conversation id it
  would start (``own_conversation`` of its Message-ID): ``<saved at>:<id>``, plus ``:<its
  conversation>`` when it joined another. That answers both questions a conversation of one
  asks: which conversation a reply to this Message-ID joins (``conversations``), and which
  message a conversation id names (``thread``). They are fields of 256 hashes per account,
  small enough for Redis's listpack encoding (``hash-max-listpack-entries`` 512 and
  ``-value`` 64 by default; ~55 B a message instead of ~290 B for two keys) up to ~128,000 messages
  in the retention window; past that a bucket turns into a hashtable and still works.
- **Threads** (``keys.conversation_messages``): a sorted set only once a second message joins a
  conversation (a reply, or another copy of the first: the same Message-ID in another folder, or
  the message at its new id while moved); it then takes the first one from its head. Read back in
  receive order.

Expiry: entries and threads by TTL, as before. Redis 7.0 has no per-field TTL, so a head carries
the time it was saved: reads ignore one older than the retention, the save that makes a bucket's
field count a multiple of 32 drops its stale fields, and a bucket not written to for the retention
expires whole. Layout 1 (a ``conv`` key per Message-ID and a ``thread`` set per conversation)
still reads: ``conversations`` falls back to the ``conv`` keys, which ``remember_conversation``
still writes for sent messages, and a ``thread`` set, old or new, wins over a head.
bench/redis_growth.py: 644 B per message in all, event stream aside (968 B with a ``thread`` and a
``conv`` key per message).

``save_entries`` is the dedupe point of the inbound pipeline: an id that has an entry
is never indexed twice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

import redis

from bridge import keys
from bridge.storage.base import redis_errors, text
from bridge.storage.message_index import Entry, PolicyState, own_conversation

DEFAULT_RETENTION_S = 30 * 24 * 3600
# A listing request reads at most this many index entries, whatever its filters.
_MAX_SCAN = 5_000
# A conversation id a message starts: its head's bucket is the first two digits, its field the rest.
_STARTED = re.compile(r"^conv_([0-9a-f]{2})([0-9a-f]{18})$")


# One round trip per new message: the entry only if new (SET NX, the dedupe point), then its
# head, and its place in its conversation's thread when it has or makes one (trimmed to the
# retention window and expiring with its newest member). Its place in the account's index is
# its "emitted" mark, set with its events (bridge.storage.publish) or by mark_emitted.
# KEYS: entry, thread of its conversation, bucket of its own head, bucket of its conversation's
# head, thread of its own conversation (the conversation id it would start).
# ARGV: stored entry, retention s, score, id, oldest score kept, own head field ('' none), own head
# value, its conversation's head field ('' none), '1' when it joined a conversation it did not
# start, the oldest head stamp kept (epoch s).
_SAVE_ENTRY = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return 0
end
local kept = tonumber(ARGV[10])
-- The message a head names, if it is live and began that conversation itself (no third part).
local function started(bucket, field)
  if field == '' then return nil end
  local head = redis.call('HGET', bucket, field)
  if not head then return nil end
  local stamp, first = string.match(head, '^(%w+):([%w_%-]+)$')
  if first and first ~= ARGV[4] and tonumber(stamp, 36) >= kept then return first end
  return nil
end
local function place(thread, member)
  redis.call('ZADD', thread, ARGV[3], member)
  redis.call('ZREMRANGEBYSCORE', thread, '-inf', '(' .. ARGV[5])
  redis.call('EXPIRE', thread, ARGV[2])
end
-- Another message (a copy in another folder, or this one before a move) began the conversation this
-- one would start: this head replaces its head, so it keeps that conversation as a thread set
-- (scored as this message: readers order a thread by its entries).
local before = started(KEYS[3], ARGV[6])
if before and redis.call('EXISTS', KEYS[5]) == 0 then
  place(KEYS[5], before)
end
local threaded = redis.call('EXISTS', KEYS[2]) == 1
if not threaded and ARGV[9] == '1' then
  -- A second message: the thread starts now, with the message that began the conversation.
  local first = started(KEYS[4], ARGV[8])
  if first then place(KEYS[2], first) end
  threaded = true
end
if threaded then
  place(KEYS[2], ARGV[4])
end
if ARGV[6] ~= '' then
  local added = redis.call('HSET', KEYS[3], ARGV[6], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  if added == 1 and redis.call('HLEN', KEYS[3]) % 32 == 0 then
    local all = redis.call('HGETALL', KEYS[3])
    for i = 1, #all, 2 do
      local stamp = string.match(all[i + 1], '^(%w+):')
      if not stamp or tonumber(stamp, 36) < kept then
        redis.call('HDEL', KEYS[3], all[i])
      end
    end
  end
end
return 1
"""


class MessageStore:
    def __init__(
        self, client: redis.Redis, retention_s: int = DEFAULT_RETENTION_S, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = client
        self.retention_s = retention_s
        self.clock = clock  # stamps heads (tests pass their own to step past the retention)
        self._save_entry = client.register_script(_SAVE_ENTRY)

    # --- the index -------------------------------------------------------------

    @redis_errors
    def save_entries(self, entries: list[Entry]) -> list[bool]:
        """Store new index entries in one round trip; False for each id that has one (the dedupe point)."""
        now = int(self.clock())
        if len(entries) == 1:
            return [bool(self._save_entry(*self._entry_call(entries[0], now)))]
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            self._save_entry(*self._entry_call(entry, now), client=pipe)
        return [bool(saved) for saved in pipe.execute()]

    def _entry_call(self, entry: Entry, now: int) -> tuple[list[str], list[str | int]]:
        account, conversation = entry.account, entry.conversation_id
        score = order(entry.received_at, entry.uid)
        oldest = score - self.retention_s * 1000 * 1000
        own = own_conversation(entry.message_id, entry.id)
        joined = conversation != own
        own_head = _STARTED.match(own)
        head = _STARTED.match(conversation) if joined else None
        # A message without a Message-ID in another's conversation can be nobody's head: no field.
        files = own_head is not None and (entry.message_id is not None or not joined)
        value = f"{_base36(now)}:{entry.id}" + (f":{conversation}" if joined else "")
        own_bucket = keys.conversation_heads(account, own_head[1] if own_head else "00")
        names = [
            keys.message_entry(account, entry.id),
            keys.conversation_messages(account, conversation),
            own_bucket,
            keys.conversation_heads(account, head[1]) if head else own_bucket,
            keys.conversation_messages(account, own),
        ]
        args: list[str | int] = [
            entry.stored(), self.retention_s, score, entry.id, oldest,
            own_head[2] if files and own_head else "", value, head[2] if head else "", "1" if joined else "0",
            now - self.retention_s,
        ]  # fmt: skip
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
        threaded = bool(ids)
        if not threaded:  # a conversation of one: its head names the message
            head = self._heads(account, [conversation_id])[0][0]
            if head is None or head[1] is not None:
                return []
            ids = [head[0]]
        found = self.redis.mget([keys.message_entry(account, mid) for mid in ids])
        gone = [mid for mid, doc in zip(ids, found, strict=True) if doc is None]
        if gone and threaded:
            self.redis.zrem(key, *gone)
        entries = [Entry.from_stored(doc, account, mid) for mid, doc in zip(ids, found, strict=True) if doc is not None]
        if not threaded:  # a head is filed by a 72-bit digest: make sure it is this conversation's
            entries = [e for e in entries if e.conversation_id == conversation_id]
        # A thread's first message is scored as the second (it joined the set then): order by the entries.
        return sorted(entries, key=lambda e: (order(e.received_at, e.uid), e.id))

    def _heads(
        self, account: str, conversation_ids: list[str], also: Sequence[str] = ()
    ) -> tuple[list[tuple[str, str | None] | None], list[Any]]:
        """For each conversation id a message would start: (that message, the conversation it joined
        instead, if it did), or None when no live head has it; and the values of the keys ``also``
        names (MGET), read in the same round trip."""
        started = [_STARTED.match(c) for c in conversation_ids]
        pipe = self.redis.pipeline(transaction=False)
        for match in started:
            if match is not None:
                pipe.hget(keys.conversation_heads(account, match[1]), match[2])
        if also:
            pipe.mget(also)
        replies = pipe.execute() if also or any(started) else []
        others: list[Any] = replies.pop() if also else []
        values = iter(replies)
        kept = int(self.clock()) - self.retention_s
        out: list[tuple[str, str | None] | None] = []
        for match in started:
            raw = next(values) if match is not None else None
            stamp, _, rest = text(raw).partition(":") if raw is not None else ("", "", "")
            if not rest or int(stamp, 36) < kept:
                out.append(None)
                continue
            message, _, joined = rest.partition(":")
            out.append((message, joined or None))
        return out, others

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
        """Header Message-ID -> conversation, for those of ``header_ids`` that are known; one round trip.

        A message filed as a head answers for its Message-ID, with or without angle brackets (the
        parser gives them without, the bridge's own sends keep them); else the ``conv`` key of a
        message the bridge sent (or of any message, in layout 1).
        """
        wanted = list(dict.fromkeys(header_ids))
        if not wanted:
            return {}
        spellings = [_spellings(h) for h in wanted]
        starts = [own_conversation(s, "") for forms in spellings for s in forms]
        found_heads, legacy = self._heads(
            account, starts, [keys.conversation_of(account, keys.header_id_hash(h)) for h in wanted]
        )
        heads = iter(zip(starts, found_heads, strict=True))
        out: dict[str, str] = {}
        for header, forms, older in zip(wanted, spellings, legacy, strict=True):
            found = [(start, head) for start, head in (next(heads) for _ in forms) if head is not None]
            if found:
                start, (_, joined) = found[0]
                out[header] = joined or start
            elif older is not None:
                out[header] = text(older)
        return out

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


def _spellings(header_id: str) -> list[str]:
    """A Message-ID as a head may be filed under: bare (as parsed) first, then in angle brackets."""
    bare = header_id.strip().strip("<>")
    return [bare, f"<{bare}>"] if bare else [header_id]


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out
