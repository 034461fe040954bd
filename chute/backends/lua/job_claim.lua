--[[
  Claims up to n pending calls of one function for a worker, oldest first. First fails or
  requeues the function's running calls whose lease expired (a lost worker), and makes its
  delayed calls whose backoff is over claimable.

  Input:
    KEYS[1] pending      F pending, ZSET call id -> seq
    KEYS[2] running      F running, ZSET call id -> lease deadline
    KEYS[3] delayed      F delayed, ZSET call id -> end of its retry backoff
    KEYS[4] expiring     T expiring, ZSET member -> result expiry
    KEYS[5] tomb         T tomb, ZSET member -> record expiry
    KEYS[6] jobs_prefix  T (a prefix, no key): names the records (and done lists) of the
                         calls read from KEYS[1..3]

    ARGV[1] worker       the claiming worker's id
    ARGV[2] n            most calls to claim
    ARGV[3] lease_us     the lease of each claimed call
    ARGV[4] max_running  most running calls of the function, or '' for no cap
    ARGV[5] max_lost     lost attempts after which a call fails

  Output:
    the claimed calls, oldest first, each {id, FIELDS...} (see view) with the payload
]]
--- @include "int"
--- @include "now_us"
--- @include "view"
--- @include "promote"
--- @include "requeue"
--- @include "terminate"

local jobs = KEYS[6]
local now = now_us()
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
if take <= 0 then return {} end
local out = {}
local deadline = int(now + tonumber(ARGV[3]))
local popped = redis.call('ZPOPMIN', KEYS[1], take)
for i = 1, #popped, 2 do
  local id = popped[i]
  local call = jobs .. 'call:' .. id
  if redis.call('HGET', call, 'st') == 'pending' then
    redis.call('HINCRBY', call, 'att', 1)
    redis.call('HSET', call, 'st', 'running', 'sa', int(now), 'w', ARGV[1])
    redis.call('ZADD', KEYS[2], deadline, id)
    out[#out + 1] = view(call, id, now, false, true)
  end
end
return out
