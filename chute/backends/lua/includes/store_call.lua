--- @include "int"
--- @include "now_us"
--- @include "fbase"
--- @include "wake"
--- @include "sweep"
--- @include "enqueue"
--- @include "unqueue"

-- job_submit's body (its header describes the keys and arguments, in this order): stores a
-- new pending call, or returns the earlier call of its idempotency key (with debounce, an
-- earlier call still pending takes the new payload, delay and arguments summary instead).
local function store_call(seq_key, call, idem, pending, delayed, all, wake_list, expiring, tomb, orphans, jobs, keyed, env, app, fn, id, payload, ttl, has_key, sweep_batch, locator, delay, pr, ck, debounce, summary, nowake)
  local delay_us = tonumber(delay)
  local fk = fbase(jobs, env, app, fn)
  local ik = ''
  if has_key == '1' then
    ik = idem
    local earlier = redis.call('GET', idem)
    local ecall = jobs .. 'call:' .. (earlier or '')
    if earlier and redis.call('EXISTS', ecall) == 1 then
      if debounce ~= '1' then return earlier end
      if redis.call('HGET', ecall, 'st') == 'pending' then
        local now = now_us()
        unqueue(ecall, pending, delayed, fk, earlier)
        redis.call('HSET', ecall, 'pl', payload, 'pr', pr, 'ck', ck, 'as', summary)
        redis.call('ZADD', delayed, int(now + delay_us), earlier)
        return earlier
      end
      -- Debounced, and the earlier call started already: the key passes to this call.
    end
  end
  if redis.call('EXISTS', call) == 1 then return id end
  local now = now_us()
  if tonumber(sweep_batch) > 0 then sweep(jobs, expiring, tomb, orphans, now, tonumber(sweep_batch)) end
  local seq = redis.call('INCR', seq_key)
  redis.call('HSET', call, 'env', env, 'app', app, 'fn', fn, 'st', 'pending', 'att', 0, 'fail', 0,
    'lost', 0, 'ct', int(now), 'pl', payload, 'ttl', ttl, 'seq', seq, 'fk', fk, 'ik', ik, 'lc', locator, 'pr', pr, 'ck', ck,
    'as', summary)
  if delay_us > 0 then
    redis.call('ZADD', delayed, int(now + delay_us), id)
  else
    enqueue(call, pending, fk, id)
  end
  redis.call('ZADD', all, seq, id)
  -- No expiry while the call is live: terminate() sets it to the result's expiry.
  if ik ~= '' then redis.call('SET', idem, id) end
  if not nowake then wake(pending, delayed, wake_list, now, keyed) end
  return id
end
