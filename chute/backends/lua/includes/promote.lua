--- @include "enqueue"

-- Moves a function's calls whose delay is over from `delayed` to where they are claimed
-- (`pending`, or their concurrency key's set: see enqueue), each record read under `jobs`.
local function promote(jobs, pending, delayed, now)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', int(now), 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    local call = jobs .. 'call:' .. id
    local fk = redis.call('HGET', call, 'fk')
    if fk then enqueue(call, pending, fk, id) end
  end
  if #due > 0 then redis.call('ZREM', delayed, unpack(due)) end
end
