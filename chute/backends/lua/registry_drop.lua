--[[
  Unregisters one object (the caller then deletes its data with object_purge).

  Input:
    KEYS[1] names      P{registry}:names, HASH name field -> object id
    KEYS[2] ephemeral  P{registry}:ephemeral, ZSET id -> heartbeat deadline (ms)
    KEYS[3] obj        P{registry}:obj:<id>, the object's hash

    ARGV[1] id  the object's id

  Output:
    1 if the object was registered, else 0
]]
--- @include "unregister"

return unregister(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
