--[[
  Writes dict entries, or one entry only if its key is new.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the dict does
    KEYS[2] kv      P{<id>}:kv, HASH dict key -> value
    KEYS[3] kz      P{<id>}:kz, ZSET of the dict keys (score 0, for BYLEX scans)

    ARGV[1] only_new  '1': write the one pair only if its key is absent; '0': write every pair
    ARGV[2...] pairs  key1, value1, key2, value2, ...

  Output:
    1 if written, 0 if only_new and the key was present
    error CHUTE_NOTFOUND if the dict does not exist
]]
--- @include "missing"

if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
if ARGV[1] == '1' then
  if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return 0 end
  redis.call('ZADD', KEYS[3], 0, ARGV[2])
  return 1
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[3], 0, ARGV[i])
end
return 1
