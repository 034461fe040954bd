--[[
  Counts one function's calls by state. Calls whose result expired do not count.

  Input:
    KEYS[1] pending    F pending, ZSET call id -> seq
    KEYS[2] delayed    F delayed, ZSET call id -> end of its retry backoff
    KEYS[3] running    F running, ZSET call id -> lease deadline
    KEYS[4] succeeded  F succeeded, ZSET call id -> result expiry
    KEYS[5] failed     F failed, ZSET call id -> result expiry
    KEYS[6] cancelled  F cancelled, ZSET call id -> result expiry
    KEYS[7] keyed      F keyed, SET of pending calls that have a concurrency key

    ARGV none

  Output:
    {pending (with delayed and keyed), running, succeeded, failed, cancelled}
]]
--- @include "int"
--- @include "now_us"

local now = int(now_us())
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
return {redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) + redis.call('SCARD', KEYS[7]), redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]), redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6])}
