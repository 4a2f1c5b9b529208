"""Publishing events: the stream entry and its webhook deliveries in one atomic Lua step.

One step per event takes the next global sequence number, appends the
envelope to the account's stream at ``<seq>-1``, matches the webhook
subscriptions (event name, account), stores the exact body bytes once, as a
copy the event's pending deliveries share (``bridge.storage.webhooks``: it goes
when the last of them is no longer pending), and writes one pending delivery
per match (record, per-subscription index, due set), and claims the sweeper key. A crash can therefore never leave an event
in the stream without its deliveries, or deliveries without their event.

The step can also set the inbound pipeline's "emitted" mark of a message (its
place in the account's message index, ``keys.message_index``), so "the
message's events exist" and "the message is marked emitted" are one fact in
Redis, not two that a crash could split.

``publish`` takes a list: several events go out in one MULTI/EXEC round trip
(the inbound burst publishes a whole batch at once), all or none of them.
Delivery, index and body keys are built inside Lua from prefixes taken from
``bridge.keys`` (standalone Redis; Cluster is not supported).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, cast

import redis

from bridge import keys
from bridge.config import EventRetention
from bridge.events.model import EVENT_ID_PREFIX, Event
from bridge.storage.base import redis_errors, text, utc_now
from bridge.storage.webhooks import MAX_LISTED
from bridge.webhooks.delivery import Delivery, DeliveryStatus

# ARGV[1] is the envelope JSON without its opening brace: the stream keeps '{' .. tail and the
# webhook body is '{"id":"evt_<seq>",' .. tail, byte for byte what Python's json.dumps makes of
# Event.to_dict() (id first), computed here because only Lua knows the sequence number.
#
# The stream is bounded by bytes and by age (``EventRetention``): each entry carries ``o``, the
# account's running total of envelope bytes up to and including it (so the bytes from an entry
# to the newest are ``total - o + len(e)``), and ``t``, its time in ms.
# After the XADD, the oldest entries are dropped while they fall outside either bound (the
# oldest looked at alone first: it is almost always kept, and reading 32 envelopes back for
# every event was most of the step's cost; then 32 at a time, at most 2,049 per event, so one
# step stays short; events come in time
# order, so the backlog of expired ones drains as new ones arrive), and the stream and its
# counter expire together after the age bound, which covers an account that falls silent.
# Entries without ``o``/``t`` (written before the bound existed) count as expired.
_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
local eid = ARGV[16] .. seq
local envelope = '{' .. ARGV[1]
local total = redis.call('INCRBY', KEYS[6], #envelope)
redis.call('XADD', KEYS[2], seq .. '-1', 'e', envelope, 'o', total, 't', ARGV[19])
redis.call('PEXPIRE', KEYS[2], ARGV[18])
redis.call('PEXPIRE', KEYS[6], ARGV[18])
local floor_o = total - tonumber(ARGV[2])
local floor_t = tonumber(ARGV[19]) - tonumber(ARGV[18])
local start, keep, dropped, count = '-', nil, false, 1
for _ = 1, 65 do
  local batch = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', count)
  for _, item in ipairs(batch) do
    local f = item[2]
    local o, t, size = 0, 0, 0
    for i = 1, #f, 2 do
      if f[i] == 'o' then o = tonumber(f[i + 1]) elseif f[i] == 't' then t = tonumber(f[i + 1])
      elseif f[i] == 'e' then size = #f[i + 1] end
    end
    -- kept: this entry and every newer one fit in the byte bound, and it is young enough
    if o - size >= floor_o and t >= floor_t then keep = item[1] break end
    dropped = true
  end
  if keep or #batch < count then break end
  start = '(' .. batch[#batch][1]
  count = 32
end
if dropped then
  if keep then redis.call('XTRIM', KEYS[2], 'MINID', keep) else redis.call('XTRIM', KEYS[2], 'MINID', start) end
end
if KEYS[7] then
  redis.call('ZADD', KEYS[7], ARGV[20], ARGV[21])
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. (tonumber(ARGV[20]) - tonumber(ARGV[17]) * 1000000))
  redis.call('EXPIRE', KEYS[7], ARGV[17])
end
local out = {}
for _, raw in ipairs(redis.call('HVALS', KEYS[3])) do
  local s = cjson.decode(raw)
  local ok = s.account == nil or s.account == cjson.null or s.account == ARGV[4]
  if ok and s.events ~= nil and s.events ~= cjson.null then
    ok = false
    for _, name in ipairs(s.events) do
      if name == ARGV[3] then ok = true break end
    end
  end
  if ok then table.insert(out, s.id) end
end
if #out == 0 then return {seq, 0, {}} end
local body_key = ARGV[15] .. eid
redis.call('HSET', body_key, 'b', '{"id":"' .. eid .. '",' .. ARGV[1], 'n', #out)
redis.call('EXPIRE', body_key, ARGV[5])
local made = {}
for i, wid in ipairs(out) do
  local id = ARGV[10] .. string.format('%02x', i)
  local dkey = ARGV[8] .. id
  redis.call('HSET', dkey, 'id', id, 'webhook', wid, 'eventId', eid, 'event', ARGV[3], 'account', ARGV[4],
    'seq', seq, 'created', ARGV[11], 'status', 'pending', 'attempts', 0, 'round', 0, 'nextAt', ARGV[12],
    'lastStatus', '', 'lastError', '', 'bodyKey', body_key)
  redis.call('EXPIRE', dkey, ARGV[5])
  local index = ARGV[13] .. wid .. ARGV[14]
  redis.call('ZADD', index, seq, id)
  -- Past the listing's bound, a finished delivery's record and attempt log go with its place in
  -- the listing (a pending one stays until it is done, then expires), so they are bounded by count.
  for _, old in ipairs(redis.call('ZRANGE', index, 0, -tonumber(ARGV[9]) - 1)) do
    if redis.call('HGET', ARGV[8] .. old, 'status') ~= 'pending' then
      redis.call('DEL', ARGV[8] .. old, ARGV[22] .. old .. ARGV[23])
    end
  end
  redis.call('ZREMRANGEBYRANK', index, 0, -tonumber(ARGV[9]) - 1)
  redis.call('ZADD', KEYS[4], ARGV[6], id)
  table.insert(made, id)
  table.insert(made, wid)
end
local started = redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[7])
return {seq, started and 1 or 0, made}
"""


@dataclass(frozen=True, slots=True)
class Publication:
    """One event to publish; ``emitted`` names an inbound message to mark emitted with it, at
    ``emitted_score`` in the account's message index (``bridge.storage.messages.order``), kept
    ``emitted_ttl_s``."""

    account: str
    name: str
    data: dict[str, Any]
    emitted: str | None = None
    emitted_ttl_s: int = 0
    emitted_score: int = 0


@dataclass(frozen=True, slots=True)
class Published:
    event: Event
    deliveries: list[Delivery]
    start_sweeper: bool  # deliveries were made and no sweep is scheduled: the caller must schedule one


class Publisher:
    def __init__(
        self,
        client: redis.Redis,
        delivery_retention_s: int,
        event_retention: EventRetention | None = None,
        max_listed: int = MAX_LISTED,
    ) -> None:
        self.redis = client
        self.delivery_retention_s = delivery_retention_s
        self.event_retention = event_retention or EventRetention()
        self.max_listed = max_listed  # deliveries kept per subscription (bridge.storage.webhooks)
        self._publish = client.register_script(_PUBLISH)

    @redis_errors
    def publish(self, items: list[Publication], *, now: float, grace: float, sweep_ttl: float) -> list[Published]:
        """Store the events and create their pending deliveries, all or none; one round trip.

        ``now + grace`` is when the sweeper may take over a delivery nobody attempted.
        """
        if not items:
            return []
        date = utc_now()
        retention, now_ms = self.event_retention, int(now * 1000)
        index_prefix, index_suffix = keys.webhook_deliveries("\0").split("\0")
        attempts_affixes = keys.delivery_attempts("\0").split("\0")
        fixed: list[Any] = [
            self.delivery_retention_s, now + grace, max(1, int(sweep_ttl)), keys.delivery(""), self.max_listed,
        ]  # fmt: skip
        calls = []
        for item in items:
            envelope = {"event": item.name, "account": item.account, "date": date, "data": item.data}
            tail = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)[1:]
            names = [keys.event_seq(), keys.events(item.account), keys.webhooks(), keys.deliveries_due(),
                     keys.delivery_sweeper(), keys.events_bytes(item.account)]  # fmt: skip
            if item.emitted is not None:
                names.append(keys.message_index(item.account))
            args = [
                tail, retention.max_bytes, item.name, item.account, *fixed, "dlv_" + secrets.token_hex(8), date, now,
                index_prefix, index_suffix, keys.webhook_body(""), EVENT_ID_PREFIX, item.emitted_ttl_s,
                retention.max_age_s * 1000, now_ms, item.emitted_score, item.emitted or "", *attempts_affixes,
            ]  # fmt: skip
            calls.append((names, args))
        if len(calls) == 1:  # one script call is atomic by itself: no MULTI, no SCRIPT EXISTS check
            results = [self._publish(keys=calls[0][0], args=calls[0][1])]
        else:
            pipe = self.redis.pipeline(transaction=True)
            for names, args in calls:
                self._publish(keys=names, args=args, client=pipe)
            results = pipe.execute()
        return [_published(item, date, now, result) for item, result in zip(items, results, strict=True)]


def _published(item: Publication, date: str, now: float, result: Any) -> Published:
    seq, started, made = cast(list[Any], result)
    event = Event(seq=int(seq), event=item.name, account=item.account, date=date, data=item.data)
    pairs = [text(x) for x in made]
    deliveries = [
        Delivery(
            delivery_id,
            webhook_id,
            event.id,
            event.event,
            event.account,
            event.seq,
            date,
            DeliveryStatus.PENDING,
            0,
            0,
            now,
            None,
            None,
        )  # fmt: skip
        for delivery_id, webhook_id in zip(pairs[0::2], pairs[1::2], strict=True)
    ]
    return Published(event, deliveries, bool(int(started)) and bool(deliveries))
