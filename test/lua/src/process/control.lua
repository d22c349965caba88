-- test.process: cancel, terminate, monitors, links and options
-- (spec 4.6, 4.7).
local t = require("t")
local time = require("time")

local HOST = "test:procs"
local T = {}

local function spawn_ready(entry, how)
	local fn = process[how or "spawn_monitored"]
	local pid, err = fn("test.process:" .. entry, HOST, process.pid())
	t.ok(pid, "spawn " .. entry .. ": " .. tostring(err))
	t.msg(time, "ready")
	return pid
end

function T.cancel_event_fields()
	local pid = spawn_ready("cancel_waiter")
	local before = os.time()
	t.eq(process.cancel(pid, "time to go"), true, "cancel result")
	local ev = t.event(time, process.event.EXIT, pid)
	local c = ev.result.value
	t.eq(c.kind, "pid.cancel", "kind")
	t.eq(c.kind, process.event.CANCEL, "kind constant")
	t.eq(c.from, process.pid(), "from is the canceller")
	t.eq(c.reason, "time to go", "reason")
	t.eq(c.at_type, "number", "at type")
	t.ok(c.at >= before - 1 and c.at <= os.time() + 1, "at is unix seconds")
end

function T.cancel_without_reason()
	local pid = spawn_ready("cancel_waiter")
	process.cancel(pid)
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value.reason, "", "reason defaults to empty")
end

function T.cancel_only_delivers_an_event()
	local pid = spawn_ready("cancel_ignorer")
	process.cancel(pid, "please")
	t.eq(t.msg(time, "cancelled"):payload():data(), 1, "first cancel seen")
	process.cancel(pid, "again")
	t.eq(t.msg(time, "cancelled"):payload():data(), 2, "second cancel seen")
	process.send(pid, "stop")
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value, 2, "process went on and returned normally")
	t.is_nil(ev.result.error)
end

function T.cancel_unknown_target()
	local ok, err = process.cancel("test.nobody.here", "x")
	t.err(ok, err, errors.NOT_FOUND)
end

function T.terminate_reports_process_terminated()
	local pid = spawn_ready("blocker")
	t.eq(process.terminate(pid), true, "terminate result")
	local ev = t.event(time, process.event.EXIT, pid)
	t.is_nil(ev.result.value)
	t.ok(ev.result.error, "result.error")
	t.eq(ev.result.error:message(), "process terminated")
end

function T.terminate_sleeping_process()
	local pid = process.spawn_monitored("test.coroutine:no_deadlock_timer", HOST)
	process.terminate(pid)
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.error:message(), "process terminated")
end

function T.terminate_dead_process()
	local pid = process.spawn_monitored("test.process:value", HOST, 1)
	t.event(time, process.event.EXIT, pid)
	local ok, err = process.terminate(pid)
	t.err(ok, err, nil, "not found")
end

function T.monitor_running_process()
	local pid = process.spawn("test.process:echo", HOST)
	t.eq(process.monitor(pid), true, "monitor result")
	process.send(pid, "stop")
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value, "stopped")
end

function T.unmonitor_stops_exit_events()
	local pid = process.spawn("test.process:echo", HOST)
	process.monitor(pid)
	t.eq(process.unmonitor(pid), true, "unmonitor result")
	process.send(pid, "stop")
	t.quiet(time, process.events(), "200ms", "events after unmonitor")
end

function T.monitor_dead_process()
	local pid = process.spawn_monitored("test.process:value", HOST, 1)
	t.event(time, process.event.EXIT, pid)
	local ok, err = process.monitor(pid)
	t.err(ok, err, errors.NOT_FOUND)
end

function T.monitor_by_name()
	local pid = process.spawn("test.process:registrar", HOST, process.pid(), "test.mon.byname")
	t.msg(time, "registered")
	t.eq(process.monitor("test.mon.byname"), true)
	process.send("test.mon.byname", "stop")
	local ev = t.event(time, process.event.EXIT, pid)
	t.is_nil(ev.result.error)
end

-- Monitors and links racing with clean exits: whenever monitor() or
-- link() succeeds, the EXIT that follows carries the real result, and a
-- clean exit never sends LINK_DOWN, however the race goes.
function T.monitor_and_link_race_clean_exits()
	process.set_options({trap_links = true})
	local n = 150
	local pids = {}
	for i = 1, n do
		pids[i] = process.spawn("test.process:value", HOST, i)
	end
	local monitored = {}
	for i = 1, n do
		if process.monitor(pids[i]) then
			monitored[pids[i]] = i
		end
		process.link(pids[i])
	end
	local events = process.events()
	local seen = 0
	while next(monitored) do
		local ev = t.recv(time, events)
		t.eq(ev.kind, process.event.EXIT, "only EXIT events (no LINK_DOWN)")
		local want = monitored[ev.from]
		t.ok(want, "an EXIT for a monitored pid")
		t.is_nil(ev.result.error, "EXIT of a clean exit has no error")
		t.eq(ev.result.value, want, "the real result")
		monitored[ev.from] = nil
		seen = seen + 1
	end
	t.quiet(time, events, "100ms", "LINK_DOWN after clean exits")
end

function T.options_default()
	local o = process.get_options()
	t.eq(o.trap_links, false, "trap_links defaults to false")
end

function T.options_set_and_get()
	local ok, err = process.set_options({trap_links = true})
	t.eq(ok, true, "set_options result")
	t.is_nil(err)
	t.eq(process.get_options().trap_links, true)
	process.set_options({trap_links = false})
	t.eq(process.get_options().trap_links, false)
end

function T.options_unknown_key()
	local ok, err = process.set_options({bogus = true})
	t.eq(ok, false, "unknown option result")
	t.err(nil, err, errors.INVALID, "option bogus is not supported")
	t.eq(process.get_options().trap_links, false, "nothing changed")
end

function T.options_bad_values()
	local ok, err = process.set_options({trap_links = "yes"})
	t.eq(ok, false)
	t.err(nil, err, errors.INVALID, "trap_links must be a boolean")
	t.eq(process.get_options().trap_links, false, "not applied")
	ok, err = process.set_options("trap_links")
	t.eq(ok, false)
	t.err(nil, err, errors.INVALID, "options parameter must be a table")
	ok, err = process.set_options()
	t.eq(ok, false)
	t.err(nil, err, errors.INVALID, "options parameter must be a table")
	-- valid options apply even beside a refused one, as in the original
	ok, err = process.set_options({trap_links = true, bogus = 1})
	t.eq(ok, false)
	t.err(nil, err, errors.INVALID, "option bogus is not supported")
	t.eq(process.get_options().trap_links, true, "trap_links applied")
	ok, err = process.set_options({trap_links = false, [1] = "ignored"})
	t.eq(ok, true, "non-string keys are ignored")
	t.is_nil(err)
end

function T.options_upgradable()
	t.eq(process.get_options().upgradable, false, "defaults to false")
	local ok, err = process.set_options({upgradable = true})
	t.eq(ok, true)
	t.is_nil(err)
	t.eq(process.get_options().upgradable, true)
	process.set_options({upgradable = false})
end

function T.trap_links_link_down_fields()
	process.set_options({trap_links = true})
	local pid = process.spawn_linked("test.process:failer", HOST, "linked boom")
	local ev = t.event(time, process.event.LINK_DOWN, pid)
	t.eq(ev.kind, "pid.link.down", "kind")
	t.eq(ev.from, pid, "from")
	t.eq(type(ev.at), "number", "at")
	t.is_nil(ev.result.value, "result.value")
	t.contains(ev.result.error:message(), "linked boom", "result.error")
end

function T.link_default_kills_linked()
	local pid = process.spawn_monitored("test.process:link_victim", HOST)
	local ev = t.event(time, process.event.EXIT, pid)
	t.is_nil(ev.result.value, "the victim never returned")
	t.ok(ev.result.error, "the victim failed")
	t.eq(ev.result.error:message(), "linked process failed")
end

function T.link_no_down_on_clean_exit()
	process.set_options({trap_links = true})
	local pid = process.spawn_linked_monitored("test.process:value", HOST, "fine")
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value, "fine")
	t.quiet(time, process.events(), "200ms", "LINK_DOWN after a clean exit")
end

function T.link_no_kill_on_clean_exit()
	-- without trap_links, a clean exit of a linked process is harmless
	-- (this test process would die with "linked process failed")
	local pid = process.spawn_linked("test.process:value", HOST, 1)
	t.ok(pid, "spawn_linked")
	process.monitor(pid)
	time.sleep("100ms")
	local ok, err = process.send(pid, "x")
	t.err(ok, err, nil, "not found")
end

function T.spawn_linked_monitored_failure()
	process.set_options({trap_links = true})
	local pid = process.spawn_linked_monitored("test.process:failer", HOST, "lm")
	local events = process.events()
	local kinds = {}
	for _ = 1, 2 do
		local ev = t.recv(time, events)
		t.eq(ev.from, pid, "from")
		kinds[ev.kind] = ev.result.error:message()
	end
	t.contains(kinds["pid.exit"], "lm", "EXIT carries the error")
	t.contains(kinds["pid.link.down"], "lm", "LINK_DOWN carries the error")
end

function T.link_existing_process()
	process.set_options({trap_links = true})
	local pid = process.spawn("test.process:echo", HOST)
	t.eq(process.link(pid), true, "link result")
	process.send(pid, "fail")
	local ev = t.event(time, process.event.LINK_DOWN, pid)
	t.contains(ev.result.error:message(), "told to fail")
end

function T.unlink_stops_link_down()
	process.set_options({trap_links = true})
	local pid = process.spawn_monitored("test.process:echo", HOST)
	process.link(pid)
	t.eq(process.unlink(pid), true, "unlink result")
	process.send(pid, "fail")
	t.event(time, process.event.EXIT, pid)
	t.quiet(time, process.events(), "200ms", "LINK_DOWN after unlink")
end

-- Links are bidirectional: the parent's failure takes its linked child.
function T.link_is_bidirectional()
	local parent = process.spawn("test.process:link_parent", HOST, process.pid())
	local child = t.msg(time, "child"):payload():data()
	process.monitor(child)
	process.send(parent, "fail")
	local ev = t.event(time, process.event.EXIT, child)
	t.eq(ev.result.error:message(), "linked process failed")
end

function T.linked_child_killed_when_test_like_parent_fails()
	-- a process linked to a child that is terminated (an error exit) dies
	local victim = process.spawn_monitored("test.process:link_parent", HOST, process.pid())
	local child = t.msg(time, "child"):payload():data()
	process.terminate(child)
	local ev = t.event(time, process.event.EXIT, victim)
	t.eq(ev.result.error:message(), "linked process failed")
end

return T
