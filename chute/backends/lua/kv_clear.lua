--[[
  Deletes every entry of a dict.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the dict does
    KEYS[2] kv      P{<id>}:kv, HASH dict key -> value
    KEYS[3] kz      P{<id>}:kz, ZSET of the dict keys

    ARGV none

  Output:
    0
    error CHUTE_NOTFOUND if the dict does not exist
]]
--- @include "missing"

if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
redis.call('DEL', KEYS[2], KEYS[3])
return 0
