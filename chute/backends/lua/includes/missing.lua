-- Whether an object is gone (its marker key does not exist), and the error reply that says so.
-- chute.backends._redis_keys.NOT_FOUND_TOKEN ("CHUTE_NOTFOUND") turns the reply into a
-- NotFoundError.
local NOTFOUND = 'CHUTE_NOTFOUND object does not exist'
local function missing(marker) return redis.call('EXISTS', marker) == 0 end
