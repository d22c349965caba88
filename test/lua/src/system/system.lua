-- test.system: require("system") reads the same figures as the metrics
-- endpoint: the Lua heaps of live states, processes per host, and the
-- host process's identity. Every call returns `value, nil`.
local t = require("t")

local T = {}

function T.memory()
	local system = require("system")
	local n, err = system.memory.allocated()
	t.is_nil(err)
	t.eq(math.type(n), "integer", "allocated is an integer")
	t.ok(n > 0, "some Lua heap is live: " .. n)
	local st
	st, err = system.memory.stats()
	t.is_nil(err)
	for _, k in ipairs({"alloc", "heap_alloc", "sys", "heap_sys", "heap_in_use", "heap_idle"}) do
		t.eq(math.type(st[k]), "integer", k)
		t.ok(st[k] >= 0, k)
	end
	t.ok(st.sys >= st.alloc, "resident set holds the Lua heaps")
end

function T.hosts()
	local system = require("system")
	local list, err = system.hosts.list()
	t.is_nil(err)
	local procs
	for _, h in ipairs(list) do
		t.eq(type(h.id), "string")
		for _, k in ipairs({"workers", "processes", "executed", "stolen", "queue_depth"}) do
			t.eq(math.type(h[k]), "integer", h.id .. "." .. k)
		end
		if h.id == "test.system:host" then procs = h end
	end
	t.ok(procs, "test.system:host is listed")
	t.eq(procs.workers, 1, "workers")
	t.eq(procs.processes, 0, "none yet")
	-- spawn two that wait: the count grows by two, then shrinks back
	local before = procs.processes
	local a = process.spawn("test.system:idle", "test.system:host")
	local b = process.spawn("test.system:idle", "test.system:host")
	t.ok(a and b, "spawned")
	local function count()
		for _, h in ipairs((system.hosts.list())) do
			if h.id == "test.system:host" then return h.processes end
		end
	end
	t.eq(count(), before + 2, "two more")
	process.send(a, "stop", 1)
	process.send(b, "stop", 1)
	local time = require("time")
	for _ = 1, 100 do
		if count() == before then break end
		time.sleep("10ms")
	end
	t.eq(count(), before, "back")
end

function T.process_info()
	local system = require("system")
	local pid, err = system.process.pid()
	t.is_nil(err)
	t.ok(math.type(pid) == "integer" and pid > 0, "pid")
	local h = system.process.hostname()
	t.ok(type(h) == "string" and #h > 0, "hostname")
	local d = system.process.cwd()
	t.ok(type(d) == "string" and d:sub(1, 1) == "/", "cwd")
	local n = system.runtime.cpu_count()
	t.ok(math.type(n) == "integer" and n >= 1, "cpu_count")
end

-- system.supervisor: the service suite's services as the supervisor
-- sees them. "input" runs for the whole run; "clean" exits cleanly once;
-- "giveup" fails past its max_attempts.
function T.supervisor()
	local system = require("system")
	local errors = require("errors")
	local time = require("time")
	local all, err = system.supervisor.states()
	t.is_nil(err)
	t.ok(#all >= 5, "the suite's services: " .. #all)
	local seen = {}
	for _, st in ipairs(all) do
		seen[st.id] = st
		t.ok(type(st.status) == "string" and type(st.desired) == "string", "status and desired")
		t.eq(math.type(st.retry_count), "integer", "retry_count")
	end
	t.ok(seen["test.service:input"] ~= nil, "input is listed")
	local st
	for _ = 1, 100 do
		st = system.supervisor.state("test.service:clean")
		if st and st.status == "exited" then break end
		time.sleep("10ms")
	end
	t.eq(st.id, "test.service:clean")
	t.eq(st.status, "exited", "a clean exit is final")
	t.ok(st.started_at > 1e18, "started_at is Unix nanoseconds: " .. tostring(st.started_at))
	t.eq(math.type(st.last_update), "integer", "last_update")
	t.ok(st.last_update >= st.started_at, "the exit came after the start")
	t.ok(st.last_update <= time.now():unix_nano(), "last_update is not in the future")
	t.is_nil(st.details, "a clean exit says nothing")
	-- "giveup" fails three times (max_attempts 2): its last change is the
	-- failure that gave up, and its details are that failure's error.
	local g
	for _ = 1, 200 do
		g = system.supervisor.state("test.service:giveup")
		if g and g.status == "failed" then break end
		time.sleep("10ms")
	end
	t.eq(g.status, "failed", "giveup gave up")
	t.eq(g.retry_count, 3, "three failed starts")
	t.eq(type(g.details), "string", "a failure has details")
	t.ok(g.details:find("giveup failure %d") ~= nil, "details: the error: " .. tostring(g.details))
	t.ok(g.last_update >= g.started_at and g.started_at > 1e18, "last_update after the last start")
	t.eq(seen["test.service:input"].details, nil, "a running service has no details")
	local none, e1 = system.supervisor.state("test.service:nope")
	t.is_nil(none)
	t.eq(e1:kind(), errors.NOT_FOUND)
	local _, e2 = system.supervisor.state("")
	t.eq(e2:kind(), errors.INVALID)
end

-- gc.collect: a full collection of this state: an object only a weak
-- table refers to is gone after it.
function T.gc_collect()
	local system = require("system")
	local weak = setmetatable({}, {__mode = "k"})
	weak[{}] = true
	local ok, err = system.gc.collect()
	t.is_nil(err)
	t.eq(ok, true)
	t.is_nil(next(weak), "the unreferenced key was collected")
end

return T
