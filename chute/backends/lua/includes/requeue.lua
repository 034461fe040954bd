--- @include "int"
--- @include "enqueue"
--- @include "unqueue"

-- A running call back to PENDING: claimable at once in its place (delay_us = 0), or once the
-- delay is over. `pending`, `delayed` and `running` are its function's sets.
local function requeue(call, pending, delayed, running, id, now, delay_us)
  -- The function's keys: the prefix `fk` job_submit stored in the record.
  local fk = redis.call('HGET', call, 'fk')
  redis.call('HSET', call, 'st', 'pending')
  redis.call('HDEL', call, 'w')
  redis.call('ZREM', running, id)
  unrun(call, fk)
  if delay_us > 0 then
    redis.call('ZADD', delayed, int(now + delay_us), id)
  else
    enqueue(call, pending, fk, id)
  end
end
