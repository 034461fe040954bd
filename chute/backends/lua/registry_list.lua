--[[
  Lists the named, non-ephemeral objects of one kind and environment, newest first.

  Input:
    KEYS[1] by          P{registry}:by:<kind>:<env>, ZSET id -> created_at
    KEYS[2] obj_prefix  P{registry}:obj: (a prefix, no key): names the hashes of the objects listed

    ARGV[1] max    highest created_at: '+inf', or '(' .. created_before
    ARGV[2] limit  most objects to return, -1 for all

  Output:
    flat {id, info, created_at, ...}, newest first
]]

local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', KEYS[2] .. id, 'info', 'ct')
  if r[1] then
    out[#out + 1] = id
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
  end
end
return out
