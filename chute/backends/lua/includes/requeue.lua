--- @include "int"

-- A running call back to PENDING: claimable at once in its place by creation (delay_us = 0),
-- or once the delay is over. `pending`, `delayed` and `running` are its function's sets.
local function requeue(call, pending, delayed, running, id, now, delay_us)
  redis.call('HSET', call, 'st', 'pending')
  redis.call('HDEL', call, 'w')
  redis.call('ZREM', running, id)
  if delay_us > 0 then
    redis.call('ZADD', delayed, int(now + delay_us), id)
  else
    redis.call('ZADD', pending, redis.call('HGET', call, 'seq'), id)
  end
end
