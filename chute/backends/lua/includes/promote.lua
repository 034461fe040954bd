--- @include "int"

-- Moves a function's calls whose retry backoff is over from `delayed` to its claimable set
-- `pending` (ordered by creation: each call's `seq`, read from its record under `jobs`).
local function promote(jobs, pending, delayed, now)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', int(now), 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    local seq = redis.call('HGET', jobs .. 'call:' .. id, 'seq')
    if seq then redis.call('ZADD', pending, seq, id) end
  end
  if #due > 0 then redis.call('ZREM', delayed, unpack(due)) end
end
