-- A mass-spawn worker: arms its ticker, reports that it runs, then sends a
-- tick on every fire until CANCEL (examples/mass-spawn's worker plus the
-- one "up" message that lets the spawner time the start of all of them).
local time = require("time")

local function main(parent: string, id: integer, interval_ms: integer): integer
    local ticker = assert(time.ticker(interval_ms * time.MILLISECOND))
    local ticks = ticker:response()
    local events = process.events()
    local cases = { events:case_receive(), ticks:case_receive() }
    process.send(parent, "up", id)
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
