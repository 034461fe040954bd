-- The server's clock in whole microseconds (exact in a Lua double until the year 2255): job
-- times are kept in microseconds.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
