-- test.process: the name registry (spec 4.8).
local t = require("t")
local time = require("time")

local HOST = "test:procs"
local T = {}

function T.register_and_lookup()
	t.eq(process.registry.register("test.reg.self"), true, "register result")
	t.eq(process.registry.lookup("test.reg.self"), process.pid(), "lookup")
end

function T.lookup_unknown()
	local pid, err = process.registry.lookup("test.reg.unknown")
	t.err(pid, err, errors.NOT_FOUND, "name not registered")
end

function T.register_is_idempotent()
	t.eq(process.registry.register("test.reg.twice"), true)
	t.eq(process.registry.register("test.reg.twice"), true, "same name, same pid again")
	t.eq(process.registry.register("test.reg.twice", process.pid()), true, "explicit pid")
end

function T.register_conflict()
	local pid = process.spawn("test.process:registrar", HOST, process.pid(), "test.reg.taken")
	local msg = t.msg(time, "registered")
	t.eq(msg:payload()[1]:data(), true, "the helper registered")
	local ok, err = process.registry.register("test.reg.taken")
	t.err(ok, err, errors.ALREADY_EXISTS)
	t.eq(process.registry.lookup("test.reg.taken"), pid, "still the helper's")
	process.send(pid, "stop")
end

function T.unregister()
	process.registry.register("test.reg.gone")
	t.eq(process.registry.unregister("test.reg.gone"), true, "first unregister")
	t.eq(process.registry.unregister("test.reg.gone"), false, "second unregister")
	local pid, err = process.registry.lookup("test.reg.gone")
	t.err(pid, err, errors.NOT_FOUND)
end

function T.auto_release_on_exit()
	local pid = process.spawn_monitored("test.process:registrar", HOST, process.pid(),
		"test.reg.auto", false)
	t.msg(time, "registered")
	t.event(time, process.event.EXIT, pid)
	local got, err = process.registry.lookup("test.reg.auto")
	t.err(got, err, errors.NOT_FOUND, "name not registered")
	t.eq(process.registry.register("test.reg.auto"), true, "name free again")
end

function T.auto_release_on_failure()
	local pid = process.spawn_monitored("test.process:registrar", HOST, process.pid(),
		"test.reg.fail")
	t.msg(time, "registered")
	process.terminate(pid)
	t.event(time, process.event.EXIT, pid)
	local got, err = process.registry.lookup("test.reg.fail")
	t.err(got, err, errors.NOT_FOUND, "name not registered")
end

function T.register_other_pid()
	local pid = process.spawn("test.process:echo", HOST)
	t.eq(process.registry.register("test.reg.other", pid), true)
	t.eq(process.registry.lookup("test.reg.other"), pid)
	process.send("test.reg.other", "ping", "via name")
	local msg = t.msg(time, "pong")
	t.eq(msg:from(), pid)
	t.eq(msg:payload():data(), "via name")
	process.send(pid, "stop")
end

function T.register_other_pid_released_with_it()
	local pid = process.spawn_monitored("test.process:echo", HOST)
	process.registry.register("test.reg.other2", pid)
	process.send(pid, "stop")
	t.event(time, process.event.EXIT, pid)
	local got, err = process.registry.lookup("test.reg.other2")
	t.err(got, err, errors.NOT_FOUND, "name not registered")
	t.eq(process.registry.register("test.reg.other2"), true, "the name is free again")
	t.eq(process.registry.lookup("test.reg.other2"), process.pid())
end

function T.register_dead_pid()
	local pid = process.spawn_monitored("test.process:value", HOST, 1)
	t.event(time, process.event.EXIT, pid)
	local ok, err = process.registry.register("test.reg.dead", pid)
	t.err(ok, err, errors.NOT_FOUND)
	local got, err2 = process.registry.lookup("test.reg.dead")
	t.err(got, err2, errors.NOT_FOUND)
end

function T.send_by_name()
	local pid = process.spawn("test.process:registrar", HOST, process.pid(), "test.reg.dest")
	t.msg(time, "registered")
	t.eq(process.send("test.reg.dest", "stop"), true)
	t.ok(pid)
end

-- The original's topology.RegistrationMode numbers.
function T.scopes_exist()
	t.eq(process.registry.LOCAL, 0, "LOCAL")
	t.eq(process.registry.EVENTUAL, 1, "EVENTUAL")
	t.eq(process.registry.CONSISTENT, 2, "CONSISTENT")
	t.eq(process.registry.STRONG, 3, "STRONG")
	t.eq(math.type(process.registry.STRONG), "integer")
end

function T.register_with_scope()
	t.eq(process.registry.register("test.reg.scoped", process.pid(), process.registry.LOCAL), true)
	t.eq(process.registry.lookup("test.reg.scoped"), process.pid())
	t.eq(process.registry.unregister("test.reg.scoped", process.registry.LOCAL), true)
end

return T
