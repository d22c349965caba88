-- The queue consumer: counts events by name into the counters store.
local store = require("store")

local function count(ev: {event: string, id: integer}): boolean
    local s = assert(store.get("app:counters"))
    local n = s:get(ev.event) or 0
    s:set(ev.event, n + 1)
    s:release()
    return true
end

return { count = count }
