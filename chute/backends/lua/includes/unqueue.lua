-- Takes a pending call out of the sets where it waits (claimable or delayed).
local function unqueue(call, pending, delayed, fk, id)
  redis.call('ZREM', pending, id)
  redis.call('ZREM', delayed, id)
  local ck = redis.call('HGET', call, 'ck')
  if ck and ck ~= '' then
    redis.call('ZREM', fk .. 'kq:' .. ck, id)
    redis.call('SREM', fk .. 'keyed', id)
  end
end
-- A call of a concurrency key stops running: one fewer in F krun.
local function unrun(call, fk)
  local ck = redis.call('HGET', call, 'ck')
  if ck and ck ~= '' and redis.call('HINCRBY', fk .. 'krun', ck, -1) <= 0 then
    redis.call('HDEL', fk .. 'krun', ck)
  end
end
