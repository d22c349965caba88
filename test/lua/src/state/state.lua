-- test.state: processes end the same way whether or not their state sits
-- in an arena (spec 4.9: exit results; spec 3: finalizers run).
local t = require("t")
local time = require("time")

local HOST = "test:procs"
local T = {}

local function run(entry, ...)
	local pid = process.spawn_monitored("test.state:" .. entry, HOST, ...)
	t.ok(pid, "spawn " .. entry)
	return t.event(time, process.event.EXIT, pid).result
end

function T.quick_processes_return()
	local want = run("quick", 200).value
	t.ok(want > 0, "a result")
	for _ = 1, 20 do
		t.eq(run("quick", 200).value, want, "same result every run")
	end
end

-- Every run's finalizer runs when its process ends, the later runs (with
-- an arena) as the first.
function T.finalizers_run_at_exit()
	local me = process.pid()
	for i = 1, 6 do
		t.eq(run("finalized", me, i).value, i)
		local m = t.msg(time, "gc")
		t.eq(m:payload():data(), i, "finalizer of run " .. i)
	end
end

function T.short_then_long()
	for _ = 1, 5 do
		t.eq(run("sometimes_slow", 0).value, 50)
	end
	t.eq(run("sometimes_slow", 5).value, 2000, "one that lives on")
	for _ = 1, 3 do
		t.eq(run("sometimes_slow", 0).value, 50)
	end
	t.eq(run("sometimes_slow", 5).value, 2000)
end

function T.outgrows_its_arena()
	for _ = 1, 3 do
		t.eq(run("big", 4).value, 4)
	end
	t.eq(run("big", 2048).value, 2048, "2 MiB in a step sized for 4 KiB")
	t.eq(run("big", 4).value, 4)
end

return T
