-- The server's clock in whole milliseconds: clients with skewed clocks agree on TTLs.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
