-- spawner N MIN_MS MAX_MS HOLD_S: prints "spawned N SECONDS" when its spawn
-- loop ends and "running N SECONDS" when every worker has reported "up",
-- both from the loop's start; then holds HOLD_S seconds and returns.
local time = require("time")
local io = require("io")

local function main(ns: string, mins: string, maxs: string, holds: string): integer
    local n = math.tointeger(tonumber(ns)) or 10000
    local lo = math.tointeger(tonumber(mins)) or 60000
    local hi = math.tointeger(tonumber(maxs)) or 120000
    local hold = tonumber(holds) or 0
    local me = process.pid()
    local inbox = process.inbox()
    local t0 = time.now()
    for i = 1, n do
        local pid, err = process.spawn_monitored("app:worker", "app:processes",
                                                 me, i, math.random(lo, hi))
        if pid == nil then
            io.print("error spawn " .. i .. ": " .. tostring(err))
            return 1
        end
    end
    io.print(string.format("spawned %d %.4f", n, time.now():sub(t0):seconds()))
    local up = 0
    while up < n do
        if inbox:receive():topic() == "up" then
            up = up + 1
        end
    end
    io.print(string.format("running %d %.4f", n, time.now():sub(t0):seconds()))
    if hold > 0 then
        time.sleep(math.floor(hold * 1000) * time.MILLISECOND)
    end
    return 0
end

return { main = main }
