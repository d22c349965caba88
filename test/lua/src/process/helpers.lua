-- test.process helpers: small processes the process tests spawn. Each one
-- does a single thing and reports back by message or by its exit result.
local time = require("time")

local h = {}

-- Return the arguments given at spawn, as one table (n = count).
function h.returner(...)
	return {n = select("#", ...), ...}
end

-- Return exactly v.
function h.value(v)
	return v
end

-- Raise msg.
function h.failer(msg)
	error(msg or "boom")
end

-- Return nil, err with a CONFLICT error (a returned, not raised, error).
function h.err_returner(msg)
	return nil, errors.new({message = msg, kind = errors.CONFLICT, retryable = true})
end

-- Return false, "msg": a plain string error.
function h.false_returner(msg)
	return false, msg
end

-- Send n messages (topic "seq", payload {tag, i}) to dest, then return n.
function h.sender(dest, tag, n)
	for i = 1, n do
		local ok, err = process.send(dest, "seq", tag, i)
		if not ok then
			error("send failed: " .. tostring(err))
		end
	end
	return n
end

-- Serve the inbox: "ping" -> reply "pong" with the payload values to the
-- sender; "fail" -> raise; "stop" -> return "stopped"; "args" ->
-- reply with the spawn arguments.
function h.echo(...)
	local args = {...}
	local inbox = process.inbox()
	while true do
		local msg = inbox:receive()
		local topic = msg:topic()
		if topic == "ping" then
			local p = msg:payload()
			process.send(msg:from(), "pong", p and p:data())
		elseif topic == "fail" then
			error("told to fail")
		elseif topic == "stop" then
			return "stopped"
		elseif topic == "args" then
			process.send(msg:from(), "args", args)
		end
	end
end

-- Sleep first, then read the inbox: messages sent right after spawn must
-- wait in the queue, in order. Replies "got" with the topics and payloads.
function h.late_reader(parent, n)
	time.sleep("50ms")
	local inbox = process.inbox()
	local got = {}
	for i = 1, n do
		local msg = inbox:receive()
		got[i] = msg:topic() .. "=" .. tostring(msg:payload():data())
	end
	process.send(parent, "got", got)
end

-- Wait for a CANCEL event and return its fields.
function h.cancel_waiter(parent)
	local events = process.events()
	process.send(parent, "ready")
	local ev = events:receive()
	return {kind = ev.kind, from = ev.from, reason = ev.reason,
		at_type = type(ev.at), at = ev.at}
end

-- Ignore CANCEL: record it, keep serving the inbox until "stop".
function h.cancel_ignorer(parent)
	local events = process.events()
	local inbox = process.inbox()
	local cancels = 0
	process.send(parent, "ready")
	while true do
		local r = channel.select{events:case_receive(), inbox:case_receive()}
		if r.channel == events then
			cancels = cancels + 1
			process.send(parent, "cancelled", cancels)
		elseif r.value:topic() == "stop" then
			return cancels
		end
	end
end

-- Block forever on the inbox (until terminated).
function h.blocker(parent)
	if parent then
		process.send(parent, "ready", process.pid())
	end
	local inbox = process.inbox()
	while true do
		inbox:receive()
	end
end

-- Spawn a linked failer without trapping links: this process must die
-- with "linked process failed" before it can return.
function h.link_victim()
	process.spawn_linked("test.process:failer", "test:procs", "child boom")
	time.sleep("5s")
	return "survived"
end

-- Spawn a linked blocker, tell the parent its pid, then fail on "fail".
function h.link_parent(parent)
	local child = process.spawn_linked("test.process:blocker", "test:procs")
	process.send(parent, "child", child)
	local inbox = process.inbox()
	local msg = inbox:receive()
	error("parent fails: " .. msg:topic())
end

-- Register name, report, then wait for "stop" (or return at once if
-- linger is false).
function h.registrar(parent, name, linger)
	local ok, err = process.registry.register(name)
	process.send(parent, "registered", ok == true, err and err:message())
	if linger == false then
		return
	end
	local inbox = process.inbox()
	while inbox:receive():topic() ~= "stop" do end
end

-- Listen on "upd", then report what went where: the listener gets
-- messages on exactly that topic, the inbox everything else.
function h.router(parent)
	local upd = process.listen("upd")
	local inbox = process.inbox()
	process.send(parent, "ready")
	local got = {}
	for _ = 1, 3 do
		local r = channel.select{upd:case_receive(), inbox:case_receive()}
		if r.channel == upd then
			got[#got + 1] = "listen:" .. tostring(r.value)
		else
			got[#got + 1] = "inbox:" .. r.value:topic()
		end
	end
	process.send(parent, "routed", got)
end

-- Version 1 of an upgradable process. Reports "v1 started" with its
-- generation n; "upgrade" moves it to upgrade_v2 (carrying the payload),
-- "again" reruns this definition with n + 1, "bad" upgrades to an entry
-- that does not exist (inside a pcall, which must not catch it),
-- "register" registers the payload as a name. A coroutine sleeping when
-- the upgrade happens must never run again.
function h.upgrade_v1(parent, n)
	coroutine.spawn(function()
		time.sleep("150ms")
		process.send(parent, "v1 late", n)
	end)
	process.send(parent, "v1 started", n)
	local inbox = process.inbox()
	while true do
		local msg = inbox:receive()
		local topic = msg:topic()
		if topic == "upgrade" then
			process.upgrade("test.process:upgrade_v2", parent, msg:payload():data())
			error("process.upgrade returned")
		elseif topic == "again" then
			process.upgrade(nil, parent, n + 1)
		elseif topic == "bad" then
			local ok = pcall(process.upgrade, "test.process:no_such_v3")
			process.send(parent, "pcall returned", ok)
		elseif topic == "register" then
			process.registry.register(msg:payload():data())
			process.send(parent, "registered")
		end
	end
end

-- Version 2: reports "v2 started" with what it was given, answers
-- "version", fails on "fail", returns on "stop".
function h.upgrade_v2(parent, carried)
	process.send(parent, "v2 started", carried)
	local inbox = process.inbox()
	while true do
		local msg = inbox:receive()
		local topic = msg:topic()
		if topic == "version" then
			process.send(msg:from(), "version",
				{version = "v2", pid = process.pid(), carried = carried})
		elseif topic == "fail" then
			error("v2 fails")
		elseif topic == "stop" then
			return "v2 done"
		end
	end
end

-- Return this process's context values (ctx.all()).
function h.ctx_reader()
	local vals, err = require("ctx").all()
	assert(err == nil, tostring(err))
	return vals
end

-- Run ctx_reader with a plain process.exec and return what it saw: a
-- plain spawn passes the spawner's context on.
function h.ctx_exec()
	local v, err = process.exec("test.process:ctx_reader", "test:procs")
	assert(err == nil, tostring(err))
	return v
end

-- Report every inbox message to parent as "seen" {topic, data}; "stop"
-- ends it.
function h.named_worker(parent)
	local inbox = process.inbox()
	process.send(parent, "worker_up", process.pid())
	while true do
		local m = inbox:receive()
		if m:topic() == "stop" then
			return "stopped"
		end
		process.send(parent, "seen", {m:topic(), m:payload():data()})
	end
end

-- A select with no cases and no default never returns.
function h.select_empty()
	channel.select{}
	return "unreachable"
end

return h
