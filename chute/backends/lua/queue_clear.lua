--[[
  Deletes one partition, or every partition of the queue.

  Input:
    KEYS[1] marker       P{<id>}:m, exists while the queue does
    KEYS[2] parts        P{<id>}:parts, ZSET partition -> expiry (ms)
    KEYS[3] part         P{<id>}:p:<partition>, the partition's list (mode 'one')
    KEYS[4] part_prefix  P{<id>}:p: (a prefix, no key): names the lists of all partitions

    ARGV[1] mode  'one' (the partition in KEYS[3]) or 'all'
    ARGV[2] part  the partition key (mode 'one')

  Output:
    0
    error CHUTE_NOTFOUND if the queue does not exist
]]
--- @include "missing"

if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
if ARGV[1] == 'one' then
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 0
end
for _, p in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do redis.call('DEL', KEYS[4] .. p) end
redis.call('DEL', KEYS[2])
return 0
