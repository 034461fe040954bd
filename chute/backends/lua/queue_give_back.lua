--[[
  Puts items back at the head of one partition, in order: items a reader took ahead and did not
  use. The cap and the partition limit are not checked (the items were in the partition). A
  missing or expired partition is (re)created with the given TTL; a live one keeps its expiry.
  Each item gets a seq below the partition's head (the queue's counter + 1 when the list is
  empty), at least 1, so seqs still grow towards the tail and queue_scan's binary search holds.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the queue does
    KEYS[2] parts   P{<id>}:parts, ZSET partition -> expiry (ms)
    KEYS[3] seq     P{<id>}:seq, the queue's item counter
    KEYS[4] part    P{<id>}:p:<partition>, the partition's list

    ARGV[1] part      the partition key
    ARGV[2] ttl_ms    the partition's time to live from now, if it is missing or expired
    ARGV[3...] items  the items, oldest first

  Output:
    0
    error CHUTE_NOTFOUND if the queue does not exist
]]
--- @include "int"
--- @include "now_ms"
--- @include "missing"

if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
local n = #ARGV - 2
if n == 0 then return 0 end
local now = now_ms()
local expires = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or 0)
local head = nil
if expires <= now then
  redis.call('DEL', KEYS[4])  -- an expired partition's old items are gone, as for a put
  expires = now + tonumber(ARGV[2])
  redis.call('ZADD', KEYS[2], int(expires), ARGV[1])
else
  local first = redis.call('LINDEX', KEYS[4], 0)
  if first then head = struct.unpack('>I8', first) end
end
if not head then head = tonumber(redis.call('GET', KEYS[3]) or '0') + 1 end
-- LPUSH puts each argument at the head in turn: push the newest first, the oldest last.
local batch = {}
for i = n, 1, -1 do
  batch[#batch + 1] = struct.pack('>I8', math.max(1, head - n - 1 + i)) .. ARGV[2 + i]
  if #batch == 1000 or i == 1 then
    redis.call('LPUSH', KEYS[4], unpack(batch))
    batch = {}
  end
end
-- The list may be new (the last get of a partition deletes it): it expires with the partition.
redis.call('PEXPIREAT', KEYS[4], int(expires))
return 0
