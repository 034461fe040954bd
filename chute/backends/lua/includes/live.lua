-- Whether a call state is live (not terminal).
local function live(st) return st == 'pending' or st == 'running' end
