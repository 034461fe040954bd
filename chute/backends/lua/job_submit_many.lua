--[[
  Stores several new calls of one function (none with an idempotency key), as job_submit
  does one by one, in one script: one clock read, sweep, seq reservation and wake for the
  batch, and each index written with one command for all its members (per call: EXISTS and
  HSET). Calls whose id exists already are left as they are.

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
                           summary (as job_submit's ARGV[4], [5], [9] to [14]; debounce is
                           unused: it needs an idempotency key)

  Output:
    the ids of the calls, in order (stored, or found stored already)
]]
--- @include "int"
--- @include "now_us"
--- @include "fbase"
--- @include "wake"
--- @include "sweep"
--- @include "enqueue"

-- ZADD of `pairs` (score, member, score, member, ...) in chunks: unpack() has a stack limit.
local function zadd_all(key, pairs)
  for i = 1, #pairs, 1000 do
    redis.call('ZADD', key, unpack(pairs, i, math.min(i + 999, #pairs)))
  end
end

local env, app, fn, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local jobs = KEYS[9]
local fk = fbase(jobs, env, app, fn)
local now = now_us()
local ct = int(now)
if tonumber(ARGV[5]) > 0 then sweep(jobs, KEYS[6], KEYS[7], KEYS[8], now, tonumber(ARGV[5])) end
-- One seq per call, reserved at once (a call found stored leaves a gap: seqs only order).
local seq = redis.call('INCRBY', KEYS[1], (#ARGV - 5) / 8) - (#ARGV - 5) / 8
local out, pending, delayed, all = {}, {}, {}, {}
for i = 6, #ARGV, 8 do
  local id = ARGV[i]
  local call = jobs .. 'call:' .. id
  out[#out + 1] = id
  seq = seq + 1
  if redis.call('EXISTS', call) == 0 then
    local pr, ck = ARGV[i + 4], ARGV[i + 5]
    redis.call('HSET', call, 'env', env, 'app', app, 'fn', fn, 'st', 'pending', 'att', 0, 'fail', 0,
      'lost', 0, 'ct', ct, 'pl', ARGV[i + 1], 'ttl', ttl, 'seq', seq, 'fk', fk, 'ik', '', 'lc', ARGV[i + 2],
      'pr', pr, 'ck', ck, 'as', ARGV[i + 7])
    local delay = tonumber(ARGV[i + 3])
    if delay > 0 then
      delayed[#delayed + 1] = int(now + delay)
      delayed[#delayed + 1] = id
    elseif ck ~= '' then
      enqueue(call, KEYS[2], fk, id)
    else
      -- pscore's value, from the arguments instead of the record just written.
      pending[#pending + 1] = int(seq - (tonumber(pr) or 0) * 1099511627776)
      pending[#pending + 1] = id
    end
    all[#all + 1] = seq
    all[#all + 1] = id
  end
end
zadd_all(KEYS[2], pending)
zadd_all(KEYS[3], delayed)
zadd_all(KEYS[4], all)
wake(KEYS[2], KEYS[3], KEYS[5], now, KEYS[10])
return out
