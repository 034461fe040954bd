--[[
  Deletes every key of an object's data (queue partitions, dict entries, its marker). Runs
  whether or not the registry still knows the object, so deleting an id again removes data a
  crash left unreferenced.

  Input:
    KEYS[1] marker       P{<id>}:m, exists while the object does
    KEYS[2] parts        P{<id>}:parts, ZSET partition -> expiry (ms)
    KEYS[3] seq          P{<id>}:seq, the queue's item counter
    KEYS[4] kv           P{<id>}:kv, HASH dict key -> value
    KEYS[5] kz           P{<id>}:kz, ZSET of the dict keys
    KEYS[6] part_prefix  P{<id>}:p: (a prefix, no key): names the lists of all partitions

    ARGV none

  Output:
    1 if the object existed, else 0
]]

local existed = redis.call('EXISTS', KEYS[1])
for _, p in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do redis.call('DEL', KEYS[6] .. p) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return existed
