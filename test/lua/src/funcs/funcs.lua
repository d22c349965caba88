-- Conformance tests for require("funcs") and its Future (the original's
-- runtime/lua/modules/funcs and modules/future): results and errors by
-- value, blocking that parks only the caller, nested calls, async calls
-- with cancel and select, context, actor and scope passed to the callee.
local t = require("t")
local funcs = require("funcs")
local time = require("time")
local security = require("security")
local T = {}

local function elapsed_ms(since)
	return time.now():sub(since):milliseconds()
end

function T.call_returns_value()
	local v, err = funcs.call("test.funcs:add", 2, 3)
	t.is_nil(err, "err")
	t.eq(v, 5, "2 + 3")
	local s = funcs.call("test.funcs:echo", "text")
	t.eq(s, "text", "a string back")
	local tbl = funcs.call("test.funcs:echo", {a = {1, 2, {x = "y"}}, b = true})
	t.deq(tbl, {a = {1, 2, {x = "y"}}, b = true}, "a nested table back")
end

function T.call_first_value_only()
	local a, b = funcs.call("test.funcs:two")
	t.eq(a, 1, "first")
	t.is_nil(b, "the second slot is the error slot")
	local v, err = funcs.call("test.funcs:nothing")
	t.is_nil(v, "no result")
	t.is_nil(err, "no error")
end

function T.arguments_cross_by_value()
	local arg = {nested = {deep = "caller"}}
	local back, err = funcs.call("test.funcs:mutate", arg)
	t.is_nil(err, "err")
	t.is_nil(arg.changed, "the caller's table is untouched")
	t.eq(arg.nested.deep, "caller", "nested too")
	t.eq(back.changed, true, "the callee changed its copy")
	t.eq(back.nested.deep, "callee", "and its nested copy")
	t.ok(back ~= arg, "a new table comes back")
end

function T.missing_function_is_not_found()
	local v, err = funcs.call("test.funcs:nope", 1)
	t.err(v, err, errors.NOT_FOUND, "test.funcs:nope")
	v, err = funcs.call("nowhere:at_all")
	t.err(v, err, errors.NOT_FOUND)
end

function T.bad_ids_are_invalid()
	t.err(nil, select(2, funcs.call("")), errors.INVALID, "function ID required")
	t.err(nil, select(2, funcs.call("noname")), errors.INVALID, "namespace required")
	t.err(nil, select(2, funcs.call(":x")), errors.INVALID, "namespace required")
	t.err(nil, select(2, funcs.call("ns:")), errors.INVALID, "name required")
	t.raises(function() funcs.call(nil) end, "string expected")
	t.raises(function() funcs.call({}) end, "string expected")
end

function T.non_function_entry_is_invalid()
	local v, err = funcs.call("test.funcs:caller_proc")
	t.err(v, err, errors.INVALID, "not a function")
	v, err = funcs.call("test:procs")
	t.err(v, err, errors.INVALID, "process.host")
end

function T.callee_raise_becomes_error()
	local v, err = funcs.call("test.funcs:raise_string")
	t.err(v, err, nil, "boom from callee")
	-- the caller goes on, and the function's state serves the next call
	t.eq(funcs.call("test.funcs:add", 1, 1), 2, "next call")
end

function T.callee_error_keeps_kind()
	local v, err = funcs.call("test.funcs:raise_object")
	t.err(v, err, errors.CONFLICT, "conflict here")
	t.eq(err:details().field, "name", "details cross")
	t.ok(errors.is(err, errors.CONFLICT), "errors.is")
end

function T.callee_nil_err_return_is_error()
	local v, err = funcs.call("test.funcs:return_err")
	t.err(v, err, errors.NOT_FOUND, "no such thing")
	v, err = funcs.call("test.funcs:return_string_err")
	t.err(v, err, nil, "plain failure")
end

function T.values_that_cannot_cross()
	local cyc = {}
	cyc.self = cyc
	local v, err = funcs.call("test.funcs:echo", cyc)
	t.err(v, err, errors.INVALID, "arguments")
	v, err = funcs.call("test.funcs:return_cycle")
	t.err(v, err, errors.INTERNAL, "result")
	-- functions become nil, as in messages
	v, err = funcs.call("test.funcs:return_function")
	t.is_nil(v, "a function comes back as nil")
	t.is_nil(err, "and is no error")
	t.is_nil(funcs.call("test.funcs:echo", function() end), "a function argument too")
end

function T.blocking_callee_parks_only_the_caller()
	local ticks = 0
	local stop = false
	coroutine.spawn(function()
		while not stop do
			ticks = ticks + 1
			time.sleep("2ms")
		end
	end)
	local t0 = time.now()
	local v, err = funcs.call("test.funcs:sleepy", 40, "slept")
	stop = true
	t.is_nil(err, "err")
	t.eq(v, "slept", "value")
	t.ok(elapsed_ms(t0) >= 39, "the call took the callee's sleep")
	t.ok(ticks >= 5, "the caller's other coroutine ran meanwhile (" .. ticks .. ")")
end

function T.callee_waits_on_its_channel()
	local v, err = funcs.call("test.funcs:chan_wait", 21)
	t.is_nil(err, "err")
	t.eq(v, 42, "value from the callee's own coroutine")
end

function T.concurrent_calls_overlap()
	local done = channel.new(10)
	local t0 = time.now()
	for i = 1, 5 do
		coroutine.spawn(function()
			local v = funcs.call("test.funcs:sleepy", 50, i)
			done:send(v)
		end)
	end
	local sum = 0
	for _ = 1, 5 do sum = sum + t.recv(time, done) end
	t.eq(sum, 15, "every call returned its own value")
	t.ok(elapsed_ms(t0) < 240, "five 50 ms calls ran at once")
end

function T.nested_calls()
	local v, err = funcs.call("test.funcs:chain", 5)
	t.is_nil(err, "err")
	t.deq(v, {5, 4, 3, 2, 1}, "each level called the next")
end

function T.runaway_recursion_stops()
	local v, err = funcs.call("test.funcs:forever", 1)
	t.err(v, err, errors.INTERNAL, "nested too deeply")
	t.eq(funcs.call("test.funcs:add", 2, 2), 4, "calls work after")
end

function T.outside_a_process_coroutine_raises()
	local co = coroutine.wrap(function() return funcs.call("test.funcs:add", 1, 2) end)
	t.raises(co, "outside a process coroutine")
end

function T.async_result_and_channel()
	local f, err = funcs.async("test.funcs:sleepy", 20, {n = 7})
	t.is_nil(err, "err")
	t.eq(f:is_complete(), false, "not complete at once")
	t.eq(f:is_canceled(), false, "not canceled")
	local r0, e0 = f:result()
	t.is_nil(r0, "no result yet")
	t.is_nil(e0, "no error yet")
	t.eq(f:response(), f:channel(), "channel() is response()")
	t.eq(f:response(), f:response(), "the same channel each time")
	local p, ok = t.recv(time, f:response())
	t.eq(ok, true, "received")
	t.eq(p:get_format(), "lua/any", "a Payload")
	t.eq(p:data().n, 7, "its data")
	t.eq(f:is_complete(), true, "complete")
	local r, e = f:result()
	t.is_nil(e, "result err")
	t.eq(r:data().n, 7, "result() gives the same")
	local ee, has = f:error()
	t.is_nil(ee, "error()")
	t.eq(has, false, "no error")
end

function T.async_module_and_executor()
	local f1 = funcs.async("test.funcs:add", 1, 2)
	local f2 = funcs.new():async("test.funcs:add", 3, 4)
	t.eq(t.recv(time, f1:channel()):data(), 3, "module async")
	t.eq(t.recv(time, f2:channel()):data(), 7, "executor async")
end

function T.async_error()
	local f = funcs.async("test.funcs:raise_object")
	local v, ok = t.recv(time, f:response())
	t.eq(ok, true, "received")
	t.eq(v:kind(), errors.CONFLICT, "the error object comes on the channel")
	local r, err = f:result()
	t.err(r, err, errors.CONFLICT, "conflict here")
	local e, has = f:error()
	t.eq(has, true, "error() says so")
	t.eq(e:kind(), errors.INTERNAL, "error() wraps it")
	t.contains(e:message(), "conflict here", "the cause's message")
end

function T.async_missing_function_fails_the_future()
	local f, err = funcs.async("test.funcs:nope")
	t.is_nil(err, "a Future, not an error")
	local v = t.recv(time, f:response())
	t.eq(v:kind(), errors.NOT_FOUND, "NOT_FOUND on the channel")
	t.eq(f:is_complete(), true, "complete")
	t.err(f:result(), select(2, f:result()), errors.NOT_FOUND)
end

function T.async_bad_id_is_invalid()
	local f, err = funcs.async("")
	t.err(f, err, errors.INVALID, "function ID required")
	f, err = funcs.async("plain")
	t.err(f, err, errors.INVALID, "namespace required")
	local cyc = {}
	cyc.self = cyc
	f, err = funcs.async("test.funcs:echo", cyc)
	t.err(f, err, errors.INVALID, "arguments")
end

function T.async_cancel()
	local f = funcs.async("test.funcs:sleepy", 100, "late")
	t.eq(f:cancel(), true, "cancel() answers true")
	t.eq(f:is_canceled(), true, "canceled")
	local r, err = f:result()
	t.err(r, err, errors.CANCELED, "canceled")
	local v, ok = t.recv(time, f:response())
	t.is_nil(v, "no value")
	t.eq(ok, false, "the channel is closed")
	time.sleep("150ms")
	r, err = f:result()
	t.err(r, err, errors.CANCELED, "canceled") -- still, after the call's time
	t.eq(f:cancel(), true, "cancel twice")
end

function T.cancel_after_completion_keeps_value()
	local f = funcs.async("test.funcs:add", 5, 5)
	local p = t.recv(time, f:response())
	t.eq(p:data(), 10, "value")
	f:cancel()
	t.eq(f:is_canceled(), true, "marked canceled")
	t.err(f:result(), select(2, f:result()), errors.CANCELED)
end

function T.select_over_futures()
	local slow = funcs.async("test.funcs:sleepy", 200, "slow")
	local fast = funcs.async("test.funcs:sleepy", 10, "fast")
	local r = channel.select{slow:response():case_receive(), fast:response():case_receive(),
		time.after("2s"):case_receive()}
	t.eq(r.channel, fast:response(), "the fast one first")
	t.eq(r.value:data(), "fast", "its value")
	local timeout = time.after("20ms")
	r = channel.select{slow:response():case_receive(), timeout:case_receive()}
	t.eq(r.channel, timeout, "the slow one is not there yet")
	slow:cancel()
end

function T.many_calls_in_flight()
	-- More at once than a pool keeps idle: states are made, then trimmed.
	local fs = {}
	for i = 1, 100 do fs[i] = funcs.async("test.funcs:sleepy", 5, i) end
	local sum = 0
	for i = 1, 100 do sum = sum + t.recv(time, fs[i]:response()):data() end
	t.eq(sum, 5050, "every future got its own value")
	for _ = 1, 3 do
		local v = 0
		for i = 1, 50 do v = v + funcs.call("test.funcs:add", i, 0) end
		t.eq(v, 1275, "sequential calls reuse a state")
	end
end

function T.callee_state_that_dies_fails_the_call()
	local f = funcs.async("test.funcs:reveal", process.pid())
	local pid = t.msg(time, "callee"):payload():data()
	t.match(pid, "^{wippy:funcs|", "the callee's own pid")
	process.terminate(pid)
	local v, ok = t.recv(time, f:response())
	t.eq(ok, true, "an outcome came")
	t.eq(v:kind(), errors.INTERNAL, "INTERNAL")
	t.contains(v:message(), "terminated", "says why")
	t.eq(funcs.call("test.funcs:add", 1, 1), 2, "the function still serves calls")
end

function T.dropped_future_is_harmless()
	for i = 1, 5 do funcs.async("test.funcs:sleepy", 10, i) end
	time.sleep("40ms")
	t.eq(funcs.call("test.funcs:add", 1, 2), 3, "calls still work")
end

function T.with_context_reaches_callee()
	local v, err = funcs.new():with_context({tenant = "t1", n = 3, list = {1, 2}}):call("test.funcs:ctx_all")
	t.is_nil(err, "err")
	t.deq(v, {tenant = "t1", n = 3, list = {1, 2}}, "ctx.all() in the callee")
	local plain = funcs.call("test.funcs:ctx_all")
	t.deq(plain, {}, "a plain call has no values")
end

function T.with_context_is_immutable_and_merges()
	local base = funcs.new():with_context({tenant = "123"})
	local a = base:with_context({user = "john"})
	local b = base:with_context({user = "jane", tenant = "999"})
	t.deq(a:call("test.funcs:ctx_all"), {tenant = "123", user = "john"}, "a")
	t.deq(b:call("test.funcs:ctx_all"), {tenant = "999", user = "jane"}, "b: later wins")
	t.deq(base:call("test.funcs:ctx_all"), {tenant = "123"}, "base unchanged")
	local src = {k = {v = 1}}
	local e = funcs.new():with_context(src)
	src.k.v = 2
	t.eq(e:call("test.funcs:ctx_all").k.v, 1, "a copy was taken")
	local odd = funcs.new():with_context({[1] = "x", ok = true})
	t.deq(odd:call("test.funcs:ctx_all"), {ok = true}, "non-string keys are ignored")
	t.raises(function() funcs.new():with_context("x") end, "table expected")
	local cyc = {}
	cyc.self = cyc
	t.raises(function() funcs.new():with_context({c = cyc}) end, "cannot be passed")
end

function T.context_is_inherited_by_nested_calls()
	local v, err = funcs.new():with_context({trace = "abc"}):call("test.funcs:ctx_nested")
	t.is_nil(err, "err")
	t.deq(v.own, {trace = "abc"}, "the callee's own")
	t.deq(v.inner, {trace = "abc"}, "passed on to a plain nested call")
end

function T.context_of_a_process_is_inherited()
	process.with_context({from = "spawner"}):spawn("test.funcs:caller_proc", "test:procs",
		process.pid(), "test.funcs:ctx_all")
	local m = t.msg(time, "result")
	t.deq(m:payload():data().value, {from = "spawner"}, "the caller's own values")
end

function T.with_actor_and_scope()
	local v = funcs.new():with_actor(security.new_actor("alice", {role = "admin"})):call("test.funcs:whoami")
	t.eq(v.actor, "alice", "security.actor() in the callee")
	t.eq(v.meta.role, "admin", "its meta")
	t.eq(v.scope, false, "no scope given")
	v = funcs.new():with_scope(security.new_scope()):call("test.funcs:whoami")
	t.eq(v.scope, true, "security.scope() in the callee")
	t.is_nil(v.actor, "no actor")
	v = funcs.call("test.funcs:whoami")
	t.is_nil(v.actor, "a plain call has no actor here")
	t.raises(function() funcs.new():with_actor(nil) end, "actor cannot be nil")
	t.raises(function() funcs.new():with_actor("alice") end, "Actor expected")
	t.raises(function() funcs.new():with_scope(nil) end, "scope cannot be nil")
	t.raises(function() funcs.new():with_scope({}) end, "Scope expected")
end

-- funcs.call is checked against the caller's actor and scope: a callee
-- running under a scope that denies test.funcs:add cannot call it (nil and
-- a PermissionDenied error), and can call the others; the plain caller can.
function T.denied_call()
	local scope = security.new_scope():with(security.policy("test.funcs:allow_all"))
		:with(security.policy("test.funcs:deny_add"))
	local sb = funcs.new():with_actor(security.new_actor("sandboxed")):with_scope(scope)
	local v, err = sb:call("test.funcs:chain_to", "test.funcs:add", 1, 2)
	t.is_nil(err, "the sandboxed call itself is allowed")
	t.eq(v.value, nil, "no value from the denied nested call")
	t.eq(v.kind, errors.PERMISSION_DENIED, "its kind")
	t.match(v.message, "not allowed: test.funcs:add")
	v, err = sb:call("test.funcs:chain_to", "test.funcs:echo", "hi")
	t.is_nil(err)
	t.eq(v.value, "hi", "another function is allowed")
	t.eq(funcs.call("test.funcs:add", 1, 2), 3, "the plain caller may call add")
end

function T.with_options_and_chaining()
	local e = funcs.new():with_options({timeout = "1s"}):with_context({a = 1})
		:with_actor(security.new_actor("bob"))
	t.match(tostring(e), "^funcs.Executor", "an Executor")
	local v = e:call("test.funcs:whoami")
	t.eq(v.actor, "bob", "actor kept through the chain")
	t.deq(e:call("test.funcs:ctx_all"), {a = 1}, "values kept through the chain")
	t.raises(function() funcs.new():with_options(5) end, "table expected")
	t.raises(function() funcs.new().call(nil, "test.funcs:add") end, "funcs.Executor expected")
end

function T.calls_from_processes_on_every_shard()
	local n = 6
	for i = 1, n do
		process.spawn("test.funcs:caller_proc", "test:procs", process.pid(), "test.funcs:chain", i)
	end
	local seen = {}
	for _ = 1, n do
		local d = t.msg(time, "result"):payload():data()
		t.is_nil(d.err, "err")
		seen[#d.value] = true
	end
	for i = 1, n do t.ok(seen[i], "chain " .. i) end
end

function T.errors_reach_other_processes_with_kind()
	process.spawn("test.funcs:caller_proc", "test:procs", process.pid(), "test.funcs:nope")
	local d = t.msg(time, "result"):payload():data()
	t.eq(d.kind, errors.NOT_FOUND, "kind")
end

function T.caller_that_dies_mid_call()
	local pid = process.spawn_monitored("test.funcs:stuck_caller", "test:procs", process.pid())
	t.msg(time, "calling")
	time.sleep("20ms")
	process.terminate(pid)
	t.event(time, process.event.EXIT, pid)
	t.eq(funcs.call("test.funcs:add", 20, 22), 42, "the runtime goes on")
end

return T
