--[[
  Stores several new calls of one function (none with an idempotency key), as job_submit
  does one by one, in one script: one sweep and one wake for the batch instead of one per
  call. Calls whose id exists already are left as they are.

  Input:
    KEYS[1] seq        T seq, creation order of the slot's calls
    KEYS[2] pending    F pending, ZSET call id -> priority-and-seq score
    KEYS[3] delayed    F delayed, ZSET call id -> end of its delay or retry backoff
    KEYS[4] all        F all, ZSET call id -> seq
    KEYS[5] wake       F wake, LIST of tokens for the function's idle workers
    KEYS[6] expiring   T expiring, ZSET member -> result expiry
    KEYS[7] tomb       T tomb, ZSET member -> record expiry
    KEYS[8] orphans    T orphans, LIST of the locators of records the sweep deleted
    KEYS[9] jobs_prefix  T (a prefix, no key): names each call's record (call:<id>), the keys
                         of the calls the sweep cleans up and the function's keys (fbase)
    KEYS[10] keyed     F keyed, SET of pending calls that have a concurrency key

    ARGV[1] env            the environment
    ARGV[2] app            the app
    ARGV[3] fn             the function
    ARGV[4] result_ttl_us  how long a result is kept once it is terminal
    ARGV[5] sweep_batch    most expired calls to clean up
    ARGV[6...] calls       8 per call: id, payload, locator, delay_us, priority, ckey, debounce,
                           summary (as job_submit's ARGV[4], [5], [9] to [14])

  Output:
    the ids of the stored calls, in order
]]
--- @include "store_call"

local out = {}
local sweep_batch = ARGV[5]
for i = 6, #ARGV, 8 do
  local id = ARGV[i]
  -- No idempotency key in a batch: store_call never touches its idem key (named, unused).
  out[#out + 1] = store_call(KEYS[1], KEYS[9] .. 'call:' .. id, KEYS[9] .. 'idem:', KEYS[2], KEYS[3], KEYS[4], KEYS[5],
    KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], ARGV[1], ARGV[2], ARGV[3], id, ARGV[i + 1], ARGV[4], '0',
    sweep_batch, ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6],
    ARGV[i + 7], true)
  sweep_batch = '0'
end
wake(KEYS[2], KEYS[3], KEYS[5], now_us(), KEYS[10])
return out
