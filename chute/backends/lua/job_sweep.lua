--[[
  One bounded step of the clean-up of expired calls (see sweep).

  Input:
    KEYS[1] expiring     J expiring, ZSET member -> result expiry
    KEYS[2] tomb         J tomb, ZSET member -> record expiry
    KEYS[3] jobs_prefix  J (a prefix, no key): names the keys of the calls cleaned up

    ARGV[1] batch  most results, and most records, to clean up

  Output:
    {results dropped, records deleted}
]]
--- @include "now_us"
--- @include "sweep"

return sweep(KEYS[3], KEYS[1], KEYS[2], now_us(), tonumber(ARGV[1]))
