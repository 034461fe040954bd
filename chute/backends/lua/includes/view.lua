--- @include "live"

-- The fields of a call record, in the order of decode_call in chute/backends/_redis_keys.py.
local FIELDS = {'env', 'app', 'fn', 'st', 'att', 'fail', 'lost', 'ct', 'sa', 'fa', 'ea', 'w', 'err',
  'res', 'pl', 'pr', 'pg', 'as'}
-- {id, FIELDS...} of the call in `call`, or false. A terminal call whose expiry has come reads
-- as 'expired' without a result; `res`/`pl` are only included when asked for.
local function view(call, id, now, with_res, with_pl)
  local v = redis.call('HMGET', call, unpack(FIELDS))
  if not v[1] then return false end
  if not live(v[4]) and v[11] and tonumber(v[11]) <= now then
    v[4] = 'expired'
    v[14] = false
  end
  if not with_res then v[14] = false end
  if not with_pl then v[15] = false end
  table.insert(v, 1, id)
  return v
end
