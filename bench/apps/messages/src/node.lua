-- A ring node or a ping-pong peer: learns where to send on "next", then
-- forwards every "t" it receives there, with the count less one, until a
-- count of 0 arrives; a count of 0 is forwarded once more and ends it.
local function main(): integer
    local inbox = process.inbox()
    local first = inbox:receive()
    local next_pid = first:payload():data()
    while true do
        local m = inbox:receive()
        local n = m:payload():data()
        process.send(next_pid, "t", n > 0 and n - 1 or 0)
        if n == 0 then
            return 0
        end
    end
end
return { main = main }
