--[[
  One bounded step of the clean-up of one slot's expired calls (see sweep), and the locators
  of deleted records to delete (keys of other slots: the client deletes them).

  Input:
    KEYS[1] expiring     T expiring, ZSET member -> result expiry
    KEYS[2] tomb         T tomb, ZSET member -> record expiry
    KEYS[3] orphans      T orphans, LIST of the locators of deleted records
    KEYS[4] jobs_prefix  T (a prefix, no key): names the keys of the calls cleaned up

    ARGV[1] batch  most results, and most records (and locators), to clean up

  Output:
    {results dropped, records deleted, locator, locator, ...}
]]
--- @include "now_us"
--- @include "sweep"

local batch = tonumber(ARGV[1])
local out = sweep(KEYS[4], KEYS[1], KEYS[2], KEYS[3], now_us(), batch)
local locs = redis.call('LPOP', KEYS[3], batch)
if locs then
  for _, lc in ipairs(locs) do out[#out + 1] = lc end
end
return out
