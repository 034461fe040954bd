--[[
  Counts a dict's entries.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the dict does
    KEYS[2] kv      P{<id>}:kv, HASH dict key -> value

    ARGV none

  Output:
    the number of entries
    error CHUTE_NOTFOUND if the dict does not exist
]]
--- @include "missing"

local n = redis.call('HLEN', KEYS[2])
if n == 0 and missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return n
