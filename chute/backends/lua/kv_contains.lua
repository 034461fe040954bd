--[[
  Whether a dict holds a key.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the dict does
    KEYS[2] kv      P{<id>}:kv, HASH dict key -> value

    ARGV[1] key  the dict key

  Output:
    1 if the key is present, else 0
    error CHUTE_NOTFOUND if the dict does not exist
]]
--- @include "missing"

if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 1 end
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return 0
