-- driver APID ROUNDS STREAM, on node B: ROUNDS ping-pong round trips with
-- the echo process of node A, each timed (p50 and p99), then STREAM
-- one-way messages and the count back. Prints
--   pingpong ROUNDS SECONDS RTT_PER_S P50_US P99_US
--   stream STREAM SECONDS MSGS_PER_S
local time = require("time")
local io = require("io")

local function main(apid: string, r: string, s: string): integer
    local rounds, stream = tonumber(r) or 10000, tonumber(s) or 100000
    local inbox = process.inbox()
    -- Until B has heard of A, a send is Unavailable.
    for _ = 1, 200 do
        if process.send(apid, "ping", 0) then break end
        time.sleep("50ms")
    end
    inbox:receive()
    local rtt = {}
    local t0 = time.now()
    for i = 1, rounds do
        local a = time.now():unix_nano()
        process.send(apid, "ping", i)
        inbox:receive()
        rtt[i] = time.now():unix_nano() - a
    end
    local secs = time.now():sub(t0):seconds()
    table.sort(rtt)
    io.print(string.format("pingpong %d %.3f %d %d %d", rounds, secs, math.floor(rounds / secs),
        rtt[math.max(1, rounds // 2)] // 1000, rtt[math.max(1, math.ceil(rounds * 0.99))] // 1000))
    t0 = time.now()
    for i = 1, stream do
        process.send(apid, "s", i)
    end
    process.send(apid, "end")
    local n = inbox:receive():payload():data()
    secs = time.now():sub(t0):seconds()
    io.print(string.format("stream %d %.3f %d", n, secs, math.floor(n / secs)))
    return 0
end

return { main = main }
