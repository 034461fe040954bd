--- @include "int"
--- @include "unqueue"

-- How long a terminal call's record outlives its result's expiry, in microseconds: must equal
-- chute.backends.types.CALL_TOMBSTONE (tests/test_lua_scripts.py checks).
local TOMBSTONE_US = 86400000000
-- Makes a live call terminal: drops it from its function's waiting and running sets (found
-- by the prefix `fk` stored in the record), counts it in the set of its final state, schedules
-- its result's and its record's expiry, and wakes every job_wait on it (the `done` list stays
-- until the record goes). Its payload stays until the result expires (replay). Returns `fk`.
local function terminate(call, done, expiring, tomb, id, st, res, now)
  local r = redis.call('HMGET', call, 'fk', 'ttl', 'ik', 'env', 'app', 'fn', 'st')
  local fk = r[1]
  if r[7] == 'running' then unrun(call, fk) end
  unqueue(call, fk .. 'pending', fk .. 'delayed', fk, id)
  local ea = now + tonumber(r[2])
  local gone = ea + TOMBSTONE_US
  local gone_ms = int(math.ceil(gone / 1000))
  redis.call('HSET', call, 'st', st, 'fa', int(now), 'ea', int(ea))
  if res then redis.call('HSET', call, 'res', res) else redis.call('HDEL', call, 'res') end
  redis.call('ZREM', fk .. 'running', id)
  redis.call('ZADD', fk .. st, int(ea), id)
  local m = id .. '\0' .. r[4] .. '\0' .. r[5] .. '\0' .. r[6]
  redis.call('ZADD', expiring, int(ea), m)
  redis.call('ZADD', tomb, int(gone), m)
  redis.call('PEXPIREAT', call, gone_ms)
  redis.call('RPUSH', done, '1')
  redis.call('PEXPIREAT', done, gone_ms)
  -- `ik` is the call's idempotency key, stored by job_submit (which declared it).
  if r[3] and r[3] ~= '' and redis.call('GET', r[3]) == id then
    redis.call('PEXPIREAT', r[3], int(math.ceil(ea / 1000)))
  end
  return fk
end
