"""How webhook records look in Redis: the Lua steps and the field encodings.

Used only by ``bridge/storage/webhooks.py``; split out to keep that module
about operations. No Redis calls here: script sources and pure conversions
between the stored shapes and ``bridge.webhooks.delivery`` values.
"""

from __future__ import annotations

import json
from typing import Any

from redis.typing import EncodableT

from bridge.webhooks.delivery import Attempt, Delivery, DeliveryStatus, SealedSecret, Subscription

# Check the delivery may be attempted now, take its lease, and return what the attempt needs: the
# body from the copy the event's pending deliveries share (a String from an older release), else
# rebuilt from the account's event stream entry ``<seq>-1`` (ARGV[3] .. account .. ARGV[4]), whose
# ``e`` is the body without its id: '{' .. tail there, '{"id":"<event id>",' .. tail here. False
# (a nil body) when neither is left: the stream trimmed the event and no copy was kept.
CLAIM = """
local d = redis.call('HGETALL', KEYS[1])
if #d == 0 then return {'missing'} end
local f = {}
for i = 1, #d, 2 do f[d[i]] = d[i + 1] end
if f['status'] ~= 'pending' then return {'done'} end
local expected = tonumber(ARGV[1])
if expected > 0 and tonumber(f['attempts']) + 1 ~= expected then return {'stale'} end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return {'busy'} end
local body = false
local key = f['bodyKey']
if key and key ~= '' then
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'hash' then body = redis.call('HGET', key, 'b') elseif kind == 'string' then body = redis.call('GET', key) end
end
if not body then
  local id = f['seq'] .. '-1'
  local found = redis.call('XRANGE', ARGV[3] .. f['account'] .. ARGV[4], id, id)
  if #found == 1 then
    local e = found[1][2]
    for i = 1, #e, 2 do
      if e[i] == 'e' then body = '{"id":"' .. f['eventId'] .. '",' .. string.sub(e[i + 1], 2) end
    end
  end
end
return {'ok', d, body, redis.call('HGET', KEYS[3], f['webhook'])}
"""

# Log an attempt and update its delivery in one step; a delivery that expired meanwhile is not
# recreated as a partial hash without expiry. A delivery that stops being pending (delivered, or
# failed for good) lets go of the event's body copy; the last one to let go deletes it, so bodies
# stay in Redis only while a delivery may still need them (a redelivery reads the event stream).
RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[4])
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'attempts', ARGV[2], 'nextAt', ARGV[3], 'lastStatus', ARGV[4],
  'lastError', ARGV[5])
if ARGV[1] ~= 'pending' then
  local key = redis.call('HGET', KEYS[1], 'bodyKey')
  if key and key ~= '' then
    if redis.call('TYPE', key)['ok'] == 'hash' and redis.call('HINCRBY', key, 'n', -1) <= 0 then
      redis.call('DEL', key)
    end
    redis.call('HDEL', KEYS[1], 'bodyKey')
  end
end
redis.call('LPUSH', KEYS[2], ARGV[6])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
redis.call('EXPIRE', KEYS[2], ARGV[8])
if ARGV[9] == '' then redis.call('ZREM', KEYS[3], ARGV[10]) else redis.call('ZADD', KEYS[3], ARGV[9], ARGV[10]) end
redis.call('DEL', KEYS[4])
return 1
"""


def secret_context(webhook_id: str) -> str:
    return f"webhook:{webhook_id}:secret"


def encode(sub: Subscription) -> str:
    return json.dumps(
        {
            "id": sub.id,
            "url": sub.url,
            "events": list(sub.events) if sub.events is not None else None,
            "account": sub.account,
            "created": sub.created,
            "secrets": [{"sealed": s.sealed, "created": s.created, "expires": s.expires} for s in sub.secrets],
        }
    )


def decode(doc: dict[str, Any]) -> Subscription:
    events = doc.get("events")
    return Subscription(
        id=doc["id"],
        url=doc["url"],
        events=tuple(events) if events is not None else None,
        account=doc.get("account"),
        created=doc["created"],
        secrets=tuple(SealedSecret(s["sealed"], s["created"], s.get("expires")) for s in doc["secrets"]),
    )


def delivery_fields(d: Delivery) -> dict[EncodableT, EncodableT]:
    return {
        "id": d.id,
        "webhook": d.webhook_id,
        "eventId": d.event_id,
        "event": d.event,
        "account": d.account,
        "seq": d.seq,
        "created": d.created,
        "status": d.status.value,
        "attempts": d.attempts,
        "round": d.round_start,
        "nextAt": "" if d.next_attempt_at is None else d.next_attempt_at,
        "lastStatus": "" if d.last_status is None else d.last_status,
        "lastError": d.last_error or "",
    }


def delivery(f: dict[str, str]) -> Delivery:
    return Delivery(
        id=f["id"],
        webhook_id=f["webhook"],
        event_id=f["eventId"],
        event=f["event"],
        account=f["account"],
        seq=int(f["seq"]),
        created=f["created"],
        status=DeliveryStatus(f["status"]),
        attempts=int(f["attempts"]),
        round_start=int(f.get("round") or 0),
        next_attempt_at=float(f["nextAt"]) if f.get("nextAt") else None,
        last_status=int(f["lastStatus"]) if f.get("lastStatus") else None,
        last_error=f.get("lastError") or None,
    )


def attempt_doc(a: Attempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "time": a.at,
        "statusCode": a.status_code,
        "latencyMs": a.latency_ms,
        "error": a.error,
        "outcome": a.outcome,
        "nextAttemptAt": a.next_attempt_at,
        "response": a.response,
    }


def attempt(doc: dict[str, Any]) -> Attempt:
    return Attempt(
        attempt=int(doc["attempt"]),
        at=doc["time"],
        status_code=doc.get("statusCode"),
        latency_ms=float(doc.get("latencyMs") or 0.0),
        error=doc.get("error"),
        outcome=doc.get("outcome", ""),
        next_attempt_at=doc.get("nextAttemptAt"),
        response=doc.get("response"),
    )
