--[[
  Stores the progress of a running call.

  Input:
    KEYS[1] call  T call:<id>, the call's record

    ARGV[1] progress  JSON text

  Output:
    1 if stored, 0 if the call is not running
]]

if redis.call('HGET', KEYS[1], 'st') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'pg', ARGV[1])
return 1
