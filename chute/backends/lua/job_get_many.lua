--[[
  Reads several calls of one slot, as job_get does one.

  Input:
    KEYS[1] jobs_prefix  T (a prefix, no key): names each call's record (call:<id>)

    ARGV[1...] ids  the calls' ids

  Output:
    per id, in order: {id, FIELDS...} (see view) with the result and without the payload, or
    nil if unknown
]]
--- @include "now_us"
--- @include "view"

local now = now_us()
local out = {}
for i = 1, #ARGV do
  out[i] = view(KEYS[1] .. 'call:' .. ARGV[i], ARGV[i], now, true, false)
end
return out
