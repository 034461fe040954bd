--- @include "int"

-- A waiting call's score in its function's claimable sets: higher priority (`pr`) first, then
-- creation order (`seq`). Priorities stay within +-1000 (chute._validate), seqs below 2^40.
local function pscore(call)
  local r = redis.call('HMGET', call, 'seq', 'pr')
  return int(tonumber(r[1]) - (tonumber(r[2]) or 0) * 1099511627776)
end
