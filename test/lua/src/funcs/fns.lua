-- Functions the funcs tests call (function.lua entries), and the helper
-- processes that call them from elsewhere.
local f = {}

function f.add(a, b) return a + b end

function f.echo(...) return ... end

function f.nothing() end

function f.two() return 1, 2 end

-- Changes its argument; returns what it got, plus a mark.
function f.mutate(tbl)
	tbl.changed = true
	tbl.nested.deep = "callee"
	return tbl
end

function f.raise_string() error("boom from callee") end

function f.raise_object()
	error(errors.new({message = "conflict here", kind = errors.CONFLICT,
		details = {field = "name"}}))
end

function f.return_err()
	return nil, errors.new({message = "no such thing", kind = errors.NOT_FOUND})
end

function f.return_string_err() return nil, "plain failure" end

function f.return_function() return function() end end

function f.return_cycle()
	local c = {}
	c.self = c
	return c
end

function f.sleepy(ms, v)
	local time = require("time")
	time.sleep(tostring(ms) .. "ms")
	return v
end

-- Blocks on a channel its own coroutine feeds.
function f.chan_wait(v)
	local time = require("time")
	local ch = channel.new()
	coroutine.spawn(function()
		time.sleep("5ms")
		ch:send(v * 2)
	end)
	local got = ch:receive()
	return got
end

-- Calls the next link of a chain: depth n returns {n, n-1, ..., 1}.
function f.chain(n)
	local funcs = require("funcs")
	if n <= 1 then return {1} end
	local rest, err = funcs.call("test.funcs:chain", n - 1)
	if err then return nil, err end
	table.insert(rest, 1, n)
	return rest
end

-- Calls id with the rest and reports what came back: {value, kind, message}.
function f.chain_to(id, ...)
	local funcs = require("funcs")
	local v, err = funcs.call(id, ...)
	if err then return {kind = err:kind(), message = err:message()} end
	return {value = v}
end

-- Calls itself without end: the depth limit stops it.
function f.forever(n)
	local funcs = require("funcs")
	local v, err = funcs.call("test.funcs:forever", n + 1)
	if err then return nil, err end
	return v
end

function f.ctx_all()
	local ctx = require("ctx")
	return (ctx.all())
end

-- Reads its context, then calls ctx_all plainly: what a nested call inherits.
function f.ctx_nested()
	local ctx = require("ctx")
	local funcs = require("funcs")
	local inner, err = funcs.call("test.funcs:ctx_all")
	if err then return nil, err end
	return {own = ctx.all(), inner = inner}
end

function f.whoami()
	local security = require("security")
	local a, s = security.actor(), security.scope()
	return {actor = a and a:id() or nil, meta = a and a:meta() or nil, scope = s ~= nil}
end

-- Tells parent which process runs it, then waits long.
function f.reveal(parent)
	local time = require("time")
	process.send(parent, "callee", process.pid())
	time.sleep("5s")
	return "too late"
end

-- A process: calls fn with arg and sends the result (or error text) to
-- the parent as topic "result".
function f.caller_proc(parent, fn, arg)
	local funcs = require("funcs")
	local v, err = funcs.call(fn, arg)
	process.send(parent, "result", {value = v, err = err and tostring(err) or nil,
		kind = err and err:kind() or nil})
end

-- A process: starts a slow call, tells the parent, then waits in it.
function f.stuck_caller(parent)
	local funcs = require("funcs")
	process.send(parent, "calling", true)
	funcs.call("test.funcs:sleepy", 2000, "late")
end

return f
