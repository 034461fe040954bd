--[[
  Pauses or resumes a function's schedule, and/or moves its next tick.

  Input:
    KEYS[1] sched  F sched, HASH sig next paused last lastcall (times in us)

    ARGV[1] paused   '1' to pause, '0' to resume, '' to leave as it is
    ARGV[2] next_us  the new next tick, or '' to leave it

  Output:
    1 if the function has a schedule state, else 0
]]

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'paused', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'next', ARGV[2]) end
return 1
