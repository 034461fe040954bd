--[[
  Records a worker's heartbeat and info; also forgets workers whose beat expired.

  Input:
    KEYS[1] workers  J workers:<env>, ZSET worker id -> deadline of its last beat
    KEYS[2] winfo    J winfo:<env>, HASH worker id -> info (JSON)

    ARGV[1] id      the worker's id
    ARGV[2] info    its info (JSON)
    ARGV[3] ttl_us  time from now to its deadline

  Output:
    0
]]
--- @include "int"
--- @include "now_us"

local now = now_us()
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, 100)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[3])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 0
