--[[
  Pauses or resumes a function's schedule.

  Input:
    KEYS[1] sched  F sched, HASH sig next paused last lastcall (times in us)

    ARGV[1] paused  '1' to pause, '0' to resume

  Output:
    1 if the function has a schedule state, else 0
]]

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'paused', ARGV[1])
return 1
