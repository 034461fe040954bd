--[[
  Reads every attempt's log of a call.

  Input:
    KEYS[1] logs  T logs:<call id>, HASH attempt -> output

    ARGV none

  Output:
    flat array: attempt, output, attempt, output, ...
]]
return redis.call('HGETALL', KEYS[1])
