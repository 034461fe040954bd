--[[
  Cancels a live call.

  Input:
    KEYS[1] call      T call:<id>, the call's record
    KEYS[2] done      T done:<id>, LIST: one token once the call is terminal
    KEYS[3] expiring  T expiring, ZSET member -> result expiry
    KEYS[4] tomb      T tomb, ZSET member -> record expiry

    ARGV[1] id      the call's id
    ARGV[2] result  the result a get() of the call raises (serialized)

  Output:
    1 if the call was live and is now cancelled, else 0
]]
--- @include "now_us"
--- @include "live"
--- @include "wake"
--- @include "terminate"

if not live(redis.call('HGET', KEYS[1], 'st')) then return 0 end
local now = now_us()
redis.call('HSET', KEYS[1], 'err', 'cancelled')
wake_function(terminate(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], 'cancelled', ARGV[2], now), now)
return 1
