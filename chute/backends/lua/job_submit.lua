--[[
  Stores a new call as pending (or delayed) and wakes a worker of its function; with an
  idempotency key, returns the earlier call stored under that key while its record exists
  (debounced: an earlier call still pending takes this call's payload and delay instead). Also
  cleans up a few expired calls (a bounded sweep).

  Input:
    KEYS[1] seq        T seq, creation order of the slot's calls
    KEYS[2] call       T call:<id>, the call's record
    KEYS[3] idem       T idem:<env>:<app>:<fn>:<key>, the call id under its idempotency key
                       (touched only if has_key)
    KEYS[4] pending    F pending, ZSET call id -> priority-and-seq score
    KEYS[5] delayed    F delayed, ZSET call id -> end of its delay or retry backoff
    KEYS[6] all        F all, ZSET call id -> seq
    KEYS[7] wake       F wake, LIST of tokens for the function's idle workers
    KEYS[8] expiring   T expiring, ZSET member -> result expiry
    KEYS[9] tomb       T tomb, ZSET member -> record expiry
    KEYS[10] orphans   T orphans, LIST of the locators of records the sweep deleted
    KEYS[11] jobs_prefix  T (a prefix, no key): names the record of an earlier call, the keys
                          of the calls the sweep cleans up and the function's keys (fbase)
    KEYS[12] keyed     F keyed, SET of pending calls that have a concurrency key

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
    ARGV[10] delay_us      claimable only after this delay
    ARGV[11] priority      higher is claimed first
    ARGV[12] ckey          its concurrency key, or ''
    ARGV[13] debounce      '1': an earlier pending call of the key is updated instead
    ARGV[14] summary       the arguments summary (CallRecord.args_summary), or ''

  Output:
    the id of the stored call, or of the earlier call with the same idempotency key or id
]]
--- @include "store_call"

return store_call(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10],
  KEYS[11], KEYS[12], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9],
  ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14])
