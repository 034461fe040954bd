-- Removes one object from every registry structure: the ephemeral set, its name (if the name
-- still points at it), its by-list (`lk`, the key registry_create stored) and its hash.
-- Returns 1 if the object was registered.
local function unregister(names, ephemeral, obj, id)
  redis.call('ZREM', ephemeral, id)
  if redis.call('EXISTS', obj) == 0 then return 0 end
  local r = redis.call('HMGET', obj, 'nf', 'lk')
  if r[1] and r[1] ~= '' and redis.call('HGET', names, r[1]) == id then redis.call('HDEL', names, r[1]) end
  if r[2] and r[2] ~= '' then redis.call('ZREM', r[2], id) end
  redis.call('DEL', obj)
  return 1
end
