--[[
  Reads a call.

  Input:
    KEYS[1] call  T call:<id>, the call's record

    ARGV[1] id  the call's id

  Output:
    {id, FIELDS...} (see view) with the result and without the payload, or nil if unknown
]]
--- @include "now_us"
--- @include "view"

return view(KEYS[1], ARGV[1], now_us(), true, false)
