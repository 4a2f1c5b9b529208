"""The outbox's Lua steps: every state transition of an entry is one script (``bridge.storage.outbox``).

Text only. Key names arrive as KEYS or, for ids popped inside a script, as
prefix/suffix pairs built by ``bridge.keys``, so no key name is spelled here.
"""

from __future__ import annotations

# KEYS: entry, raw, active. ARGV: owner, lease until, now, queue id.
CLAIM = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'missing'} end
local now = tonumber(ARGV[3])
if st == 'sending' then
  if tonumber(redis.call('HGET', KEYS[1], 'leaseUntil') or '0') > now then return {'busy'} end
  if redis.call('HGET', KEYS[1], 'dataStarted') == '1' then
    redis.call('HSET', KEYS[1], 'possibleDuplicate', '1')
  end
elseif st == 'queued' or st == 'scheduled' or st == 'retrying' then
  if tonumber(redis.call('HGET', KEYS[1], 'due') or '0') > now + 1 then return {'early'} end
else
  return {st}
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'sending', 'owner', ARGV[1], 'leaseUntil', ARGV[2], 'dataStarted', '0')
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
local out = {'ok', redis.call('GET', KEYS[2]) or ''}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
"""

# ARGV: owner, then field/value pairs. Only the lease holder may change a sending entry.
OWNED_SET = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""

# ARGV: owner, active score ('' = leave the active set), entry ttl, raw ttl, then field/value pairs.
FINISH = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('HDEL', KEYS[1], 'owner', 'leaseUntil')
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[3], redis.call('HGET', KEYS[1], 'queueId'))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
else
  redis.call('ZADD', KEYS[3], ARGV[2], redis.call('HGET', KEYS[1], 'queueId'))
end
return 1
"""

CANCEL = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'missing' end
if st ~= 'queued' and st ~= 'scheduled' and st ~= 'retrying' then return st end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'cancelledAt', ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 'ok'
"""

RELEASE_SWEEPER = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
"""

# A submission sent now, in one step: the Idempotency-Key check and claim, the entry and its bytes, the
# active set, the Message-ID index, the ready list, and the drain and sweep marks (set when absent).
# KEYS: entry, raw, active, by message id, ready, drainer, sweeper, idempotency key.
# ARGV: queue id, due, message-id ttl, idempotency ttl, idempotency record ('' = no key), drain job id,
#       drainer ttl, sweeper ttl, raw bytes, the entry's fields as one JSON object of strings (one
#       argument instead of ~30: redis-py packs each argument at a few microseconds apiece).
# Returns {'replay', first record} or {'ok', drain job started (0/1), sweep started (0/1)}.
CREATE_READY = """
if ARGV[5] ~= '' then
  local earlier = redis.call('GET', KEYS[8])
  if earlier then return {'replay', earlier} end
  redis.call('SET', KEYS[8], ARGV[5], 'EX', ARGV[4])
end
local pairs_ = {}
for name, value in pairs(cjson.decode(ARGV[10])) do
  pairs_[#pairs_ + 1] = name
  pairs_[#pairs_ + 1] = value
end
redis.call('HSET', KEYS[1], unpack(pairs_))
redis.call('SET', KEYS[2], ARGV[9])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[3])
redis.call('RPUSH', KEYS[5], ARGV[1])
local drain = redis.call('SET', KEYS[6], ARGV[6], 'NX', 'EX', ARGV[7])
local sweep = redis.call('SET', KEYS[7], '1', 'NX', 'EX', ARGV[8])
return {'ok', drain and 1 or 0, sweep and 1 or 0}
"""

# Pop queue ids off the ready list until one can be claimed (as CLAIM does for a queued entry); ids of
# entries that are gone, cancelled, already taken by a sweep job or not due are dropped. An empty list
# ends the drain: the drainer mark is removed (if it is still this job's) in the same step, so a
# submission racing it either is seen here or finds no mark and starts a new drain job.
# KEYS: ready, drainer, active. ARGV: owner, lease until, now, drain job id, drainer ttl,
#       entry key prefix, entry key suffix, raw key prefix, raw key suffix, most ids to look at.
# Returns {'ok', raw, entry field/value pairs...}, {'empty'} or {'more'} (only stale ids seen).
CLAIM_NEXT = """
local now = tonumber(ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
for _ = 1, tonumber(ARGV[10]) do
  local qid = redis.call('LPOP', KEYS[1])
  if not qid then
    if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
    return {'empty'}
  end
  local entry = ARGV[6] .. qid .. ARGV[7]
  if redis.call('HGET', entry, 'state') == 'queued'
      and tonumber(redis.call('HGET', entry, 'due') or '0') <= now + 1 then
    redis.call('HINCRBY', entry, 'attempts', 1)
    redis.call('HSET', entry, 'state', 'sending', 'owner', ARGV[1], 'leaseUntil', ARGV[2], 'dataStarted', '0')
    redis.call('ZADD', KEYS[3], ARGV[2], qid)
    local out = {'ok', redis.call('GET', ARGV[8] .. qid .. ARGV[9]) or ''}
    for _, v in ipairs(redis.call('HGETALL', entry)) do out[#out + 1] = v end
    return out
  end
end
return {'more'}
"""

# KEYS: drainer. ARGV: this drain job's id, the next one's, ttl. 1 when the next job now owns the mark.
HAND_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
