--[[
  Puts a running call back to pending after a failed attempt, claimable once the delay is
  over, if the worker still runs this attempt.

  Input:
    KEYS[1] call  T call:<id>, the call's record

    ARGV[1] id        the call's id
    ARGV[2] attempt   the attempt the worker ran
    ARGV[3] delay_us  the retry backoff
    ARGV[4] error     the attempt's error message

  Output:
    1 if requeued, 0 if the attempt was over
]]
--- @include "now_us"
--- @include "fenced"
--- @include "requeue"
--- @include "wake"

if not fenced(KEYS[1], ARGV[2]) then return 0 end
local now = now_us()
-- The function's keys: the prefix `fk` job_submit stored in the record.
local fk = redis.call('HGET', KEYS[1], 'fk')
redis.call('HINCRBY', KEYS[1], 'fail', 1)
redis.call('HSET', KEYS[1], 'err', ARGV[4])
requeue(KEYS[1], fk .. 'pending', fk .. 'delayed', fk .. 'running', ARGV[1], now, tonumber(ARGV[3]))
wake_function(fk, now)
return 1
