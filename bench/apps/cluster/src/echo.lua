-- echo: on node A, answers each "ping" to its sender and counts the
-- one-way "s" stream, answering "end" with the count. Prints its pid.
local io = require("io")

local function main(): integer
    local inbox = process.inbox()
    io.print("pid " .. process.pid())
    io.flush()
    local count = 0
    while true do
        local msg = inbox:receive()
        local topic = msg:topic()
        if topic == "ping" then
            process.send(msg:from(), "pong", msg:payload():data())
        elseif topic == "s" then
            count = count + 1
        elseif topic == "end" then
            process.send(msg:from(), "count", count)
            count = 0
        end
    end
end

return { main = main }
