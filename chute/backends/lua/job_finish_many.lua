--[[
  Records the outcomes of several running calls' attempts of one slot, as job_finish does
  one: each only if the worker still runs that attempt; each function woken once.

  Input:
    KEYS[1] jobs_prefix  T (a prefix, no key): names each call's record (call:<id>) and done
                         list (done:<id>)
    KEYS[2] expiring     T expiring, ZSET member -> result expiry
    KEYS[3] tomb         T tomb, ZSET member -> record expiry

    ARGV[1...] outcomes  6 per call: id, attempt, state, result, error, has_error (as
                         job_finish's ARGV)

  Output:
    per call, in order: 1 if recorded, 0 if the attempt was over
]]
--- @include "now_us"
--- @include "fenced"
--- @include "wake"
--- @include "terminate"

local now = now_us()
local out, woken = {}, {}
for i = 1, #ARGV, 6 do
  local id = ARGV[i]
  local call = KEYS[1] .. 'call:' .. id
  if fenced(call, ARGV[i + 1]) then
    if ARGV[i + 2] == 'failed' then redis.call('HINCRBY', call, 'fail', 1) end
    if ARGV[i + 5] == '1' then redis.call('HSET', call, 'err', ARGV[i + 4]) else redis.call('HDEL', call, 'err') end
    local fk = terminate(call, KEYS[1] .. 'done:' .. id, KEYS[2], KEYS[3], id, ARGV[i + 2], ARGV[i + 3], now)
    if not woken[fk] then
      woken[fk] = true
      wake_function(fk, now)
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
