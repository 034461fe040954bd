--[[
  Records the outcome of a running call's attempt, if the worker still runs this attempt.

  Input:
    KEYS[1] call      T call:<id>, the call's record
    KEYS[2] done      T done:<id>, LIST: one token once the call is terminal
    KEYS[3] expiring  T expiring, ZSET member -> result expiry
    KEYS[4] tomb      T tomb, ZSET member -> record expiry

    ARGV[1] id         the call's id
    ARGV[2] attempt    the attempt the worker ran
    ARGV[3] state      'succeeded' or 'failed'
    ARGV[4] result     the result (serialized)
    ARGV[5] error      the error message (used if has_error)
    ARGV[6] has_error  '1' to store the error, '0' to clear it

  Output:
    1 if recorded, 0 if the attempt was over
]]
--- @include "now_us"
--- @include "fenced"
--- @include "wake"
--- @include "terminate"

if not fenced(KEYS[1], ARGV[2]) then return 0 end
local now = now_us()
if ARGV[3] == 'failed' then redis.call('HINCRBY', KEYS[1], 'fail', 1) end
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'err', ARGV[5]) else redis.call('HDEL', KEYS[1], 'err') end
wake_function(terminate(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[3], ARGV[4], now), now)
return 1
