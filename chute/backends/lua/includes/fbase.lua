-- The prefix of one function's keys (`F` in chute/backends/_redis_keys.py; must match
-- JobKeys.fn there): jobs prefix .. 'f:<env>:<app>:<function>:'.
local function fbase(jobs, env, app, fn) return jobs .. 'f:' .. env .. ':' .. app .. ':' .. fn .. ':' end
