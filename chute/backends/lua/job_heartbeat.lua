--[[
  Extends the lease of a running call, if the worker still runs this attempt.

  Input:
    KEYS[1] call  T call:<id>, the call's record

    ARGV[1] id        the call's id
    ARGV[2] attempt   the attempt the worker runs
    ARGV[3] lease_us  the new lease, from now

  Output:
    1 if the lease was extended, 0 if the attempt is over
]]
--- @include "int"
--- @include "now_us"
--- @include "fenced"

if not fenced(KEYS[1], ARGV[2]) then return 0 end
-- The function's keys: the prefix `fk` job_submit stored in the record.
local fk = redis.call('HGET', KEYS[1], 'fk')
redis.call('ZADD', fk .. 'running', 'XX', int(now_us() + tonumber(ARGV[3])), ARGV[1])
return 1
