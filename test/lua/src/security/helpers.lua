-- test.security helpers: processes that report the security context they
-- run with, directly or through a child they spawn.
local security = require("security")

local h = {}

-- What this process's security.actor() and security.scope() give, as
-- plain values: {actor = {id, meta} | nil, scope = {policies = n} | nil}.
function h.reader()
	local r = {}
	local a = security.actor()
	if a then
		r.actor = {id = a:id(), meta = a:meta()}
	end
	local s = security.scope()
	if s then
		r.scope = {policies = #s:policies()}
	end
	return r
end

local function exec_reader(sp)
	local pid, err = sp:spawn_monitored("test.security:reader", "test:procs")
	assert(pid, tostring(err))
	local events = process.events()
	while true do
		local ev = events:receive()
		if ev.kind == process.event.EXIT and ev.from == pid then
			assert(ev.result.error == nil, tostring(ev.result.error))
			return ev.result.value
		end
	end
end

-- Run reader with a plain process.exec and return what it saw.
function h.plain_exec()
	local v, err = process.exec("test.security:reader", "test:procs")
	assert(err == nil, tostring(err))
	return v
end

-- Run reader through a spawner made here with no with_actor/with_scope.
function h.spawner_exec()
	return exec_reader(process.with_context({}))
end

-- Run reader with a new actor of id `id` set here over what this process
-- has (its scope stays as inherited).
function h.override_exec(id)
	return exec_reader(process.with_context({}):with_actor(security.new_actor(id)))
end

-- Change the meta table security.actor() hands out, then report what a
-- second call gives.
function h.mutate_meta()
	local m = security.actor():meta()
	m.role = "root"
	m.added = true
	return security.actor():meta()
end

return h
