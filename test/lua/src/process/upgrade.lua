-- test.process: process.upgrade keeps the pid, mailbox, monitors, links
-- and names, and replaces the code (spec 4.7).
local t = require("t")
local time = require("time")

local HOST = "test:procs"
local T = {}

local function start_v1(how)
	local pid = process[how or "spawn_monitored"]("test.process:upgrade_v1", HOST,
		process.pid(), 1)
	t.ok(pid, "spawn upgrade_v1")
	t.eq(t.msg(time, "v1 started"):payload():data(), 1, "generation 1")
	return pid
end

function T.upgrade_keeps_pid_and_mailbox()
	local late = process.listen("v1 late")
	local pid = start_v1()
	process.send(pid, "upgrade", {x = 1})
	process.send(pid, "version") -- queued while the code changes
	local started = t.msg(time, "v2 started")
	t.eq(started:from(), pid, "same pid after the upgrade")
	t.eq(started:payload():data().x, 1, "upgrade arguments")
	local v = t.msg(time, "version"):payload():data()
	t.eq(v.version, "v2", "the new code answers")
	t.eq(v.pid, pid, "process.pid() unchanged")
	t.eq(v.carried.x, 1)
	process.send(pid, "stop")
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value, "v2 done", "the monitor still gets EXIT, with v2's result")
	t.quiet(time, late, "200ms", "a coroutine of the old code")
end

function T.upgrade_nil_reruns_same_definition()
	local pid = start_v1()
	process.send(pid, "again")
	local msg = t.msg(time, "v1 started")
	t.eq(msg:from(), pid, "same pid")
	t.eq(msg:payload():data(), 2, "rerun with the new arguments")
	process.terminate(pid)
end

function T.upgrade_keeps_links()
	process.set_options({trap_links = true})
	local pid = start_v1("spawn_linked")
	process.send(pid, "upgrade", "linked")
	t.msg(time, "v2 started")
	process.send(pid, "fail")
	local ev = t.event(time, process.event.LINK_DOWN, pid)
	t.contains(ev.result.error:message(), "v2 fails")
end

function T.upgrade_keeps_names()
	local pid = start_v1()
	process.send(pid, "register", "test.upg.named")
	t.msg(time, "registered")
	process.send(pid, "upgrade", "named")
	t.msg(time, "v2 started")
	t.eq(process.registry.lookup("test.upg.named"), pid, "the name still resolves")
	process.send("test.upg.named", "version")
	t.eq(t.msg(time, "version"):payload():data().version, "v2")
	process.send(pid, "stop")
end

function T.upgrade_unknown_entry_ends_process()
	local pid = start_v1()
	process.send(pid, "bad")
	local ev = t.event(time, process.event.EXIT, pid)
	t.ok(ev.result.error, "the process failed")
	t.eq(ev.result.error:kind(), errors.NOT_FOUND)
	t.contains(ev.result.error:message(), "no_such_v3")
	t.quiet(time, process.listen("pcall returned"), "50ms", "a pcall caught the upgrade")
end

return T
