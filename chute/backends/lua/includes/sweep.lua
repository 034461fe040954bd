--- @include "int"
--- @include "fbase"

-- Bounded clean-up of the calls under `jobs` (one slot): drops results whose expiry came
-- (members of `expiring`), and records with their index entries past expiry + tombstone
-- (members of `tomb`). Members are "<id>\0<env>\0<app>\0<fn>". The locator of a deleted
-- record (`lc`, a key of another slot) is queued in `orphans` for collect_garbage.
-- Returns {results dropped, records deleted}.
local function sweep(jobs, expiring, tomb, orphans, now, batch)
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
    redis.call('HDEL', jobs .. 'call:' .. id, 'res', 'pl')
    uncount(fbase(jobs, env, app, fn), id)
  end
  if #exp > 0 then redis.call('ZREM', expiring, unpack(exp)) end
  local gone = redis.call('ZRANGEBYSCORE', tomb, '-inf', int(now), 'LIMIT', 0, batch)
  for _, m in ipairs(gone) do
    local id, env, app, fn = split(m)
    local fk = fbase(jobs, env, app, fn)
    local lc = redis.call('HGET', jobs .. 'call:' .. id, 'lc')
    if lc and lc ~= '' then redis.call('RPUSH', orphans, lc) end
    redis.call('DEL', jobs .. 'call:' .. id, jobs .. 'done:' .. id)
    redis.call('ZREM', fk .. 'all', id)
    uncount(fk, id)
  end
  if #gone > 0 then
    redis.call('ZREM', tomb, unpack(gone))
    redis.call('ZREM', expiring, unpack(gone))
  end
  return {#exp, #gone}
end
