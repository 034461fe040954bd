--[[
  Appends output to one attempt's log of a call, keeping its last max bytes; sets the TTL.

  Input:
    KEYS[1] logs  T logs:<call id>, HASH attempt -> output

    ARGV[1] attempt  the attempt number
    ARGV[2] data     the output to append
    ARGV[3] max      bytes kept per attempt (the last ones)
    ARGV[4] ttl_ms   time from now until the whole log expires

  Output:
    0
]]
local max = tonumber(ARGV[3])
local data = (redis.call('HGET', KEYS[1], ARGV[1]) or '') .. ARGV[2]
if #data > max then
  data = string.sub(data, #data - max + 1)
end
redis.call('HSET', KEYS[1], ARGV[1], data)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 0
