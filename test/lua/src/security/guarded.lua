-- test.security helpers that run under an actor and a scope and report
-- what the runtime let them do: each attempt as {ok = bool, kind = err
-- kind | nil, msg = err text | nil}.
local security = require("security")
local env = require("env")
local time = require("time")

local g = {}

local function try(v, err)
	if v then
		return {ok = true}
	end
	return {ok = false, kind = err and err:kind(), msg = err and tostring(err)}
end

-- Wait for the EXIT of pid (spawned monitored), ignoring others.
local function wait_exit(pid)
	local events = process.events()
	local timeout = time.after("2s")
	while true do
		local r = channel.select({events:case_receive(), timeout:case_receive()})
		if r.channel == timeout then
			return false
		end
		if r.value.kind == process.event.EXIT and r.value.from == pid then
			return true
		end
	end
end

-- Everything the sandbox scope governs. single: a pid on test:single;
-- procs: a pid on test:procs.
function g.probe(single, procs)
	local r = {}
	r.send_single = try(process.send(single, "hi", 1))
	r.send_procs = try(process.send(procs, "hi", 1))
	-- the same targets again: the kept last answer must be per target
	r.send_single_again = try(process.send(single, "hi", 2))
	r.send_single_again2 = try(process.send(single, "hi", 3))
	r.send_procs_again = try(process.send(procs, "hi", 2))
	r.monitor_single = try(process.monitor(single))
	r.link_single = try(process.link(single))
	r.unlink_single = try(process.unlink(single))
	r.terminate_single = try(process.terminate(single))
	r.cancel_single = try(process.cancel(single, "x"))
	local sl, slerr = process.spawn_monitored("test.security:sleeper", "test:single")
	r.spawn_single = try(sl, slerr)
	if sl then
		process.terminate(sl)
	end
	-- a spawner's spawn raises a denial instead of returning it
	local ok, e = pcall(function()
		return process.with_context({}):spawn("test.security:quick", "test:single")
	end)
	r.spawner_single = {ok = ok, msg = not ok and tostring(e) or nil,
		kind = not ok and type(e) == "userdata" and e:kind() or nil}
	local pid, err = process.spawn_monitored("test.security:quick", "test:procs")
	r.spawn_procs = try(pid, err)
	if pid then
		r.spawn_procs.exited = wait_exit(pid)
	end
	-- env.get / env.set raise a denial, as the original's env module
	local function raised(fn, ...)
		local ok, e = pcall(fn, ...)
		if ok then
			return {ok = true}
		end
		return {ok = false, kind = type(e) == "userdata" and e:kind() or nil, msg = tostring(e)}
	end
	r.env_secret = raised(env.get, "SECRET_TOKEN")
	r.env_secret_set = raised(env.set, "SECRET_TOKEN", "x")
	r.env_plain = raised(env.get, "TEST_GREETING")
	local all = env.get_all()
	r.env_all_has_greeting = all.TEST_GREETING ~= nil
	r.register_system = try(process.registry.register("system.core"))
	r.register_user = try(process.registry.register("user.g" .. process.pid()))
	r.unregister_system = try(process.registry.unregister("system.core"))
	r.register_foreign = try(process.registry.register("user.f" .. process.pid(), single))
	r.exec_single = try(process.exec("test.security:quick", "test:single"))
	r.exec_procs = try(process.exec("test.security:quick", "test:procs"))
	r.can_doc = security.can("doc.read", "doc:1")
	r.can_send_single = security.can("process.send", single)
	r.actor = security.actor() and security.actor():id()
	return r
end

-- The spawner gates: with_context, with_actor, new_actor, new_scope.
function g.gates()
	local r = {}
	local ok, e = pcall(process.with_context, {})
	r.with_context = {ok = ok, msg = not ok and tostring(e) or nil}
	ok, e = pcall(function() return process.with_options({}) end)
	r.with_options = {ok = ok, msg = not ok and tostring(e) or nil}
	ok, e = pcall(security.new_actor, "someone")
	r.new_actor = {ok = ok, msg = not ok and tostring(e) or nil}
	ok, e = pcall(security.new_scope)
	r.new_scope = {ok = ok, msg = not ok and tostring(e) or nil}
	local p, perr = security.policy("test.security:allow_all")
	r.policy = try(p, perr)
	local s, serr = security.named_scope("test.security:sandbox")
	r.named_scope = try(s, serr)
	return r
end

-- Wait for one message on topic "ping" and return its payload.
function g.pinged()
	local ch = process.listen("ping")
	local timeout = time.after("2s")
	local r = channel.select({ch:case_receive(), timeout:case_receive()})
	if r.channel == timeout then
		return nil
	end
	return r.value
end

-- Upgrade into test.security:quick; report the refusal if there is one.
function g.upgrader()
	local _, err = process.upgrade("test.security:quick")
	return {kind = err and err:kind(), msg = err and tostring(err)}
end

function g.sleeper()
	time.sleep("5s")
end

function g.quick()
	return true
end

return g
