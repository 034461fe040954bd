"""Key layout and Lua scripts of the Redis/Valkey backend (pure: no I/O).

Key layout (``P`` is the key prefix, ``chute:`` by default)::

    P{registry}:names               HASH  "<kind>\\0<env>\\0<name>" -> object id
    P{registry}:obj:<id>            HASH  info (JSON), ct (created_at, "sec.usec" from TIME),
                                          nf (its field in names), lk (its by-list key)
    P{registry}:by:<kind>:<env>     ZSET  id -> created_at, named non-ephemeral objects only
    P{registry}:ephemeral           ZSET  id -> heartbeat deadline (ms)
    P{<id>}:m                       STRING  marker: the object exists (value = kind)
    P{<id>}:seq                     STRING  INCR counter of queue items, never reset
    P{<id>}:parts                   ZSET  partition key -> expiry (ms)
    P{<id>}:p:<partition>           LIST  8-byte big-endian seq + item, oldest first
    P{<id>}:kv                      HASH  dict key -> value
    P{<id>}:kz                      ZSET  dict keys, score 0, for ordered (BYLEX) scans

Jobs (function calls) all live under one hash tag, ``{jobs}``, because a call is addressed by
its id alone (``job_get``, ``job_heartbeat``, ...). ``J`` is ``P{jobs}:``, ``F`` is
``J f:<env>:<app>:<function>:`` (names cannot contain ``:``). Job times are whole
microseconds of server ``TIME``::

    J seq                           STRING  INCR counter: creation order of calls
    J fns:<env>                     HASH  "<app>\\0<function>" -> "<deployed_at> <spec JSON>"
    J calls:<env>                   ZSET  call id -> seq, for job_list (stale ids dropped lazily)
    J call:<id>                     HASH  the call: env app fn st att fail lost ct sa fa ea w err
                                          res pl, plus ttl (result TTL), seq, fk (F),
                                          ik (its idempotency key or "")
    J done:<id>                     LIST  one token, pushed when the call turns terminal
    J idem:<env>:<app>:<fn>:<key>   STRING  call id; expires with the call's result
    J expiring                      ZSET  "<id>\\0<env>\\0<app>\\0<fn>" -> expires_at
    J tomb                          ZSET  same members -> expires_at + CALL_TOMBSTONE
    F pending                       ZSET  call id -> seq: claimable now, oldest first
    F delayed                       ZSET  call id -> end of its retry backoff (claim moves the
                                          due ones to F pending)
    F running                       ZSET  call id -> lease deadline
    F all                           ZSET  call id -> seq, for job_list of one function
    F succeeded|failed|cancelled    ZSET  call id -> expires_at, for job_stats
    F wake                          LIST  tokens for job_wait_for_work (BLPOP), kept short
    J workers:<env>                 ZSET  worker id -> deadline of its last beat
    J winfo:<env>                   HASH  worker id -> info (JSON)

A terminal call's record and done list expire natively (PEXPIREAT) at expires_at +
``CALL_TOMBSTONE``; ``expiring`` and ``tomb`` let ``collect_garbage`` (and, a few entries at a
time, every submit) drop expired results early and clean the index entries of gone records.

Everything about one object shares the hash tag ``{<id>}``, the registry shares
``{registry}`` and jobs share ``{jobs}``, so under Redis Cluster every script runs on exactly
one slot. Scripts build some key names themselves (partition lists, registry entries, job
keys); those always carry the same hash tag as a declared key, which Redis Cluster accepts.

Times come from ``TIME`` inside the scripts, never from a client, so clients with skewed
clocks agree on TTLs and heartbeats. Scripts signal a missing object with an error reply
containing ``NOT_FOUND_TOKEN``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chute.backends.types import CALL_TOMBSTONE

NOT_FOUND_TOKEN = "CHUTE_NOTFOUND"
SEQ_BYTES = 8
REGISTRY_TAG = "{registry}"
JOBS_TAG = "{jobs}"


@dataclass(frozen=True)
class ObjectKeys:
    """The keys of one object, all in the slot of ``{<id>}``."""

    base: bytes

    @property
    def marker(self) -> bytes:
        return self.base + b"m"

    @property
    def seq(self) -> bytes:
        return self.base + b"seq"

    @property
    def parts(self) -> bytes:
        return self.base + b"parts"

    @property
    def part_prefix(self) -> bytes:
        return self.base + b"p:"

    def part(self, part: bytes) -> bytes:
        return self.part_prefix + part

    @property
    def kv(self) -> bytes:
        return self.base + b"kv"

    @property
    def kz(self) -> bytes:
        return self.base + b"kz"


@dataclass(frozen=True)
class RegistryKeys:
    """The registry's keys, all in the slot of ``{registry}``."""

    base: bytes

    @property
    def names(self) -> bytes:
        return self.base + b"names"

    @property
    def ephemeral(self) -> bytes:
        return self.base + b"ephemeral"

    @property
    def obj_prefix(self) -> bytes:
        return self.base + b"obj:"

    def obj(self, object_id: str) -> bytes:
        return self.obj_prefix + object_id.encode()

    def by(self, kind: str, env: str) -> bytes:
        return self.base + f"by:{kind}:{env}".encode()


@dataclass(frozen=True)
class JobKeys:
    """The keys of every job, all in the slot of ``{jobs}``."""

    base: bytes

    @property
    def seq(self) -> bytes:
        return self.base + b"seq"

    @property
    def expiring(self) -> bytes:
        return self.base + b"expiring"

    @property
    def tomb(self) -> bytes:
        return self.base + b"tomb"

    def fns(self, env: str) -> bytes:
        return self.base + f"fns:{env}".encode()

    def calls(self, env: str) -> bytes:
        return self.base + f"calls:{env}".encode()

    def call(self, call_id: str) -> bytes:
        return self.base + f"call:{call_id}".encode()

    def done(self, call_id: str) -> bytes:
        return self.base + f"done:{call_id}".encode()

    def workers(self, env: str) -> bytes:
        return self.base + f"workers:{env}".encode()

    def winfo(self, env: str) -> bytes:
        return self.base + f"winfo:{env}".encode()

    def fn(self, env: str, app: str, function: str) -> bytes:
        """The prefix of one function's keys (must match ``fbase`` in the Lua prelude)."""
        return self.base + f"f:{env}:{app}:{function}:".encode()


def object_keys(prefix: str, object_id: str) -> ObjectKeys:
    return ObjectKeys(f"{prefix}{{{object_id}}}:".encode())


def registry_keys(prefix: str) -> RegistryKeys:
    return RegistryKeys(f"{prefix}{REGISTRY_TAG}:".encode())


def job_keys(prefix: str) -> JobKeys:
    return JobKeys(f"{prefix}{JOBS_TAG}:".encode())


def name_field(kind: str, env: str, name: str) -> bytes:
    # NUL cannot occur in a valid name or env, so fields of different (kind, env, name) differ.
    return f"{kind}\0{env}\0{name}".encode()


def split_seq(item: bytes) -> tuple[int, bytes]:
    return int.from_bytes(item[:SEQ_BYTES], "big"), item[SEQ_BYTES:]


# -- Lua --------------------------------------------------------------------------------------

_PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Lua's tostring() gives 14 significant digits; scores and expiries need every digit.
local function int(x) return string.format('%.0f', x) end
local function missing(marker) return redis.call('EXISTS', marker) == 0 end
local NOTFOUND = 'NOTFOUND_TOKEN object does not exist'
"""


def _lua(body: str) -> str:
    return (_PRELUDE + body).replace("NOTFOUND_TOKEN", NOT_FOUND_TOKEN)


# KEYS: marker, parts, seq, list   ARGV: part, ttl_ms, max_items, max_partitions, list_prefix, items...
# Returns a PutStatus. Expired partitions are purged lazily here, a bounded batch per call, and
# their lists deleted with them: a list's own PEXPIREAT fires up to 1 ms after its ZSET score
# says "expired", and a revived partition must never show the old items.
QUEUE_PUT = _lua("""
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
local now = now_ms()
local n = #ARGV - 5
local max_items = tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now), 'LIMIT', 0, 100)
for _, p in ipairs(expired) do redis.call('DEL', ARGV[5] .. p) end
if #expired > 0 then redis.call('ZREM', KEYS[2], unpack(expired)) end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) <= now then
  if n > max_items then return 1 end
  if redis.call('ZCOUNT', KEYS[2], '(' .. int(now), '+inf') >= tonumber(ARGV[4]) then return 2 end
  redis.call('DEL', KEYS[4])
elseif redis.call('LLEN', KEYS[4]) + n > max_items then
  return 1
end
if n == 0 then return 0 end
local first = redis.call('INCRBY', KEYS[3], n) - n
local batch = {}
for i = 1, n do
  batch[#batch + 1] = struct.pack('>I8', first + i) .. ARGV[5 + i]
  if #batch == 1000 or i == n then
    redis.call('RPUSH', KEYS[4], unpack(batch))
    batch = {}
  end
end
local expires = now + tonumber(ARGV[2])
redis.call('PEXPIREAT', KEYS[4], int(expires))
redis.call('ZADD', KEYS[2], int(expires), ARGV[1])
return 0
""")

# KEYS: marker, list   ARGV: n
QUEUE_POP = _lua("""
local items = redis.call('LPOP', KEYS[2], ARGV[1])
if items then return items end
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return {}
""")

# KEYS: marker, seq, list   Returns {LLEN, seq, exists}: it changes on every put to the queue,
# every get from the partition and on deletion, which is all queue_wait polls for.
QUEUE_STATE = _lua("""
return {redis.call('LLEN', KEYS[3]), redis.call('GET', KEYS[2]) or '', redis.call('EXISTS', KEYS[1])}
""")

# KEYS: marker, parts, list   ARGV: list_prefix, mode ('one' | 'all')
QUEUE_LEN = _lua("""
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
if ARGV[2] == 'one' then return redis.call('LLEN', KEYS[3]) end
local total = 0
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now_ms()), '+inf')) do
  total = total + redis.call('LLEN', ARGV[1] .. p)
end
return total
""")

# KEYS: marker, parts, list   ARGV: list_prefix, mode ('one' | 'all'), part
QUEUE_CLEAR = _lua("""
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
if ARGV[2] == 'one' then
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 0
end
for _, p in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do redis.call('DEL', ARGV[1] .. p) end
redis.call('DEL', KEYS[2])
return 0
""")

# KEYS: marker, list   ARGV: after, limit
# Items only leave a list from its head and seqs grow towards its tail, so a binary search over
# LINDEX finds the first seq > after however many items concurrent gets removed.
QUEUE_SCAN = _lua("""
local len = redis.call('LLEN', KEYS[2])
if len == 0 then
  if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
  return {}
end
local after = tonumber(ARGV[1])
local lo, hi = 0, len
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  local seq = struct.unpack('>I8', redis.call('LINDEX', KEYS[2], mid))
  if seq <= after then lo = mid + 1 else hi = mid end
end
if lo >= len then return {} end
return redis.call('LRANGE', KEYS[2], lo, lo + tonumber(ARGV[2]) - 1)
""")

# KEYS: marker, parts   ARGV: list_prefix   Returns flat {part, length, expiry_ms, ...}.
QUEUE_PARTITIONS = _lua("""
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
local out = {}
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now_ms()), '+inf', 'WITHSCORES')
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = redis.call('LLEN', ARGV[1] .. live[i])
  out[#out + 1] = live[i + 1]
end
return out
""")

# KEYS: marker, parts, seq, kv, kz   ARGV: list_prefix   Returns 1 if the object existed.
OBJECT_PURGE = _lua("""
local existed = redis.call('EXISTS', KEYS[1])
for _, p in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do redis.call('DEL', ARGV[1] .. p) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return existed
""")

# -- dict ------------------------------------------------------------------------------------

# KEYS: marker, kv   ARGV: key
KV_GET = _lua("""
local v = redis.call('HGET', KEYS[2], ARGV[1])
if v then return v end
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return false
""")

# KEYS: marker, kv   ARGV: key
KV_CONTAINS = _lua("""
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 1 end
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return 0
""")

# KEYS: marker, kv, kz   ARGV: only_new ('1' | '0'), key1, value1, key2, value2, ...
KV_PUT = _lua("""
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
if ARGV[1] == '1' then
  if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return 0 end
  redis.call('ZADD', KEYS[3], 0, ARGV[2])
  return 1
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[3], 0, ARGV[i])
end
return 1
""")

# KEYS: marker, kv, kz   ARGV: key
KV_POP = _lua("""
local v = redis.call('HGET', KEYS[2], ARGV[1])
if v then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return v
end
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return false
""")

# KEYS: marker, kv
KV_LEN = _lua("""
local n = redis.call('HLEN', KEYS[2])
if n == 0 and missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
return n
""")

# KEYS: marker, kv, kz   ARGV: min ('-' or '(' .. after), limit   Returns flat {key, value, ...}.
KV_SCAN = _lua("""
local keys = redis.call('ZRANGEBYLEX', KEYS[3], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))
if #keys == 0 then
  if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
  return {}
end
local out = {}
for _, k in ipairs(keys) do
  out[#out + 1] = k
  out[#out + 1] = redis.call('HGET', KEYS[2], k)
end
return out
""")

# KEYS: marker, kv, kz
KV_CLEAR = _lua("""
if missing(KEYS[1]) then return redis.error_reply(NOTFOUND) end
redis.call('DEL', KEYS[2], KEYS[3])
return 0
""")

# -- registry --------------------------------------------------------------------------------

# Removes one object from every registry structure. Defined inside each script that needs it
# (scripts cannot share functions). ARGV-independent: takes the obj-hash prefix explicitly.
_UNREGISTER = """
local function unregister(obj_prefix, names, eph, id)
  local obj = obj_prefix .. id
  redis.call('ZREM', eph, id)
  if redis.call('EXISTS', obj) == 0 then return 0 end
  local r = redis.call('HMGET', obj, 'nf', 'lk')
  if r[1] and r[1] ~= '' and redis.call('HGET', names, r[1]) == id then redis.call('HDEL', names, r[1]) end
  if r[2] and r[2] ~= '' then redis.call('ZREM', r[2], id) end
  redis.call('DEL', obj)
  return 1
end
"""

# KEYS: names, obj, by, ephemeral
# ARGV: name_field ('' = anonymous), id, info, ephemeral_ttl_ms ('' = none), obj_prefix
# Returns {created (1|0), id, info, created_at}: the existing object when the name is taken.
REGISTRY_CREATE = _lua("""
if ARGV[1] ~= '' then
  local existing = redis.call('HGET', KEYS[1], ARGV[1])
  if existing then
    local r = redis.call('HMGET', ARGV[5] .. existing, 'info', 'ct')
    return {0, existing, r[1], r[2]}
  end
end
local t = redis.call('TIME')
local ct = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local listed = ARGV[1] ~= '' and ARGV[4] == ''
redis.call('HSET', KEYS[2], 'info', ARGV[3], 'ct', ct, 'nf', ARGV[1], 'lk', listed and KEYS[3] or '')
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
if listed then redis.call('ZADD', KEYS[3], ct, ARGV[2]) end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[4], int(now_ms() + tonumber(ARGV[4])), ARGV[2]) end
return {1, ARGV[2], ARGV[3], ct}
""")

# KEYS: names   ARGV: name_field, obj_prefix   Returns {id, info, created_at} or nil.
REGISTRY_LOOKUP = _lua("""
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local r = redis.call('HMGET', ARGV[2] .. id, 'info', 'ct')
if not r[1] then return false end
return {id, r[1], r[2]}
""")

# KEYS: by   ARGV: max score ('+inf' or '(' .. before), limit (-1 = all), obj_prefix
# Returns flat {id, info, created_at, ...}, newest first.
REGISTRY_LIST = _lua("""
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', ARGV[3] .. id, 'info', 'ct')
  if r[1] then
    out[#out + 1] = id
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
  end
end
return out
""")

# KEYS: names, ephemeral   ARGV: obj_prefix, id   Returns 1 if the object was registered.
REGISTRY_DROP = _lua(
    _UNREGISTER
    + """
return unregister(ARGV[1], KEYS[1], KEYS[2], ARGV[2])
"""
)

# KEYS: ephemeral   ARGV: id, ttl_ms
REGISTRY_HEARTBEAT = _lua("""
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', int(now_ms() + tonumber(ARGV[2])), ARGV[1])
return 1
""")

# KEYS: names, ephemeral   ARGV: obj_prefix, batch   Unregisters up to `batch` expired ephemeral
# objects and returns their ids; the caller then deletes their data, slot by slot. Atomic, so
# concurrent collectors never get the same id.
REGISTRY_REAP = _lua(
    _UNREGISTER
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now_ms()), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do unregister(ARGV[1], KEYS[1], KEYS[2], id) end
return ids
"""
)

# -- jobs (function calls) -----------------------------------------------------------------------

# Job scripts keep times in whole microseconds (exact in a Lua double until the year 2255) and
# take the jobs base ``P{jobs}:`` as ARGV[1] to build the per-call and per-function key names,
# which all carry the ``{jobs}`` tag of the declared keys.
_JOBS_PRELUDE = """
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local TOMBSTONE_US = TOMBSTONE_VALUE
local FIELDS = {'env', 'app', 'fn', 'st', 'att', 'fail', 'lost', 'ct', 'sa', 'fa', 'ea', 'w', 'err',
  'res', 'pl'}
local function fbase(T, env, app, fn) return T .. 'f:' .. env .. ':' .. app .. ':' .. fn .. ':' end
local function live(st) return st == 'pending' or st == 'running' end
-- {id, FIELDS...} of a call, or false. A terminal call whose expiry has come reads as
-- 'expired' without a result; `res`/`pl` are only included when asked for.
local function view(T, id, now, with_res, with_pl)
  local v = redis.call('HMGET', T .. 'call:' .. id, unpack(FIELDS))
  if not v[1] then return false end
  if not live(v[4]) and v[11] and tonumber(v[11]) <= now then
    v[4] = 'expired'
    v[14] = false
  end
  if not with_res then v[14] = false end
  if not with_pl then v[15] = false end
  table.insert(v, 1, id)
  return v
end
-- Move the function's calls whose retry backoff is over to its claimable set.
local function promote(T, fk, now)
  local due = redis.call('ZRANGEBYSCORE', fk .. 'delayed', '-inf', int(now), 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    local seq = redis.call('HGET', T .. 'call:' .. id, 'seq')
    if seq then redis.call('ZADD', fk .. 'pending', seq, id) end
  end
  if #due > 0 then redis.call('ZREM', fk .. 'delayed', unpack(due)) end
end
-- Wake one worker of the function when it has a call that can be claimed now.
local function wake(fk, now)
  if redis.call('ZCARD', fk .. 'pending') > 0
      or redis.call('ZCOUNT', fk .. 'delayed', '-inf', int(now)) > 0 then
    redis.call('LPUSH', fk .. 'wake', '1')
    redis.call('LTRIM', fk .. 'wake', 0, 15)
    redis.call('PEXPIRE', fk .. 'wake', 3600000)
  end
end
local function fenced(call, attempt)
  local r = redis.call('HMGET', call, 'st', 'att')
  return r[1] == 'running' and tonumber(r[2]) == tonumber(attempt)
end
-- A running call back to PENDING: claimable at once in its place by creation (delay_us = 0),
-- or once the delay is over.
local function requeue(call, fk, id, now, delay_us)
  redis.call('HSET', call, 'st', 'pending')
  redis.call('HDEL', call, 'w')
  redis.call('ZREM', fk .. 'running', id)
  if delay_us > 0 then
    redis.call('ZADD', fk .. 'delayed', int(now + delay_us), id)
  else
    redis.call('ZADD', fk .. 'pending', redis.call('HGET', call, 'seq'), id)
  end
end
-- Make a live call terminal: drop it from the pending/running sets, schedule its result's and
-- its record's expiry, and wake every job_wait on it (the done list stays until the record goes).
local function terminate(T, id, st, res, now)
  local call = T .. 'call:' .. id
  local r = redis.call('HMGET', call, 'fk', 'ttl', 'ik', 'env', 'app', 'fn')
  local fk = r[1]
  local ea = now + tonumber(r[2])
  local gone = ea + TOMBSTONE_US
  local gone_ms = int(math.ceil(gone / 1000))
  redis.call('HSET', call, 'st', st, 'fa', int(now), 'ea', int(ea))
  if res then redis.call('HSET', call, 'res', res) else redis.call('HDEL', call, 'res') end
  redis.call('HDEL', call, 'pl')
  redis.call('ZREM', fk .. 'pending', id)
  redis.call('ZREM', fk .. 'delayed', id)
  redis.call('ZREM', fk .. 'running', id)
  redis.call('ZADD', fk .. st, int(ea), id)
  local m = id .. '\\0' .. r[4] .. '\\0' .. r[5] .. '\\0' .. r[6]
  redis.call('ZADD', T .. 'expiring', int(ea), m)
  redis.call('ZADD', T .. 'tomb', int(gone), m)
  redis.call('PEXPIREAT', call, gone_ms)
  local done = T .. 'done:' .. id
  redis.call('RPUSH', done, '1')
  redis.call('PEXPIREAT', done, gone_ms)
  if r[3] and r[3] ~= '' and redis.call('GET', r[3]) == id then
    redis.call('PEXPIREAT', r[3], int(math.ceil(ea / 1000)))
  end
  return fk
end
-- Bounded clean-up: drop results whose expiry came, and records (with their index entries)
-- past expiry + tombstone. Returns {results dropped, records deleted}.
local function sweep(T, now, batch)
  local function split(m)
    return string.match(m, '^([^%z]*)%z([^%z]*)%z([^%z]*)%z(.*)$')
  end
  local function uncount(fk, id)
    redis.call('ZREM', fk .. 'succeeded', id)
    redis.call('ZREM', fk .. 'failed', id)
    redis.call('ZREM', fk .. 'cancelled', id)
  end
  local exp = redis.call('ZRANGEBYSCORE', T .. 'expiring', '-inf', int(now), 'LIMIT', 0, batch)
  for _, m in ipairs(exp) do
    local id, env, app, fn = split(m)
    redis.call('HDEL', T .. 'call:' .. id, 'res')
    uncount(fbase(T, env, app, fn), id)
  end
  if #exp > 0 then redis.call('ZREM', T .. 'expiring', unpack(exp)) end
  local gone = redis.call('ZRANGEBYSCORE', T .. 'tomb', '-inf', int(now), 'LIMIT', 0, batch)
  for _, m in ipairs(gone) do
    local id, env, app, fn = split(m)
    local fk = fbase(T, env, app, fn)
    redis.call('DEL', T .. 'call:' .. id, T .. 'done:' .. id)
    redis.call('ZREM', T .. 'calls:' .. env, id)
    redis.call('ZREM', fk .. 'all', id)
    uncount(fk, id)
  end
  if #gone > 0 then
    redis.call('ZREM', T .. 'tomb', unpack(gone))
    redis.call('ZREM', T .. 'expiring', unpack(gone))
  end
  return {#exp, #gone}
end
"""


def _jobs_lua(body: str) -> str:
    return _lua(_JOBS_PRELUDE.replace("TOMBSTONE_VALUE", str(int(CALL_TOMBSTONE * 1_000_000))) + body)


# KEYS: fns   ARGV: app, name1, spec1, name2, spec2, ...   Replaces every function of the app.
JOB_DEPLOY = _jobs_lua("""
local prefix = ARGV[1] .. '\\0'
local stale = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, #prefix) == prefix then stale[#stale + 1] = f end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
local at = int(now_us())
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], prefix .. ARGV[i], at .. ' ' .. ARGV[i + 1]) end
return 0
""")

# KEYS: seq   ARGV: T, env, app, fn, id, payload, result_ttl_us, idempotency key, has_key
# ('1' | '0'), sweep batch   Returns the id of the stored (or earlier) call.
JOB_SUBMIT = _jobs_lua("""
local T, env, app, fn, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ik = ''
if ARGV[9] == '1' then
  ik = T .. 'idem:' .. env .. ':' .. app .. ':' .. fn .. ':' .. ARGV[8]
  local earlier = redis.call('GET', ik)
  if earlier and redis.call('EXISTS', T .. 'call:' .. earlier) == 1 then return earlier end
end
local call = T .. 'call:' .. id
if redis.call('EXISTS', call) == 1 then return id end
local now = now_us()
sweep(T, now, tonumber(ARGV[10]))
local seq = redis.call('INCR', KEYS[1])
local fk = fbase(T, env, app, fn)
redis.call('HSET', call, 'env', env, 'app', app, 'fn', fn, 'st', 'pending', 'att', 0, 'fail', 0,
  'lost', 0, 'ct', int(now), 'pl', ARGV[6], 'ttl', ARGV[7], 'seq', seq, 'fk', fk, 'ik', ik)
redis.call('ZADD', fk .. 'pending', seq, id)
redis.call('ZADD', fk .. 'all', seq, id)
redis.call('ZADD', T .. 'calls:' .. env, seq, id)
-- No expiry while the call is live: terminate() sets it to the result's expiry.
if ik ~= '' then redis.call('SET', ik, id) end
wake(fk, now)
return id
""")

# KEYS: pending, running   ARGV: T, fk, worker, n, lease_us, max_running ('' = no cap), max_lost
# Returns the claimed calls, oldest first, each {id, FIELDS...} with the payload.
JOB_CLAIM = _jobs_lua("""
local T, fk = ARGV[1], ARGV[2]
local now = now_us()
local max_lost = tonumber(ARGV[7])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. int(now), 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  local call = T .. 'call:' .. id
  if redis.call('HGET', call, 'st') ~= 'running' then
    redis.call('ZREM', KEYS[2], id)
  else
    local lost = redis.call('HINCRBY', call, 'lost', 1)
    if lost > max_lost then
      redis.call('HSET', call, 'err',
        'worker lost: the worker running this call stopped renewing its lease (' .. lost .. ' lost attempts)')
      terminate(T, id, 'failed', false, now)
    else
      requeue(call, fk, id, now, 0)
    end
  end
end
promote(T, fk, now)
local take = tonumber(ARGV[4])
if ARGV[6] ~= '' then take = math.min(take, tonumber(ARGV[6]) - redis.call('ZCARD', KEYS[2])) end
if take <= 0 then return {} end
local out = {}
local deadline = int(now + tonumber(ARGV[5]))
local popped = redis.call('ZPOPMIN', KEYS[1], take)
for i = 1, #popped, 2 do
  local id = popped[i]
  local call = T .. 'call:' .. id
  if redis.call('HGET', call, 'st') == 'pending' then
    redis.call('HINCRBY', call, 'att', 1)
    redis.call('HSET', call, 'st', 'running', 'sa', int(now), 'w', ARGV[3])
    redis.call('ZADD', KEYS[2], deadline, id)
    out[#out + 1] = view(T, id, now, false, true)
  end
end
return out
""")

# KEYS: call   ARGV: T, id, attempt, lease_us   Returns 1 if the lease was extended.
JOB_HEARTBEAT = _jobs_lua("""
if not fenced(KEYS[1], ARGV[3]) then return 0 end
local fk = redis.call('HGET', KEYS[1], 'fk')
redis.call('ZADD', fk .. 'running', 'XX', int(now_us() + tonumber(ARGV[4])), ARGV[2])
return 1
""")

# KEYS: call   ARGV: T, id, attempt, state ('succeeded' | 'failed'), result, error, has_error
JOB_FINISH = _jobs_lua("""
if not fenced(KEYS[1], ARGV[3]) then return 0 end
local now = now_us()
if ARGV[4] == 'failed' then redis.call('HINCRBY', KEYS[1], 'fail', 1) end
if ARGV[7] == '1' then redis.call('HSET', KEYS[1], 'err', ARGV[6]) else redis.call('HDEL', KEYS[1], 'err') end
wake(terminate(ARGV[1], ARGV[2], ARGV[4], ARGV[5], now), now)
return 1
""")

# KEYS: call   ARGV: T, id, attempt, delay_us, error
JOB_RETRY = _jobs_lua("""
if not fenced(KEYS[1], ARGV[3]) then return 0 end
local now = now_us()
local fk = redis.call('HGET', KEYS[1], 'fk')
redis.call('HINCRBY', KEYS[1], 'fail', 1)
redis.call('HSET', KEYS[1], 'err', ARGV[5])
requeue(KEYS[1], fk, ARGV[2], now, tonumber(ARGV[4]))
wake(fk, now)
return 1
""")

# KEYS: call   ARGV: T, id, attempt
JOB_RELEASE = _jobs_lua("""
if not fenced(KEYS[1], ARGV[3]) then return 0 end
local now = now_us()
local fk = redis.call('HGET', KEYS[1], 'fk')
redis.call('HINCRBY', KEYS[1], 'att', -1)
requeue(KEYS[1], fk, ARGV[2], now, 0)
wake(fk, now)
return 1
""")

# KEYS: call   ARGV: T, id, result   Returns 1 if the call was live and is now cancelled.
JOB_CANCEL = _jobs_lua("""
if not live(redis.call('HGET', KEYS[1], 'st')) then return 0 end
local now = now_us()
redis.call('HSET', KEYS[1], 'err', 'cancelled')
wake(terminate(ARGV[1], ARGV[2], 'cancelled', ARGV[3], now), now)
return 1
""")

# KEYS: call   ARGV: T, id   Returns {id, FIELDS...} with the result (no payload), or nil.
JOB_GET = _jobs_lua("""
return view(ARGV[1], ARGV[2], now_us(), true, false)
""")

# KEYS: pending, delayed, running, succeeded, failed, cancelled   Counts by state; calls whose
# result expired do not count.
JOB_STATS = _jobs_lua("""
local now = int(now_us())
local out = {redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3])}
for i = 4, 6 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  out[#out + 1] = redis.call('ZCARD', KEYS[i])
end
return out
""")

# KEYS: index (calls:<env> or a function's `all`)   ARGV: T, max score ('+inf' | '(' .. seq),
# batch, app ('' = any), fn ('' = any), state ('' = any), limit
# Walks up to `batch` entries newest first and returns {cursor, done, call, call, ...}: `done`
# is 1 when `limit` calls matched or the index is exhausted. Entries of vanished records are
# removed on the way.
JOB_LIST = _jobs_lua("""
local T = ARGV[1]
local now = now_us()
local limit = tonumber(ARGV[7])
local batch = tonumber(ARGV[3])
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], '-inf', 'WITHSCORES', 'LIMIT', 0, batch)
local out = {'', 0}
local found = 0
for i = 1, #ids, 2 do
  out[1] = ids[i + 1]
  local v = view(T, ids[i], now, false, false)
  if not v then
    redis.call('ZREM', KEYS[1], ids[i])
  elseif (ARGV[4] == '' or v[3] == ARGV[4]) and (ARGV[5] == '' or v[4] == ARGV[5])
      and (ARGV[6] == '' or v[5] == ARGV[6]) then
    out[#out + 1] = v
    found = found + 1
    if found >= limit then
      out[2] = 1
      return out
    end
  end
end
if #ids < 2 * batch then out[2] = 1 end
return out
""")

# KEYS: expiring, tomb   ARGV: T, batch   Returns {results dropped, records deleted}.
JOB_SWEEP = _jobs_lua("""
return sweep(ARGV[1], now_us(), tonumber(ARGV[2]))
""")

# -- workers -----------------------------------------------------------------------------------

# KEYS: workers, winfo   ARGV: id, info, ttl_us   Also forgets workers whose beat expired.
WORKER_BEAT = _jobs_lua("""
local now = now_us()
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, 100)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[3])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 0
""")

# KEYS: workers, winfo   ARGV: id
WORKER_GONE = _lua("""
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 0
""")

# KEYS: workers, winfo   Returns flat {id, info, ...} of the live workers.
WORKER_LIST = _jobs_lua("""
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now_us()), '+inf')) do
  local info = redis.call('HGET', KEYS[2], id)
  if info then
    out[#out + 1] = id
    out[#out + 1] = info
  end
end
return out
""")

SCRIPTS: dict[str, str] = {
    "queue_put": QUEUE_PUT,
    "queue_pop": QUEUE_POP,
    "queue_state": QUEUE_STATE,
    "queue_len": QUEUE_LEN,
    "queue_clear": QUEUE_CLEAR,
    "queue_scan": QUEUE_SCAN,
    "queue_partitions": QUEUE_PARTITIONS,
    "object_purge": OBJECT_PURGE,
    "kv_get": KV_GET,
    "kv_contains": KV_CONTAINS,
    "kv_put": KV_PUT,
    "kv_pop": KV_POP,
    "kv_len": KV_LEN,
    "kv_scan": KV_SCAN,
    "kv_clear": KV_CLEAR,
    "registry_create": REGISTRY_CREATE,
    "registry_lookup": REGISTRY_LOOKUP,
    "registry_list": REGISTRY_LIST,
    "registry_drop": REGISTRY_DROP,
    "registry_heartbeat": REGISTRY_HEARTBEAT,
    "registry_reap": REGISTRY_REAP,
    "job_deploy": JOB_DEPLOY,
    "job_submit": JOB_SUBMIT,
    "job_claim": JOB_CLAIM,
    "job_heartbeat": JOB_HEARTBEAT,
    "job_finish": JOB_FINISH,
    "job_retry": JOB_RETRY,
    "job_release": JOB_RELEASE,
    "job_cancel": JOB_CANCEL,
    "job_get": JOB_GET,
    "job_stats": JOB_STATS,
    "job_list": JOB_LIST,
    "job_sweep": JOB_SWEEP,
    "worker_beat": WORKER_BEAT,
    "worker_gone": WORKER_GONE,
    "worker_list": WORKER_LIST,
}
