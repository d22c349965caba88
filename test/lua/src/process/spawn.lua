-- test.process: identity, spawning and exit results (spec 4.1, 4.2, 4.9).
local t = require("t")
local time = require("time")

local HOST = "test:procs"
local PID_RE = "^{[%w:%._%-]+|0x%x%x%x%x%x+}$"

-- Spawn entry monitored and return its EXIT event.
local function run(entry, ...)
	local pid, err = process.spawn_monitored("test.process:" .. entry, HOST, ...)
	t.ok(pid, "spawn " .. entry .. ": " .. tostring(err))
	local ev = t.event(time, process.event.EXIT, pid)
	return ev, pid
end

local T = {}

function T.pid_format()
	local pid = process.pid()
	t.match(pid, PID_RE, "pid")
	t.match(pid, "^{wippy:tests|0x", "test processes run on wippy:tests")
	t.eq(process.pid(), pid, "pid is stable across calls")
end

function T.id_format()
	local id = process.id()
	t.eq(type(id), "string")
	t.contains(id, ":", "id is registry-ID shaped")
end

function T.child_pid_names_host()
	local pid = process.spawn("test.process:value", HOST, 1)
	t.match(pid, PID_RE, "child pid")
	t.match(pid, "^{test:procs|0x", "child pid names its host")
	local single = process.spawn("test.process:value", "test:single", 1)
	t.match(single, "^{test:single|0x", "child pid names its host")
end

function T.pids_unique()
	local seen = {}
	for i = 1, 20 do
		local pid = process.spawn("test.process:value", HOST, i)
		t.ok(not seen[pid], "pid reused: " .. pid)
		seen[pid] = true
	end
end

function T.spawn_needs_two_args()
	local pid, err = process.spawn("test.process:value")
	t.err(pid, err, errors.INVALID, "spawn requires at least id and host arguments")
end

function T.spawn_unknown_entry()
	local pid, err = process.spawn("test.process:no_such_entry", HOST)
	t.err(pid, err, errors.NOT_FOUND, "no_such_entry")
end

function T.spawn_unknown_host()
	local pid, err = process.spawn("test.process:value", "test:no_such_host")
	t.err(pid, err, nil, "no_such_host")
end

function T.spawn_not_a_process()
	-- a function.lua entry is not a process definition
	local pid, err = process.spawn("test.process:pid_format", HOST)
	t.err(pid, err, errors.NOT_FOUND)
end

function T.spawn_args_positional()
	local ev = run("returner", 1, "two", {three = 3}, true)
	local v = ev.result.value
	t.eq(v.n, 4, "argument count")
	t.eq(v[1], 1)
	t.eq(v[2], "two")
	t.eq(v[3].three, 3)
	t.eq(v[4], true)
end

function T.spawn_no_args()
	local ev = run("returner")
	t.eq(ev.result.value.n, 0, "argument count")
end

function T.exit_event_fields()
	local before = os.time()
	local ev, pid = run("value", 42)
	t.eq(ev.kind, "pid.exit", "kind")
	t.eq(ev.kind, process.event.EXIT, "kind constant")
	t.eq(ev.from, pid, "from")
	t.eq(type(ev.at), "number", "at")
	t.ok(ev.at >= before - 1 and ev.at <= os.time() + 1, "at is unix seconds: " .. tostring(ev.at))
	t.eq(ev.result.value, 42, "result.value")
	t.is_nil(ev.result.error, "result.error")
end

function T.exit_value_table()
	local ev = run("value", {a = 1, b = {2, 3}, c = "x"})
	t.deq(ev.result.value, {a = 1, b = {2, 3}, c = "x"}, "result.value")
end

function T.exit_value_nil()
	local ev = run("value", nil)
	t.eq(type(ev.result), "table", "result is a table")
	t.is_nil(ev.result.value, "result.value")
	t.is_nil(ev.result.error, "result.error")
end

function T.exit_value_false()
	local ev = run("value", false)
	t.eq(ev.result.value, false, "result.value")
	t.is_nil(ev.result.error, "result.error")
end

function T.exit_raised_error()
	local ev = run("failer", "kaboom")
	t.is_nil(ev.result.value, "result.value")
	local e = ev.result.error
	t.eq(type(e), "userdata", "result.error is an error object")
	t.contains(e:message(), "kaboom")
	t.contains(tostring(e), "kaboom")
end

function T.exit_returned_error_object()
	local ev = run("err_returner", "conflicted")
	local e = ev.result.error
	t.is_nil(ev.result.value, "value dropped")
	t.eq(e:message(), "conflicted")
	t.eq(e:kind(), errors.CONFLICT)
	t.eq(e:retryable(), true)
end

function T.exit_returned_string_error()
	local ev = run("false_returner", "plain message")
	t.is_nil(ev.result.value, "value dropped")
	t.ok(ev.result.error ~= nil, "result.error set")
	t.contains(tostring(ev.result.error), "plain message")
end

function T.spawn_variants_exist()
	-- spawn_linked_monitored exists and returns a pid
	t.eq(type(process.spawn_linked_monitored), "function")
	t.eq(type(process.spawn_linked), "function")
	t.eq(type(process.spawn_monitored), "function")
end

function T.exec_returns_value()
	local v, err = process.exec("test.process:value", HOST, {answer = 42})
	t.is_nil(err)
	t.eq(v.answer, 42, "exec gives the exit value")
	t.quiet(time, process.events(), "50ms", "an EXIT event after exec")
end

function T.exec_returns_error()
	local v, err = process.exec("test.process:err_returner", HOST, "exec failed")
	t.err(v, err, errors.CONFLICT, "exec failed")
	v, err = process.exec("test.process:failer", HOST, "exec raised")
	t.err(v, err, nil, "exec raised")
end

function T.exec_unknown_entry()
	local v, err = process.exec("test.process:no_such_entry", HOST)
	t.err(v, err, errors.NOT_FOUND)
end

function T.exec_concurrent()
	local results = channel.new(3)
	for i = 1, 3 do
		coroutine.spawn(function()
			results:send(process.exec("test.process:value", HOST, i * 10))
		end)
	end
	local sum = 0
	for _ = 1, 3 do sum = sum + results:receive() end
	t.eq(sum, 60, "three execs in parallel coroutines")
end

function T.event_constants()
	t.eq(process.event.CANCEL, "pid.cancel")
	t.eq(process.event.EXIT, "pid.exit")
	t.eq(process.event.LINK_DOWN, "pid.link.down")
end

return T
