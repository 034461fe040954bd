--[[
  Lists the live partitions of a queue.

  Input:
    KEYS[1] marker       P{<id>}:m, exists while the queue does
    KEYS[2] parts        P{<id>}:parts, ZSET partition -> expiry (ms)
    KEYS[3] part_prefix  P{<id>}:p: (a prefix, no key): names the lists of the live partitions

    ARGV none

  Output:
    flat {partition, length, expiry (ms), ...}
    error CHUTE_NOTFOUND if the queue does not exist
]]
--- @include "int"
--- @include "now_ms"
--- @include "missing"

if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
local out = {}
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now_ms()), '+inf', 'WITHSCORES')
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = redis.call('LLEN', KEYS[3] .. live[i])
  out[#out + 1] = live[i + 1]
end
return out
