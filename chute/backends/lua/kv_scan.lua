--[[
  Reads a page of dict entries in key order.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the dict does
    KEYS[2] kv      P{<id>}:kv, HASH dict key -> value
    KEYS[3] kz      P{<id>}:kz, ZSET of the dict keys (score 0, for BYLEX scans)

    ARGV[1] min    '-' (from the first key) or '(' .. the last key of the previous page
    ARGV[2] limit  most entries to return

  Output:
    flat {key, value, ...}
    error CHUTE_NOTFOUND if the dict does not exist
]]
--- @include "missing"

local keys = redis.call('ZRANGEBYLEX', KEYS[3], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))
if #keys == 0 then
  if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
  return {}
end
local out = {}
for _, k in ipairs(keys) do
  out[#out + 1] = k
  out[#out + 1] = redis.call('HGET', KEYS[2], k)
end
return out
