--[[
  Unregisters up to `batch` ephemeral objects whose deadline passed; the caller then deletes
  their data, slot by slot. Atomic, so concurrent collectors never get the same id.

  Input:
    KEYS[1] names       P{registry}:names, HASH name field -> object id
    KEYS[2] ephemeral   P{registry}:ephemeral, ZSET id -> heartbeat deadline (ms)
    KEYS[3] obj_prefix  P{registry}:obj: (a prefix, no key): names the hashes of the expired
                        objects

    ARGV[1] batch  most objects to unregister

  Output:
    the ids unregistered
]]
--- @include "int"
--- @include "now_ms"
--- @include "unregister"

local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now_ms()), 'LIMIT', 0, tonumber(ARGV[1]))
for _, id in ipairs(ids) do unregister(KEYS[1], KEYS[2], KEYS[3] .. id, id) end
return ids
