--[[
  Counts the items of one partition, or of every live partition.

  Input:
    KEYS[1] marker       P{<id>}:m, exists while the queue does
    KEYS[2] parts        P{<id>}:parts, ZSET partition -> expiry (ms)
    KEYS[3] part         P{<id>}:p:<partition>, the partition's list (mode 'one')
    KEYS[4] part_prefix  P{<id>}:p: (a prefix, no key): names the lists of the live partitions

    ARGV[1] mode  'one' (the partition in KEYS[3]) or 'all'

  Output:
    the number of items
    error CHUTE_NOTFOUND if the queue does not exist
]]
--- @include "int"
--- @include "now_ms"
--- @include "missing"

if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
if ARGV[1] == 'one' then return redis.call('LLEN', KEYS[3]) end
local total = 0
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now_ms()), '+inf')) do
  total = total + redis.call('LLEN', KEYS[4] .. p)
end
return total
