--[[
  Removes one dict entry and returns its value.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the dict does
    KEYS[2] kv      P{<id>}:kv, HASH dict key -> value
    KEYS[3] kz      P{<id>}:kz, ZSET of the dict keys

    ARGV[1] key  the dict key

  Output:
    the value, or nil if the key was absent
    error CHUTE_NOTFOUND if the dict does not exist
]]
--- @include "missing"

local v = redis.call('HGET', KEYS[2], ARGV[1])
if v then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return v
end
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return false
