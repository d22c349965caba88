-- The task repository: SQLite through sql, an event on the queue for
-- every change. Errors go back to the caller (the HTTP handler) as error
-- objects with their kind.
local sql = require("sql")
local queue = require("queue")
local time = require("time")

type Task = {id: integer, title: string, done: boolean, created_at: string}

local SCHEMA = [[CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    done BOOLEAN NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL)]]

local ready = false -- per pooled state: the schema is made once

local function db()
    local d, err = sql.get("app:db")
    if not d then return nil, err end
    if not ready then
        local _, serr = d:execute(SCHEMA)
        if serr then d:release(); return nil, serr end
        ready = true
    end
    return d
end

local function create(title: string): (Task?, error?)
    local d, err = db()
    if not d then return nil, err end
    local now = time.now():format_rfc3339()
    local r, ierr = d:execute("INSERT INTO tasks (title, created_at) VALUES (?, ?)", {title, now})
    d:release()
    if ierr then return nil, ierr end
    local task: Task = {id = r.last_insert_id, title = title, done = false, created_at = now}
    queue.publish("app:events", {event = "created", id = task.id})
    return task
end

local function list(): ({Task}?, error?)
    local d, err = db()
    if not d then return nil, err end
    local rows, qerr = d:query("SELECT id, title, done, created_at FROM tasks ORDER BY id")
    d:release()
    if qerr then return nil, qerr end
    for _, row in ipairs(rows) do row.done = row.done == true or row.done == 1 end
    return rows
end

local function finish(id: integer): (boolean?, error?)
    local d, err = db()
    if not d then return nil, err end
    local r, uerr = d:execute("UPDATE tasks SET done = 1 WHERE id = ? AND done = 0", {id})
    d:release()
    if uerr then return nil, uerr end
    if r.rows_affected == 0 then
        return nil, errors.new({kind = errors.NOT_FOUND, message = "no open task " .. id})
    end
    queue.publish("app:events", {event = "done", id = id})
    return true
end

return { create = create, list = list, finish = finish }
