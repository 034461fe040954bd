--[[
  Forgets a worker (it stopped).

  Input:
    KEYS[1] workers  J workers:<env>, ZSET worker id -> deadline of its last beat
    KEYS[2] winfo    J winfo:<env>, HASH worker id -> info (JSON)

    ARGV[1] id  the worker's id

  Output:
    0
]]

redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 0
