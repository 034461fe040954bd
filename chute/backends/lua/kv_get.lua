--[[
  Reads one dict entry.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the dict does
    KEYS[2] kv      P{<id>}:kv, HASH dict key -> value

    ARGV[1] key  the dict key

  Output:
    the value, or nil if the key is absent
    error CHUTE_NOTFOUND if the dict does not exist
]]
--- @include "missing"

local v = redis.call('HGET', KEYS[2], ARGV[1])
if v then return v end
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return false
