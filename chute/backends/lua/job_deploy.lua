--[[
  Replaces every function of an app: drops the app's functions, then stores the given ones.

  Input:
    KEYS[1] fns  J fns:<env>, HASH "<app>\0<function>" -> "<deployed_at> <spec JSON>"

    ARGV[1] app        the app's name
    ARGV[2...] pairs   name1, spec1, name2, spec2, ...

  Output:
    0
]]
--- @include "now_us"
--- @include "int"

local prefix = ARGV[1] .. '\0'
local stale = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, #prefix) == prefix then stale[#stale + 1] = f end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
local at = int(now_us())
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], prefix .. ARGV[i], at .. ' ' .. ARGV[i + 1]) end
return 0
