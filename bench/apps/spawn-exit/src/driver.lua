-- driver ENTRY N: spawn N processes of ENTRY with the http-spawn task as
-- arguments, pausing every 64 so they run as they come (at most a few
-- hundred wait at any time), then return.
local time = require("time")

local function main(entry, n)
    n = tonumber(n) or 100000
    local task = {name = "bench", duration = 0}
    for i = 1, n do
        local pid, err = process.spawn(entry, "app:processes", task)
        if not pid then
            error("spawn " .. i .. ": " .. tostring(err))
        end
        if i % 64 == 0 then
            time.sleep("1ms")
        end
    end
    return 0
end

return { main = main }
