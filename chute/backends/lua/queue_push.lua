--[[
  The common put, kept short: appends items to a live partition that has room. Anything else
  (no such partition, an expired one, a missing queue) answers -1 and the caller runs
  queue_put, which handles every case. A live partition implies a live queue: object_purge
  deletes `parts` with the marker. The expiry is rewritten only when it moves (puts within
  one millisecond with the same TTL leave it alone).

  Input:
    KEYS[1] parts  P{<id>}:parts, ZSET partition -> expiry (ms)
    KEYS[2] seq    P{<id>}:seq, the queue's item counter
    KEYS[3] part   P{<id>}:p:<partition>, the partition's list

    ARGV[1] part       the partition key
    ARGV[2] ttl_ms     the partition's time to live from now
    ARGV[3] max_items  most items a partition may hold
    ARGV[4...] items   the items, oldest first (none: only check for room)

  Output:
    a PutStatus (0 stored, 1 the partition is full: nothing stored), or -1: run queue_put
]]
--- @include "int"
--- @include "now_ms"

local now = now_ms()
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then return -1 end
local n = #ARGV - 3
if redis.call('LLEN', KEYS[3]) + n > tonumber(ARGV[3]) then return 1 end
if n == 0 then return 0 end
local first = redis.call('INCRBY', KEYS[2], n) - n
local batch = {}
for i = 1, n do
  batch[#batch + 1] = struct.pack('>I8', first + i) .. ARGV[3 + i]
  if #batch == 1000 or i == n then
    redis.call('RPUSH', KEYS[3], unpack(batch))
    batch = {}
  end
end
local expires = now + tonumber(ARGV[2])
if tonumber(score) ~= expires then
  redis.call('PEXPIREAT', KEYS[3], int(expires))
  redis.call('ZADD', KEYS[1], int(expires), ARGV[1])
end
return 0
