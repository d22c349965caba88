-- One task, one process: run the steps, log each, exit (memory freed).
local time = require("time")
local logger = require("logger")

local function main(task)
    local steps = 3
    logger:info("task started", {name = task.name, duration = task.duration})
    for step = 1, steps do
        if task.duration > 0 then
            time.sleep(math.floor(task.duration * 1000 / steps) * time.MILLISECOND)
        end
        logger:info("task step", {name = task.name, step = step, of = steps})
    end
    logger:info("task finished", {name = task.name})
    return 0
end

return { main = main }
