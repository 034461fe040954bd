--[[
  Walks up to `batch` entries of a call index, newest first, and returns the calls that match.
  Entries of vanished records are removed on the way.

  Input:
    KEYS[1] all          F all, ZSET call id -> seq (of one function)
    KEYS[2] jobs_prefix  T (a prefix, no key): names the records of the calls read from KEYS[1]

    ARGV[1] max    highest seq: '+inf', or '(' .. the cursor of the previous page
    ARGV[2] batch  most index entries to walk
    ARGV[3] app    only calls of this app ('' = any)
    ARGV[4] fn     only calls of this function ('' = any)
    ARGV[5] state  only calls in this state ('' = any)
    ARGV[6] limit  most calls to return

  Output:
    {cursor, done, call, call, ...}: each call {id, FIELDS...} (see view) without result or
    payload; done is 1 when `limit` calls matched or the index is exhausted
]]
--- @include "now_us"
--- @include "view"

local now = now_us()
local limit = tonumber(ARGV[6])
local batch = tonumber(ARGV[2])
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'WITHSCORES', 'LIMIT', 0, batch)
local out = {'', 0}
local found = 0
for i = 1, #ids, 2 do
  out[1] = ids[i + 1]
  local v = view(KEYS[2] .. 'call:' .. ids[i], ids[i], now, false, false)
  if not v then
    redis.call('ZREM', KEYS[1], ids[i])
  elseif (ARGV[3] == '' or v[3] == ARGV[3]) and (ARGV[4] == '' or v[4] == ARGV[4])
      and (ARGV[5] == '' or v[5] == ARGV[5]) then
    out[#out + 1] = v
    found = found + 1
    if found >= limit then
      out[2] = 1
      return out
    end
  end
end
if #ids < 2 * batch then out[2] = 1 end
return out
