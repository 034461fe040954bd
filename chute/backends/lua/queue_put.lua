--[[
  Appends items to one partition of a queue, creating the partition or reviving an expired one.
  Expired partitions are purged lazily here, a bounded batch per call, and their lists deleted
  with them: a list's own PEXPIREAT fires up to 1 ms after its score in `parts` says "expired",
  and a revived partition must never show the old items.

  Input:
    KEYS[1] marker       P{<id>}:m, exists while the queue does
    KEYS[2] parts        P{<id>}:parts, ZSET partition -> expiry (ms)
    KEYS[3] seq          P{<id>}:seq, the queue's item counter
    KEYS[4] part         P{<id>}:p:<partition>, the partition's list
    KEYS[5] part_prefix  P{<id>}:p: (a prefix, no key): names the lists of the expired partitions

    ARGV[1] part            the partition key
    ARGV[2] ttl_ms          the partition's time to live from now
    ARGV[3] max_items       most items a partition may hold
    ARGV[4] max_partitions  most live partitions the queue may have
    ARGV[5...] items        the items, oldest first (none: only check for room)

  Output:
    a PutStatus: 0 stored, 1 the partition is full, 2 too many partitions (nothing stored)
    error CHUTE_NOTFOUND if the queue does not exist
]]
--- @include "int"
--- @include "now_ms"
--- @include "missing"

if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
local now = now_ms()
local n = #ARGV - 4
local max_items = tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now), 'LIMIT', 0, 100)
for _, p in ipairs(expired) do redis.call('DEL', KEYS[5] .. p) end
if #expired > 0 then redis.call('ZREM', KEYS[2], unpack(expired)) end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) <= now then
  if n > max_items then return 1 end
  if redis.call('ZCOUNT', KEYS[2], '(' .. int(now), '+inf') >= tonumber(ARGV[4]) then return 2 end
  redis.call('DEL', KEYS[4])
elseif redis.call('LLEN', KEYS[4]) + n > max_items then
  return 1
end
if n == 0 then return 0 end
local first = redis.call('INCRBY', KEYS[3], n) - n
local batch = {}
for i = 1, n do
  batch[#batch + 1] = struct.pack('>I8', first + i) .. ARGV[4 + i]
  if #batch == 1000 or i == n then
    redis.call('RPUSH', KEYS[4], unpack(batch))
    batch = {}
  end
end
local expires = now + tonumber(ARGV[2])
redis.call('PEXPIREAT', KEYS[4], int(expires))
redis.call('ZADD', KEYS[2], int(expires), ARGV[1])
return 0
