--[[
  Lists the live workers.

  Input:
    KEYS[1] workers  J workers:<env>, ZSET worker id -> deadline of its last beat
    KEYS[2] winfo    J winfo:<env>, HASH worker id -> info (JSON)

    ARGV none

  Output:
    flat {id, info, ...} of the workers whose deadline is ahead
]]
--- @include "int"
--- @include "now_us"

local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now_us()), '+inf')) do
  local info = redis.call('HGET', KEYS[2], id)
  if info then
    out[#out + 1] = id
    out[#out + 1] = info
  end
end
return out
