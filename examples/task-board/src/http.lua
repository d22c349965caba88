-- HTTP handlers: parse, call the repository through funcs, answer JSON.
-- An error's kind picks the status: Invalid 400, NotFound 404, else 500.
local http = require("http")
local json = require("json")

local function status_of(err): integer
    local k = errors.is(err, errors.INVALID) and 400
        or errors.is(err, errors.NOT_FOUND) and 404 or 500
    return k
end

local function fail(res, err)
    res:set_status(status_of(err))
    res:write_json({error = tostring(err)})
end

local function post_task()
    local req, res = http.request(), http.response()
    local body, jerr = req:body_json()
    if jerr or type(body) ~= "table" or type(body.title) ~= "string" or body.title == "" then
        res:set_status(400)
        res:write_json({error = "body must be JSON {\"title\": \"...\"}"})
        return
    end
    local funcs = require("funcs")
    local task, err = funcs.call("app:create_task", body.title)
    if err then return fail(res, err) end
    res:set_status(201)
    res:write_json(task)
end

local function get_tasks()
    local res = http.response()
    local funcs = require("funcs")
    local tasks, err = funcs.call("app:list_tasks")
    if err then return fail(res, err) end
    res:write_json(tasks)
end

local function post_done()
    local req, res = http.request(), http.response()
    local id = tonumber(req:param("id"))
    if not id or id ~= math.floor(id) then
        res:set_status(400)
        res:write_json({error = "task id must be an integer"})
        return
    end
    local funcs = require("funcs")
    local ok, err = funcs.call("app:finish_task", math.tointeger(id))
    if err then return fail(res, err) end
    res:write_json({ok = ok})
end

local function get_stats()
    local res = http.response()
    local store = require("store")
    local s = assert(store.get("app:counters"))
    local stats = {created = s:get("created") or 0, done = s:get("done") or 0}
    s:release()
    res:write_json(stats)
end

return { post_task = post_task, get_tasks = get_tasks, post_done = post_done, get_stats = get_stats }
