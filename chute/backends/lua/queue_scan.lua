--[[
  Reads items of one partition without taking them, from the first whose seq is > after.
  Items only leave a list from its head and seqs grow towards its tail, so a binary search over
  LINDEX finds the first seq > after however many items concurrent gets removed.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the queue does
    KEYS[2] part    P{<id>}:p:<partition>, the partition's list

    ARGV[1] after  the seq to read after (0: from the head)
    ARGV[2] limit  most items to return

  Output:
    the items, oldest first, each an 8-byte big-endian seq + the item
    error CHUTE_NOTFOUND if the queue does not exist
]]
--- @include "missing"

local len = redis.call('LLEN', KEYS[2])
if len == 0 then
  if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
  return {}
end
local after = tonumber(ARGV[1])
local lo, hi = 0, len
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  local seq = struct.unpack('>I8', redis.call('LINDEX', KEYS[2], mid))
  if seq <= after then lo = mid + 1 else hi = mid end
end
local limit = tonumber(ARGV[2])
-- limit 0 would ask LRANGE for lo..lo-1: from the head (lo = 0) that is 0..-1, the whole list.
if lo >= len or limit <= 0 then return {} end
return redis.call('LRANGE', KEYS[2], lo, lo + limit - 1)
