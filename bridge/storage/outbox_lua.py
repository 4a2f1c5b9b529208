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
  local due = redis.call('HGET', KEYS[1], 'due') or '0'
  if tonumber(due) > now then return {'early', due} end
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

# A submission sent now, in one step: the Idempotency-Key check and claim, the entry and its bytes, the
# active set, the Message-ID index, the ready list, and a drain job's mark when none is alive, and the
# sweep mark (set when absent). Drain marks: a sorted set of drain job ids scored by when they lapse.
# KEYS: entry, raw, active, by message id, ready, drainers, sweeper, idempotency key.
# ARGV: queue id, due, message-id ttl, idempotency ttl, idempotency record ('' = no key), drain job id,
#       drainer ttl, sweeper ttl, raw bytes, the entry's fields as one JSON object of strings (one
#       argument instead of ~30: redis-py packs each argument at a few microseconds apiece), now.
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
local now = tonumber(ARGV[11])
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
local drain = 0
if redis.call('ZCARD', KEYS[6]) == 0 then
  redis.call('ZADD', KEYS[6], now + tonumber(ARGV[7]), ARGV[6])
  redis.call('EXPIRE', KEYS[6], ARGV[7])
  drain = 1
end
local sweep = redis.call('SET', KEYS[7], '1', 'NX', 'EX', ARGV[8])
return {'ok', drain, sweep and 1 or 0}
"""

# Pop queue ids off the ready list until one can be claimed (as CLAIM does for a queued entry); ids of
# entries that are gone, cancelled, already taken by a sweep job or not due are dropped. An empty list
# ends this drain job: its mark is removed in the same step, so a submission racing it either is seen
# here or finds no live mark and starts a new drain job. With a backlog of at least ARGV[13] ids and
# fewer than ARGV[11] live marks, a helper's mark (ARGV[12]) is added: the caller enqueues that job.
# KEYS: ready, drainers, active. ARGV: owner, lease until, now, drain job id, drainer ttl,
#       entry key prefix, entry key suffix, raw key prefix, raw key suffix, most ids to look at,
#       most drain jobs, helper job id, backlog for a helper.
# Returns {'ok', helper started (0/1), raw, entry field/value pairs...}, {'empty'} or {'more'}.
CLAIM_NEXT = """
local now = tonumber(ARGV[3])
local lapse = now + tonumber(ARGV[5])
if redis.call('ZSCORE', KEYS[2], ARGV[4]) then
  redis.call('ZADD', KEYS[2], lapse, ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
for _ = 1, tonumber(ARGV[10]) do
  local qid = redis.call('LPOP', KEYS[1])
  if not qid then
    redis.call('ZREM', KEYS[2], ARGV[4])
    return {'empty'}
  end
  local entry = ARGV[6] .. qid .. ARGV[7]
  if redis.call('HGET', entry, 'state') == 'queued'
      and tonumber(redis.call('HGET', entry, 'due') or '0') <= now + 1 then
    redis.call('HINCRBY', entry, 'attempts', 1)
    redis.call('HSET', entry, 'state', 'sending', 'owner', ARGV[1], 'leaseUntil', ARGV[2], 'dataStarted', '0')
    redis.call('ZADD', KEYS[3], ARGV[2], qid)
    local helper = 0
    if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[13]) then
      redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
      if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[11]) then
        redis.call('ZADD', KEYS[2], lapse, ARGV[12])
        helper = 1
      end
    end
    local out = {'ok', helper, redis.call('GET', ARGV[8] .. qid .. ARGV[9]) or ''}
    for _, v in ipairs(redis.call('HGETALL', entry)) do out[#out + 1] = v end
    return out
  end
end
return {'more'}
"""

# KEYS: drainers. ARGV: this drain job's id, the next one's (the same id: just extend), ttl, now.
# 1 when the next id now holds a live mark; 0 when this job's mark had lapsed or was removed.
HAND_OVER = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], tonumber(ARGV[4]) + tonumber(ARGV[3]), ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
