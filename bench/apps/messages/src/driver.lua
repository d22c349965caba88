-- driver ring N LAPS | driver pingpong N: a ring of N members (the driver
-- and N - 1 nodes), or of two (the driver and one node) for N round trips.
-- The token carries a count that every hop lowers by one, from the number
-- of messages to send down to 0; prints "MODE messages SECONDS msgs_per_s".
local time = require("time")
local io = require("io")

local function main(mode: string, a: string, b: string?): integer
    -- The driver is one of the ring's members: n nodes besides it.
    local n, laps, total
    if mode == "ring" then
        local size = tonumber(a) or 1000
        laps = tonumber(b) or 1000
        n, total = size - 1, size * laps
    else
        laps = tonumber(a) or 100000
        n, total = 1, 2 * laps     -- a round trip is two messages
    end
    local pids = {}
    for i = 1, n do
        pids[i] = process.spawn("app:node", "app:processes")
    end
    -- The last node sends back to the driver, which closes the ring.
    for i = 1, n - 1 do
        process.send(pids[i], "next", pids[i + 1])
    end
    process.send(pids[n], "next", process.pid())
    local inbox = process.inbox()
    local t0 = time.now()
    process.send(pids[1], "t", total - 1)
    while true do
        local m = inbox:receive()
        local c = m:payload():data()
        if c <= 0 then
            break
        end
        process.send(pids[1], "t", c - 1)
    end
    local secs = time.now():sub(t0):seconds()
    -- The count went down by one per hop: total messages sent.
    io.print(string.format("%s %d %.3f %.0f", mode, total, secs, total / secs))
    -- Let the ring end: one more 0 around.
    process.send(pids[1], "t", 0)
    return 0
end
return { main = main }
