-- A number as an integer string for scores and expiries: Lua's tostring() gives 14 significant
-- digits, and they need every digit.
local function int(x) return string.format('%.0f', x) end
