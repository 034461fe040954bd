--- @include "pscore"

-- Makes a pending call claimable: in `pending`, its function's set or, with a concurrency key
-- (`ck`), in that key's own set `fk .. 'kq:' .. ck` (`fk`: the function's prefix F), the key
-- listed in F keys (new keys first in the round-robin) and the call counted in F keyed.
local function enqueue(call, pending, fk, id)
  local ck = redis.call('HGET', call, 'ck')
  if ck and ck ~= '' then
    redis.call('ZADD', fk .. 'kq:' .. ck, pscore(call), id)
    redis.call('ZADD', fk .. 'keys', 'NX', 0, ck)
    redis.call('SADD', fk .. 'keyed', id)
  else
    redis.call('ZADD', pending, pscore(call), id)
  end
end
