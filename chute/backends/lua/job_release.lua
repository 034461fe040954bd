--[[
  Gives a running call back unrun (a worker shutting down): pending again in its place, and
  the attempt not counted, if the worker still runs this attempt.

  Input:
    KEYS[1] call  T call:<id>, the call's record

    ARGV[1] id       the call's id
    ARGV[2] attempt  the attempt the worker gives back

  Output:
    1 if released, 0 if the attempt was over
]]
--- @include "now_us"
--- @include "fenced"
--- @include "requeue"
--- @include "wake"

if not fenced(KEYS[1], ARGV[2]) then return 0 end
local now = now_us()
-- The function's keys: the prefix `fk` job_submit stored in the record.
local fk = redis.call('HGET', KEYS[1], 'fk')
redis.call('HINCRBY', KEYS[1], 'att', -1)
requeue(KEYS[1], fk .. 'pending', fk .. 'delayed', fk .. 'running', ARGV[1], now, 0)
wake_function(fk, now)
return 1
