--[[
  Pushes back the deadline of an ephemeral object.

  Input:
    KEYS[1] ephemeral  P{registry}:ephemeral, ZSET id -> heartbeat deadline (ms)

    ARGV[1] id      the object's id
    ARGV[2] ttl_ms  time from now to the next deadline

  Output:
    1 if the object is registered as ephemeral, else 0
]]
--- @include "int"
--- @include "now_ms"

if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', int(now_ms() + tonumber(ARGV[2])), ARGV[1])
return 1
