-- A 100 ms ticker that logs, every 10 ticks, the largest distance between
-- two ticks and 100 ms seen so far, in microseconds.
local time = require("time")
local logger = require("logger")

local function main(): integer
    local tk = time.ticker("100ms")
    local ch = tk:channel()
    ch:receive()
    local prev = time.now():unix_nano()
    local worst, n = 0, 0
    while true do
        ch:receive()
        local now = time.now():unix_nano()
        local drift = math.abs((now - prev) - 100000000) // 1000
        prev = now
        if drift > worst then worst = drift end
        n = n + 1
        if n % 10 == 0 then
            logger:info("drift", { ticks = n, worst_us = worst })
        end
    end
end
return { main = main }
