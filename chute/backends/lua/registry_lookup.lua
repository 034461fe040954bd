--[[
  Finds an object by name.

  Input:
    KEYS[1] names       P{registry}:names, HASH name field -> object id
    KEYS[2] obj_prefix  P{registry}:obj: (a prefix, no key): names the hash of the object found

    ARGV[1] name_field  "<kind>\0<env>\0<name>"

  Output:
    {id, info, created_at}, or nil if no object has the name
]]

local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local r = redis.call('HMGET', KEYS[2] .. id, 'info', 'ct')
if not r[1] then return false end
return {id, r[1], r[2]}
