-- Worker: ticks every interval_ms and reports each tick to the spawner,
-- until the runtime delivers CANCEL on shutdown.
--
-- Thousands of these run at once, so the per-process footprint matters:
-- the select cases are built once and reused, and a tick allocates nothing
-- here beyond the message itself.
local time = require("time")

local function main(parent: string, id: integer, interval_ms: integer): integer
    local ticker = assert(time.ticker(interval_ms * time.MILLISECOND))
    local ticks = ticker:response()
    local events = process.events()
    local cases = { events:case_receive(), ticks:case_receive() }

    while true do
        local r = channel.select(cases)
        if r.channel == ticks then
            process.send(parent, "tick", id)
        elseif r.value.kind == process.event.CANCEL then
            ticker:stop()
            return 0
        end
    end
end

return { main = main }
