--[[
  Replays a failed or cancelled call: pending again under the same id, its failures and lost
  attempts reset, its result, error and progress dropped (attempts keep counting: they fence).

  Input:
    KEYS[1] call      T call:<id>, the call's record
    KEYS[2] done      T done:<id>, LIST: one token once the call is terminal
    KEYS[3] expiring  T expiring, ZSET member -> result expiry
    KEYS[4] tomb      T tomb, ZSET member -> record expiry

    ARGV[1] id  the call's id

  Output:
    1 if the call is pending again, 0 if it is unknown, live, succeeded or expired
]]
--- @include "now_us"
--- @include "enqueue"
--- @include "wake"

local r = redis.call('HMGET', KEYS[1], 'st', 'pl', 'ea', 'fk', 'env', 'app', 'fn', 'ik')
if (r[1] ~= 'failed' and r[1] ~= 'cancelled') or not r[2] then return 0 end
local now = now_us()
if r[3] and tonumber(r[3]) <= now then return 0 end
local fk = r[4]
redis.call('ZREM', fk .. r[1], ARGV[1])
local m = ARGV[1] .. '\0' .. r[5] .. '\0' .. r[6] .. '\0' .. r[7]
redis.call('ZREM', KEYS[3], m)
redis.call('ZREM', KEYS[4], m)
redis.call('HSET', KEYS[1], 'st', 'pending', 'fail', 0, 'lost', 0)
redis.call('HDEL', KEYS[1], 'res', 'err', 'sa', 'fa', 'ea', 'w', 'pg')
redis.call('PERSIST', KEYS[1])
redis.call('DEL', KEYS[2])
-- `ik` is the call's idempotency key, stored by job_submit (which declared it).
if r[8] and r[8] ~= '' and redis.call('GET', r[8]) == ARGV[1] then redis.call('PERSIST', r[8]) end
enqueue(KEYS[1], fk .. 'pending', fk, ARGV[1])
wake_function(fk, now)
return 1
