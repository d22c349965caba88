-- POST /api/tasks {"name": "...", "duration": seconds}: validate, spawn a
-- worker process for the task, answer 202 with its pid.
local http = require("http")

type TaskRequest = {name: string?, duration: number?}

local function handler(): ()
    local req = http.request()
    local res = http.response()

    local body, err = req:body_json()
    if err or type(body) ~= "table" then
        res:set_status(http.STATUS.BAD_REQUEST)
        res:write_json({error = "invalid JSON body"})
        return
    end
    local task = body :: TaskRequest
    if type(task.name) ~= "string" or task.name == "" then
        res:set_status(http.STATUS.BAD_REQUEST)
        res:write_json({error = "name is required"})
        return
    end
    local duration: number = tonumber(task.duration) or 3
    if duration < 0 then duration = 0 end

    local pid: string?, serr = process.spawn("app:task_worker", "app:processes",
                                    {name = task.name, duration = duration})
    if not pid then
        res:set_status(http.STATUS.INTERNAL_ERROR)
        res:write_json({error = tostring(serr)})
        return
    end

    res:set_status(http.STATUS.ACCEPTED)
    res:write_json({
        pid = pid,
        name = task.name,
        status = "spawned",
        message = "Process " .. pid .. " will run for " .. duration .. " seconds",
    })
end

return { handler = handler }
