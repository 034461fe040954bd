--[[
  Claims up to n pending calls of one function for a worker, highest priority first, FIFO
  within one. First fails or requeues the function's running calls whose lease expired (a lost
  worker), and makes its delayed calls whose delay is over claimable. A rate limit counts the
  function's recent starts; calls with a concurrency key are taken round-robin between keys
  (least recently served first), at most max_per_key running per key.

  Input:
    KEYS[1] pending      F pending, ZSET call id -> priority-and-seq score (calls without a key)
    KEYS[2] running      F running, ZSET call id -> lease deadline
    KEYS[3] delayed      F delayed, ZSET call id -> end of its delay or retry backoff
    KEYS[4] expiring     T expiring, ZSET member -> result expiry
    KEYS[5] tomb         T tomb, ZSET member -> record expiry
    KEYS[6] jobs_prefix  T (a prefix, no key): names the records (and done lists) of the
                         calls read from KEYS[1..3]
    KEYS[7] fn_prefix    F (a prefix, no key): names the sets of the concurrency keys read
                         from F keys (F kq:<key>)
    KEYS[8] starts       F starts, ZSET "<id>:<attempt>" -> start time, the rate window
    KEYS[9] keys         F keys, ZSET concurrency key -> turn it was last served
    KEYS[10] krun        F krun, HASH concurrency key -> running calls
    KEYS[11] keyed       F keyed, SET of pending calls that have a concurrency key
    KEYS[12] turn        F turn, STRING counter of the round-robin

    ARGV[1] worker       the claiming worker's id
    ARGV[2] n            most calls to claim
    ARGV[3] lease_us     the lease of each claimed call
    ARGV[4] max_running  most running calls of the function, or '' for no cap
    ARGV[5] max_lost     lost attempts after which a call fails
    ARGV[6] rate_calls   most starts in any rate window, or '' for no limit
    ARGV[7] rate_us      the rate window
    ARGV[8] max_per_key  most running calls per concurrency key, or '' for no cap
    ARGV[9] if_ready     '1': claim only if a call is claimable now (pending, or delayed and
                         due), else return at once without reaping expired leases (a claim
                         sent with a worker's blocking wait, for each of its functions)

  Output:
    the claimed calls, in claim order, each {id, FIELDS...} (see view) with the payload
]]
--- @include "int"
--- @include "now_us"
--- @include "view"
--- @include "promote"
--- @include "requeue"
--- @include "terminate"

local jobs = KEYS[6]
local now = now_us()
if ARGV[9] == '1' and redis.call('ZCARD', KEYS[1]) == 0 and redis.call('SCARD', KEYS[11]) == 0
    and redis.call('ZCOUNT', KEYS[3], '-inf', int(now)) == 0 then
  return {}
end
local max_lost = tonumber(ARGV[5])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. int(now), 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  local call = jobs .. 'call:' .. id
  if redis.call('HGET', call, 'st') ~= 'running' then
    redis.call('ZREM', KEYS[2], id)
  else
    local lost = redis.call('HINCRBY', call, 'lost', 1)
    if lost > max_lost then
      redis.call('HSET', call, 'err',
        'worker lost: the worker running this call stopped renewing its lease (' .. lost .. ' lost attempts)')
      terminate(call, jobs .. 'done:' .. id, KEYS[4], KEYS[5], id, 'failed', false, now)
    else
      requeue(call, KEYS[1], KEYS[3], KEYS[2], id, now, 0)
    end
  end
end
promote(jobs, KEYS[1], KEYS[3], now)
local take = tonumber(ARGV[2])
if ARGV[4] ~= '' then take = math.min(take, tonumber(ARGV[4]) - redis.call('ZCARD', KEYS[2])) end
local limited = ARGV[6] ~= ''
if limited then
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', int(now - tonumber(ARGV[7])))
  take = math.min(take, tonumber(ARGV[6]) - redis.call('ZCARD', KEYS[8]))
end
if take <= 0 then return {} end
local out = {}
local deadline = int(now + tonumber(ARGV[3]))
local function start(id)
  local call = jobs .. 'call:' .. id
  if redis.call('HGET', call, 'st') ~= 'pending' then return end
  local att = redis.call('HINCRBY', call, 'att', 1)
  redis.call('HSET', call, 'st', 'running', 'sa', int(now), 'w', ARGV[1])
  redis.call('HDEL', call, 'pg')
  redis.call('ZADD', KEYS[2], deadline, id)
  if limited then redis.call('ZADD', KEYS[8], int(now), id .. ':' .. att) end
  local ck = redis.call('HGET', call, 'ck')
  if ck and ck ~= '' then redis.call('HINCRBY', KEYS[10], ck, 1) end
  out[#out + 1] = view(call, id, now, false, true)
  take = take - 1
end
-- Calls without a key, then one call of each key in turn (least recently served first), until
-- n are claimed or no key can give one more.
local cap = math.huge
if ARGV[8] ~= '' then cap = tonumber(ARGV[8]) end
local keys = redis.call('ZRANGE', KEYS[9], 0, 999)
local popped = redis.call('ZPOPMIN', KEYS[1], take)
for i = 1, #popped, 2 do start(popped[i]) end
local more = #keys > 0
while take > 0 and more do
  more = false
  for _, ck in ipairs(keys) do
    if take <= 0 then break end
    if tonumber(redis.call('HGET', KEYS[10], ck) or '0') < cap then
      local got = redis.call('ZPOPMIN', KEYS[7] .. 'kq:' .. ck, 1)
      if #got == 0 then
        redis.call('ZREM', KEYS[9], ck)
      else
        redis.call('SREM', KEYS[11], got[1])
        redis.call('ZADD', KEYS[9], 'XX', redis.call('INCR', KEYS[12]), ck)
        start(got[1])
        more = true
      end
    end
  end
end
return out
