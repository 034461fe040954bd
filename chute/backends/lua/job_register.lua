--[[
  Lists a function among those with calls (job_list merges their indexes) and its tag among
  the slots in use (collect_garbage sweeps each). Run once per function and process, before
  its first submit.

  Input:
    KEYS[1] fcalls  J fcalls:<env>, HASH "<app>\0<function>" -> tag
    KEYS[2] tags    J tags, HASH tag -> "1"

    ARGV[1] field  "<app>\0<function>"
    ARGV[2] tag    the function's tag

  Output:
    0
]]

redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], '1')
return 0
