-- Whether the call is still running the given attempt (a late worker's writes are refused).
local function fenced(call, attempt)
  local r = redis.call('HMGET', call, 'st', 'att')
  return r[1] == 'running' and tonumber(r[2]) == tonumber(attempt)
end
