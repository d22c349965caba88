local env = require("env")
local logger = require("logger")

local function main()
    local n = tonumber(env.get("NUM_WORKERS"))
    for _ = 1, n do
        assert(process.spawn("app:worker", "app:processes"))
    end
    logger:info("all workers spawned", {count = n})
    process.events():receive()
    return 0
end

return { main = main }
