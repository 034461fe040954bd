--[[
  Registers an object: its hash, its name (unless anonymous), its by-list (named, non-ephemeral
  objects only) and its ephemeral deadline. When the name is taken, returns the existing object.

  Input:
    KEYS[1] names       P{registry}:names, HASH name field -> object id
    KEYS[2] obj         P{registry}:obj:<id>, the new object's hash
    KEYS[3] by          P{registry}:by:<kind>:<env>, ZSET id -> created_at
    KEYS[4] ephemeral   P{registry}:ephemeral, ZSET id -> heartbeat deadline (ms)
    KEYS[5] obj_prefix  P{registry}:obj: (a prefix, no key): names the hash of the object that
                        holds the name already

    ARGV[1] name_field        "<kind>\0<env>\0<name>", or '' for an anonymous object
    ARGV[2] id                the new object's id
    ARGV[3] info              the object's info (JSON)
    ARGV[4] ephemeral_ttl_ms  time to its first missed heartbeat, or '' if not ephemeral

  Output:
    {created (1 or 0), id, info, created_at ("sec.usec" of the server's TIME)}, describing the
    existing object when the name was taken (created 0)
]]
--- @include "int"
--- @include "now_ms"

if ARGV[1] ~= '' then
  local existing = redis.call('HGET', KEYS[1], ARGV[1])
  if existing then
    local r = redis.call('HMGET', KEYS[5] .. existing, 'info', 'ct')
    return {0, existing, r[1], r[2]}
  end
end
local t = redis.call('TIME')
local ct = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local listed = ARGV[1] ~= '' and ARGV[4] == ''
redis.call('HSET', KEYS[2], 'info', ARGV[3], 'ct', ct, 'nf', ARGV[1], 'lk', listed and KEYS[3] or '')
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
if listed then redis.call('ZADD', KEYS[3], ct, ARGV[2]) end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[4], int(now_ms() + tonumber(ARGV[4])), ARGV[2]) end
return {1, ARGV[2], ARGV[3], ct}
