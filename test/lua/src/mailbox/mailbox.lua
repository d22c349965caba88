local t = require("t")
local time = require("time")

-- Never receives: everything sent to it stays queued.
local function deaf(): integer
    while true do time.sleep("10ms") end
end

-- Receives n messages on "m", then returns how many it got.
local function listener(n: integer): integer
    local inbox = process.inbox()
    for i = 1, n do inbox:receive() end
    return n
end

local BLOB = string.rep("x", 64 * 1024)

local function wait_exit(events, pid)
    while true do
        local ev = events:receive()
        if ev.kind == process.event.EXIT and ev.from == pid then return ev end
    end
end

-- 64 KB messages to a process that never takes them: past 8 MB it fails
-- with a memory error, its monitor sees it, and sends after that fail
-- only because the process is gone.
local function flood_fails_the_receiver()
    local events = process.events()
    local pid = process.spawn_monitored("test.mailbox:deaf", "test.mailbox:small")
    t.ok(pid, "spawned")
    for i = 1, 400 do
        if not process.send(pid, "m", BLOB) then break end
        if i % 20 == 0 then time.sleep("1ms") end
    end
    local ev = wait_exit(events, pid)
    t.ok(ev.result and ev.result.error, "the flooded process failed")
    t.contains(tostring(ev.result.error), "not enough memory")
    t.contains(tostring(ev.result.error), "queued messages")
end

-- The same volume, taken as it arrives, never counts for long: the
-- listener gets all of it and returns normally.
local function taken_messages_free_their_memory()
    local events = process.events()
    local pid = process.spawn_monitored("test.mailbox:listener", "test.mailbox:small", 400)
    t.ok(pid, "spawned")
    for i = 1, 400 do
        process.send(pid, "m", BLOB)
        if i % 20 == 0 then time.sleep("1ms") end
    end
    local ev = wait_exit(events, pid)
    t.is_nil(ev.result and ev.result.error, "the listener did not fail")
    t.eq(ev.result.value, 400)
end

return {
    deaf = deaf,
    listener = listener,
    flood_fails_the_receiver = flood_fails_the_receiver,
    taken_messages_free_their_memory = taken_messages_free_their_memory,
}
