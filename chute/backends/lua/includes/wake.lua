--- @include "int"

-- Wakes one worker of a function (a token in its `wake` list, kept short) when it has a call
-- that can be claimed now (in `pending`, counted in `keyed`, or due in `delayed`).
local function wake(pending, delayed, wake_list, now, keyed)
  if redis.call('ZCARD', pending) > 0 or redis.call('SCARD', keyed) > 0
      or redis.call('ZCOUNT', delayed, '-inf', int(now)) > 0 then
    redis.call('LPUSH', wake_list, '1')
    redis.call('LTRIM', wake_list, 0, 15)
    redis.call('PEXPIRE', wake_list, 3600000)
  end
end
-- The same for a script that knows a call by its id only: `fk` is the function's key prefix
-- stored in the call record.
local function wake_function(fk, now) wake(fk .. 'pending', fk .. 'delayed', fk .. 'wake', now, fk .. 'keyed') end
