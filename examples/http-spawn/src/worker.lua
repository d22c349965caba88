-- One task, one process: work through the steps, logging each, then exit
-- (return 0: a clean exit, nothing restarts it, its memory is freed).
local time = require("time")
local logger = require("logger")

type Task = {name: string, duration: number}

local STEPS <const>: integer = 3

local function main(task: Task): integer
    local pause: integer = math.floor(task.duration * 1000 / STEPS) * time.MILLISECOND
    for step = 1, STEPS do
        if pause > 0 then
            time.sleep(pause)
        end
        logger:info("step " .. step .. "/" .. STEPS, {task = task.name})
    end
    return 0
end

return { main = main }
