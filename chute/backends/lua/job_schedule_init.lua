--[[
  Creates a function's schedule state, or moves its next tick when the schedule changed.

  Input:
    KEYS[1] sched  F sched, HASH sig next paused last lastcall (times in us)

    ARGV[1] sig      the schedule the next tick is computed for
    ARGV[2] next_us  its next tick

  Output:
    {sig, next, paused, last, lastcall}
]]

if redis.call('HGET', KEYS[1], 'sig') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'sig', ARGV[1], 'next', ARGV[2])
  redis.call('HSETNX', KEYS[1], 'paused', '0')
end
return redis.call('HMGET', KEYS[1], 'sig', 'next', 'paused', 'last', 'lastcall')
