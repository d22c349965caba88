-- test.coroutine: coroutine.spawn scheduling, failures, deadlock
-- detection and main's return (spec 4.9, 6).
local t = require("t")
local time = require("time")

local HOST = "test:procs"
local T = {}

local function exit_of(entry, ...)
	local pid = process.spawn_monitored("test.coroutine:" .. entry, HOST, ...)
	t.ok(pid, "spawn " .. entry)
	return t.event(time, process.event.EXIT, pid), pid
end

function T.spawn_returns_thread()
	local th = coroutine.spawn(function() end)
	t.eq(type(th), "thread")
end

function T.spawn_needs_a_function()
	t.raises(function() coroutine.spawn(42) end, "")
	t.raises(function() coroutine.spawn() end, "")
end

function T.spawned_coroutine_runs()
	local ch = channel.new()
	coroutine.spawn(function() ch:send("from coroutine") end)
	t.eq(ch:receive(), "from coroutine")
end

function T.shared_upvalues()
	local counter = 0
	local done = channel.new(3)
	for _ = 1, 3 do
		coroutine.spawn(function()
			for _ = 1, 10 do
				counter = counter + 1
				time.sleep("1ms")
			end
			done:send(true)
		end)
	end
	for _ = 1, 3 do done:receive() end
	t.eq(counter, 30, "all coroutines updated the shared upvalue")
end

function T.interleave_at_sleep()
	local log = {}
	local done = channel.new(2)
	coroutine.spawn(function()
		log[#log + 1] = "a1"
		time.sleep("20ms")
		log[#log + 1] = "a2"
		done:send(true)
	end)
	coroutine.spawn(function()
		log[#log + 1] = "b1"
		time.sleep("5ms")
		log[#log + 1] = "b2"
		done:send(true)
	end)
	done:receive()
	done:receive()
	t.eq(table.concat(log, ","), "a1,b1,b2,a2", "coroutines take turns at sleep")
end

function T.sleep_ordering()
	local ch = channel.new(3)
	for _, ms in ipairs({30, 10, 20}) do
		coroutine.spawn(function()
			time.sleep(ms * time.MILLISECOND)
			ch:send(ms)
		end)
	end
	t.eq(ch:receive(), 10)
	t.eq(ch:receive(), 20)
	t.eq(ch:receive(), 30)
end

function T.worker_pool()
	local jobs, results = channel.new(10), channel.new(10)
	for _ = 1, 3 do
		coroutine.spawn(function()
			while true do
				local j, ok = jobs:receive()
				if not ok then return end
				results:send(j * j)
			end
		end)
	end
	local sum = 0
	coroutine.spawn(function()
		for i = 1, 20 do jobs:send(i) end
		jobs:close()
	end)
	for _ = 1, 20 do sum = sum + results:receive() end
	t.eq(sum, 2870, "sum of squares 1..20")
end

function T.manual_coroutines_work()
	local gen = coroutine.wrap(function()
		for i = 1, 3 do coroutine.yield(i) end
	end)
	t.eq(gen(), 1)
	t.eq(gen(), 2)
	t.eq(gen(), 3)
	local co = coroutine.create(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
	local ok, v = coroutine.resume(co, 1)
	t.eq(v, 2)
	ok, v = coroutine.resume(co, 5)
	t.eq(v, 10)
	t.eq(coroutine.status(co), "dead")
end

function T.blocking_in_manual_coroutine_raises()
	local co = coroutine.create(function() time.sleep("1ms") end)
	local ok, err = coroutine.resume(co)
	t.eq(ok, false, "a blocking call in coroutine.create fails")
	t.contains(tostring(err), "blocking call outside a process coroutine")
end

-- A blocking call where the coroutine cannot yield (a comparator called
-- by table.sort, a metamethod) raises before it waits on anything, so the
-- channel it named is left as it was.
function T.blocking_where_it_cannot_yield_raises()
	local ch = channel.new()
	local ok, err = pcall(table.sort, {3, 1, 2}, function(a, b)
		ch:receive()
		return a < b
	end)
	t.eq(ok, false, "a receive inside table.sort fails")
	t.contains(tostring(err), "cannot yield")
	ok, err = pcall(table.sort, {3, 1, 2}, function(a, b)
		channel.select({ch:case_receive()})
		return a < b
	end)
	t.eq(ok, false, "a select inside table.sort fails")
	t.contains(tostring(err), "cannot yield")
	coroutine.spawn(function() ch:send("after") end)
	t.eq(ch:receive(), "after", "the channel still works")
	local full = channel.new(1)
	full:send(1)
	ok = pcall(table.sort, {3, 1, 2}, function(a, b)
		full:send(2)
		return a < b
	end)
	t.eq(ok, false, "a blocking send inside table.sort fails")
	t.eq(full:receive(), 1)
	coroutine.spawn(function() full:send(3) end)
	t.eq(full:receive(), 3, "no sender was left queued")
end

-- The scheduler owns the coroutines it runs: coroutine.close and
-- coroutine.resume on one are refused, and its wait goes on unharmed.
function T.scheduled_coroutine_cannot_be_closed_or_resumed()
	local ch, out = channel.new(), channel.new(1)
	local th = coroutine.spawn(function()
		local v = ch:receive()
		out:send(v)
	end)
	time.sleep("1ms")
	t.eq(coroutine.status(th), "suspended")
	local ok, err = pcall(coroutine.close, th)
	t.eq(ok, false, "close is refused")
	t.contains(tostring(err), "scheduler")
	local rok, rerr = coroutine.resume(th, "forged")
	t.eq(rok, false, "resume is refused")
	t.contains(tostring(rerr), "scheduler")
	ch:send("real")
	t.eq(out:receive(), "real", "the blocked receive got the real value")
	local main = coroutine.running()
	local done = channel.new(1)
	coroutine.spawn(function()
		local ok2, err2 = coroutine.resume(main)
		done:send({ok2, tostring(err2)})
	end)
	local r = done:receive()
	t.eq(r[1], false, "resuming the main coroutine from another is refused")
	local manual = coroutine.create(function() coroutine.yield(1) end)
	t.eq(select(2, coroutine.resume(manual)), 1)
	t.eq(coroutine.close(manual), true, "manual coroutines close as in Lua")
end

function T.coroutine_error_ends_process()
	local ev = exit_of("coro_fails")
	t.is_nil(ev.result.value, "main never returned")
	t.contains(ev.result.error:message(), "coroutine boom")
end

function T.coroutine_error_object_kept()
	local ev = exit_of("coro_fails_object")
	t.eq(ev.result.error:message(), "object boom")
	t.eq(ev.result.error:kind(), errors.CONFLICT)
end

function T.main_error_ends_process()
	local ev = exit_of("main_fails")
	t.contains(ev.result.error:message(), "main boom")
end

function T.main_return_kills_coroutines()
	local ev = exit_of("main_returns", process.pid())
	t.eq(ev.result.value, "main done")
	t.quiet(time, process.inbox(), "300ms", "message from a coroutine after main returned")
end

function T.deadlock_detected()
	local ev = exit_of("deadlock_main")
	t.is_nil(ev.result.value)
	t.contains(ev.result.error:message(), "all coroutines blocked with no pending operations")
end

function T.deadlock_two_coroutines()
	local ev = exit_of("deadlock_two")
	t.contains(ev.result.error:message(), "all coroutines blocked with no pending operations")
end

function T.deadlock_on_send()
	local ev = exit_of("deadlock_send")
	t.contains(ev.result.error:message(), "all coroutines blocked with no pending operations")
end

function T.no_deadlock_while_subscribed()
	local pid = process.spawn_monitored("test.coroutine:blocked_subscribed", HOST, process.pid())
	t.msg(time, "ready")
	t.quiet(time, process.events(), "100ms", "an exit while subscribed")
	process.terminate(pid)
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.error:message(), "process terminated")
end

function T.no_deadlock_with_pending_timer()
	local ev = exit_of("no_deadlock_timer")
	t.is_nil(ev.result.error)
	t.eq(ev.result.value, "fed")
end

function T.no_deadlock_on_inbox()
	local pid = process.spawn_monitored("test.coroutine:inbox_waiter", HOST, process.pid())
	t.msg(time, "ready")
	time.sleep("50ms")
	process.send(pid, "wake")
	local ev = t.event(time, process.event.EXIT, pid)
	t.is_nil(ev.result.error)
	t.eq(ev.result.value, "wake")
end

return T
