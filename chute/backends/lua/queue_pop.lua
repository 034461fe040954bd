--[[
  Takes up to n items from the head of one partition.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the queue does
    KEYS[2] part    P{<id>}:p:<partition>, the partition's list

    ARGV[1] n       most items to take

  Output:
    the items taken, oldest first, each an 8-byte big-endian seq + the item (none: empty list)
    error CHUTE_NOTFOUND if the queue does not exist
]]
--- @include "missing"

local items = redis.call('LPOP', KEYS[2], ARGV[1])
if items then return items end
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return {}
