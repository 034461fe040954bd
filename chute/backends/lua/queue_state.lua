--[[
  What queue_wait polls for: the state changes on every put to the queue, every get from the
  partition and on deletion.

  Input:
    KEYS[1] marker  P{<id>}:m, exists while the queue does
    KEYS[2] seq     P{<id>}:seq, the queue's item counter
    KEYS[3] part    P{<id>}:p:<partition>, the partition's list

    ARGV none

  Output:
    {length of the partition, seq ('' before the first put), 1 if the queue exists else 0}
]]

return {redis.call('LLEN', KEYS[3]), redis.call('GET', KEYS[2]) or '', redis.call('EXISTS', KEYS[1])}
