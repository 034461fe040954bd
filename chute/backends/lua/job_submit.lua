--[[
  Stores a new call as pending and wakes a worker of its function; with an idempotency key,
  returns the earlier call stored under that key while its record exists. Also cleans up a few
  expired calls (a bounded sweep).

  Input:
    KEYS[1] seq        T seq, creation order of the slot's calls
    KEYS[2] call       T call:<id>, the call's record
    KEYS[3] idem       T idem:<env>:<app>:<fn>:<key>, the call id under its idempotency key
                       (touched only if has_key)
    KEYS[4] pending    F pending, ZSET call id -> seq
    KEYS[5] delayed    F delayed, ZSET call id -> end of its retry backoff
    KEYS[6] all        F all, ZSET call id -> seq
    KEYS[7] wake       F wake, LIST of tokens for the function's idle workers
    KEYS[8] expiring   T expiring, ZSET member -> result expiry
    KEYS[9] tomb       T tomb, ZSET member -> record expiry
    KEYS[10] orphans   T orphans, LIST of the locators of records the sweep deleted
    KEYS[11] jobs_prefix  T (a prefix, no key): names the record of an earlier call, and the
                          keys of the calls the sweep cleans up

    ARGV[1] env            the environment
    ARGV[2] app            the app
    ARGV[3] fn             the function
    ARGV[4] id             the new call's id
    ARGV[5] payload        the call's arguments (serialized)
    ARGV[6] result_ttl_us  how long its result is kept once it is terminal
    ARGV[7] has_key        '1' if the call has an idempotency key (KEYS[3]), else '0'
    ARGV[8] sweep_batch    most expired calls to clean up
    ARGV[9] locator        the name of the call's locator (a key of another slot, written by
                           the client before this script; stored, never touched), or ''

  Output:
    the id of the stored call, or of the earlier call with the same idempotency key or id
]]
--- @include "int"
--- @include "now_us"
--- @include "fbase"
--- @include "wake"
--- @include "sweep"

local env, app, fn, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ik = ''
if ARGV[7] == '1' then
  ik = KEYS[3]
  local earlier = redis.call('GET', KEYS[3])
  if earlier and redis.call('EXISTS', KEYS[11] .. 'call:' .. earlier) == 1 then return earlier end
end
if redis.call('EXISTS', KEYS[2]) == 1 then return id end
local now = now_us()
sweep(KEYS[11], KEYS[8], KEYS[9], KEYS[10], now, tonumber(ARGV[8]))
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'env', env, 'app', app, 'fn', fn, 'st', 'pending', 'att', 0, 'fail', 0,
  'lost', 0, 'ct', int(now), 'pl', ARGV[5], 'ttl', ARGV[6], 'seq', seq,
  'fk', fbase(KEYS[11], env, app, fn), 'ik', ik, 'lc', ARGV[9])
redis.call('ZADD', KEYS[4], seq, id)
redis.call('ZADD', KEYS[6], seq, id)
-- No expiry while the call is live: terminate() sets it to the result's expiry.
if ik ~= '' then redis.call('SET', KEYS[3], id) end
wake(KEYS[4], KEYS[5], KEYS[7], now)
return id
