-- test.coroutine helpers: processes whose coroutines fail, block or
-- outlive main.
local time = require("time")

local h = {}

-- A spawned coroutine raises; main blocks meanwhile.
function h.coro_fails()
	coroutine.spawn(function()
		time.sleep("10ms")
		error("coroutine boom")
	end)
	time.sleep("5s")
	return "main finished"
end

-- A coroutine raises an error object.
function h.coro_fails_object()
	coroutine.spawn(function()
		error(errors.new({message = "object boom", kind = errors.CONFLICT}))
	end)
	time.sleep("5s")
	return "main finished"
end

-- Main returns while a coroutine still sleeps: the coroutine must never
-- send its late message.
function h.main_returns(parent)
	coroutine.spawn(function()
		time.sleep("100ms")
		process.send(parent, "late", 1)
	end)
	return "main done"
end

-- Every coroutine blocks on a channel nobody will use: deadlock.
function h.deadlock_main()
	local ch = channel.new()
	ch:receive()
	return "unreachable"
end

function h.deadlock_two()
	local a, b = channel.new(), channel.new()
	coroutine.spawn(function() a:receive() end)
	b:receive()
	return "unreachable"
end

function h.deadlock_send()
	channel.new():send(1)
	return "unreachable"
end

-- Blocked on a plain channel, but subscribed to its inbox: a message
-- could still arrive, so this is not a deadlock (spec 4.9).
function h.blocked_subscribed(parent)
	process.inbox()
	process.send(parent, "ready")
	channel.new():receive()
	return "unreachable"
end

-- Blocked on a channel while a sleeping coroutine will feed it: no
-- deadlock, since a timer is pending.
function h.no_deadlock_timer()
	local ch = channel.new()
	coroutine.spawn(function()
		time.sleep("30ms")
		ch:send("fed")
	end)
	return ch:receive()
end

-- Blocked on the inbox (an external source): not a deadlock.
function h.inbox_waiter(parent)
	process.send(parent, "ready")
	local msg = process.inbox():receive()
	return msg:topic()
end

-- Main raises while coroutines are blocked.
function h.main_fails()
	coroutine.spawn(function() channel.new():receive() end)
	error("main boom")
end

return h
