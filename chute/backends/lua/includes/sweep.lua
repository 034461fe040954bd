--- @include "int"
--- @include "fbase"

-- Bounded clean-up of the calls under `jobs`: drops results whose expiry came (members of
-- `expiring`), and records with their index entries past expiry + tombstone (members of `tomb`).
-- Members are "<id>\0<env>\0<app>\0<fn>". Returns {results dropped, records deleted}.
local function sweep(jobs, expiring, tomb, now, batch)
  local function split(m)
    return string.match(m, '^([^%z]*)%z([^%z]*)%z([^%z]*)%z(.*)$')
  end
  local function uncount(fk, id)
    redis.call('ZREM', fk .. 'succeeded', id)
    redis.call('ZREM', fk .. 'failed', id)
    redis.call('ZREM', fk .. 'cancelled', id)
  end
  local exp = redis.call('ZRANGEBYSCORE', expiring, '-inf', int(now), 'LIMIT', 0, batch)
  for _, m in ipairs(exp) do
    local id, env, app, fn = split(m)
    redis.call('HDEL', jobs .. 'call:' .. id, 'res')
    uncount(fbase(jobs, env, app, fn), id)
  end
  if #exp > 0 then redis.call('ZREM', expiring, unpack(exp)) end
  local gone = redis.call('ZRANGEBYSCORE', tomb, '-inf', int(now), 'LIMIT', 0, batch)
  for _, m in ipairs(gone) do
    local id, env, app, fn = split(m)
    local fk = fbase(jobs, env, app, fn)
    redis.call('DEL', jobs .. 'call:' .. id, jobs .. 'done:' .. id)
    redis.call('ZREM', jobs .. 'calls:' .. env, id)
    redis.call('ZREM', fk .. 'all', id)
    uncount(fk, id)
  end
  if #gone > 0 then
    redis.call('ZREM', tomb, unpack(gone))
    redis.call('ZREM', expiring, unpack(gone))
  end
  return {#exp, #gone}
end
