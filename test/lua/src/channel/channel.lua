-- test.channel: channels and select (spec 5).
local t = require("t")
local time = require("time")

local T = {}

function T.new_sizes()
	t.ok(channel.new(), "unbuffered")
	t.ok(channel.new(0), "size 0")
	t.ok(channel.new(100), "buffered")
	t.raises(function() channel.new(-1) end, "")
end

function T.unbuffered_rendezvous()
	local ch = channel.new()
	local log = {}
	coroutine.spawn(function()
		log[#log + 1] = "send start"
		ch:send("v")
		log[#log + 1] = "send done"
	end)
	time.sleep("10ms")
	t.eq(table.concat(log, ","), "send start", "sender waits for a receiver")
	t.eq(ch:receive(), "v")
	time.sleep("1ms")
	t.eq(table.concat(log, ","), "send start,send done")
end

function T.unbuffered_receiver_first()
	local ch = channel.new()
	coroutine.spawn(function()
		time.sleep("5ms")
		t.eq(ch:send(1), true, "send returns true")
	end)
	local v, ok = ch:receive()
	t.eq(v, 1)
	t.eq(ok, true)
end

function T.buffered_does_not_block()
	local ch = channel.new(3)
	t.eq(ch:send(1), true)
	t.eq(ch:send(2), true)
	t.eq(ch:send(3), true)
	t.eq(ch:receive(), 1)
	t.eq(ch:receive(), 2)
	t.eq(ch:receive(), 3)
end

function T.buffered_blocks_when_full()
	local ch = channel.new(2)
	local sent = 0
	coroutine.spawn(function()
		for i = 1, 3 do
			ch:send(i)
			sent = i
		end
	end)
	time.sleep("10ms")
	t.eq(sent, 2, "third send blocks on a full buffer")
	t.eq(ch:receive(), 1)
	time.sleep("1ms")
	t.eq(sent, 3, "a freed slot lets it through")
	t.eq(ch:receive(), 2)
	t.eq(ch:receive(), 3)
end

function T.fifo_many()
	local ch = channel.new(10)
	coroutine.spawn(function()
		for i = 1, 500 do ch:send(i) end
		ch:close()
	end)
	local expect = 1
	while true do
		local v, ok = ch:receive()
		if not ok then break end
		t.eq(v, expect, "order")
		expect = expect + 1
	end
	t.eq(expect, 501, "all values")
end

function T.nil_value()
	local ch = channel.new(1)
	ch:send(nil)
	local v, ok = ch:receive()
	t.is_nil(v)
	t.eq(ok, true, "a nil value is still a value")
end

function T.tables_by_reference()
	-- within one process a channel passes the same table, not a copy
	local ch = channel.new(1)
	local v = {}
	ch:send(v)
	t.ok(ch:receive() == v, "same table")
end

function T.close_drains_buffer()
	local ch = channel.new(3)
	ch:send("a")
	ch:send("b")
	ch:close()
	local v, ok = ch:receive()
	t.eq(v, "a"); t.eq(ok, true)
	v, ok = ch:receive()
	t.eq(v, "b"); t.eq(ok, true)
	v, ok = ch:receive()
	t.is_nil(v); t.eq(ok, false, "closed and drained")
	v, ok = ch:receive()
	t.is_nil(v); t.eq(ok, false, "stays closed")
end

function T.send_on_closed_raises()
	local ch = channel.new(1)
	ch:close()
	t.raises(function() ch:send(1) end, "closed")
	local unbuf = channel.new()
	unbuf:close()
	t.raises(function() unbuf:send(1) end, "closed")
end

function T.close_twice_is_noop()
	local ch = channel.new()
	ch:close()
	ch:close()
	local v, ok = ch:receive()
	t.is_nil(v)
	t.eq(ok, false)
end

function T.close_wakes_receivers()
	local ch = channel.new()
	local got = channel.new(2)
	for _ = 1, 2 do
		coroutine.spawn(function()
			local v, ok = ch:receive()
			got:send({v = v, ok = ok})
		end)
	end
	time.sleep("5ms")
	ch:close()
	for _ = 1, 2 do
		local r = got:receive()
		t.is_nil(r.v)
		t.eq(r.ok, false, "woken with nil, false")
	end
end

function T.close_fails_blocked_senders()
	local ch = channel.new()
	local got = channel.new(1)
	coroutine.spawn(function()
		local ok, err = pcall(ch.send, ch, "x")
		got:send({ok = ok, err = tostring(err)})
	end)
	time.sleep("5ms")
	ch:close()
	local r = got:receive()
	t.eq(r.ok, false, "blocked send fails")
	t.contains(r.err, "closed")
end

function T.close_full_buffer_with_blocked_sender()
	local ch = channel.new(1)
	ch:send("kept")
	local got = channel.new(1)
	coroutine.spawn(function()
		got:send(pcall(ch.send, ch, "lost"))
	end)
	time.sleep("5ms")
	ch:close()
	t.eq(got:receive(), false, "blocked sender fails on close")
	t.eq(ch:receive(), "kept", "buffered value still received")
	local v, ok = ch:receive()
	t.is_nil(v); t.eq(ok, false)
end

function T.select_first_ready_in_array_order()
	local a, b = channel.new(1), channel.new(1)
	a:send("a"); b:send("b")
	local r = channel.select{a:case_receive(), b:case_receive()}
	t.ok(r.channel == a, "first case wins")
	t.eq(r.value, "a")
	a:send("a")
	r = channel.select{b:case_receive(), a:case_receive()}
	t.ok(r.channel == b, "first case wins in the other order")
	t.eq(r.value, "b")
end

function T.select_order_is_deterministic()
	local a, b = channel.new(100), channel.new(100)
	for i = 1, 50 do a:send(i); b:send(i) end
	for i = 1, 50 do
		local r = channel.select{b:case_receive(), a:case_receive()}
		t.ok(r.channel == b, "never a random pick")
		t.eq(r.value, i)
	end
end

function T.select_default_when_nothing_ready()
	local a = channel.new()
	local r = channel.select{a:case_receive(), default = true}
	t.eq(r.default, true, "default taken")
	t.eq(r.ok, true)
	t.is_nil(r.channel, "no channel")
end

function T.select_default_second_argument()
	local a = channel.new()
	local r = channel.select({a:case_receive()}, true)
	t.eq(r.default, true, "select(cases, true) has a default")
end

function T.select_default_not_taken_when_ready()
	local a = channel.new(1)
	a:send(5)
	local r = channel.select{a:case_receive(), default = true}
	t.ok(not r.default, "a ready case beats default")
	t.ok(r.channel == a)
	t.eq(r.value, 5)
	t.eq(r.ok, true)
end

function T.select_closed_channel()
	local a = channel.new()
	a:close()
	local r = channel.select{a:case_receive()}
	t.ok(r.channel == a)
	t.is_nil(r.value)
	t.eq(r.ok, false, "ok is false for a closed channel")
end

function T.select_closed_counts_as_ready()
	local closed, ready = channel.new(), channel.new(1)
	closed:close()
	ready:send("v")
	local r = channel.select{closed:case_receive(), ready:case_receive()}
	t.ok(r.channel == closed, "a closed channel is ready, and first")
	t.eq(r.ok, false)
	r = channel.select{ready:case_receive(), closed:case_receive()}
	t.ok(r.channel == ready, "array order decides")
	t.eq(r.value, "v")
end

function T.select_send_case()
	local a = channel.new(1)
	local r = channel.select{a:case_send("sent")}
	t.ok(r.channel == a, "send case chosen")
	t.eq(r.value, "sent", "value of a send case")
	t.eq(r.ok, true)
	t.eq(a:receive(), "sent")
end

function T.select_send_blocks_until_receiver()
	local a = channel.new()
	coroutine.spawn(function()
		time.sleep("5ms")
		t.eq(a:receive(), "rendezvous")
	end)
	local r = channel.select{a:case_send("rendezvous")}
	t.ok(r.channel == a)
	t.eq(r.ok, true)
end

function T.select_send_on_closed_raises()
	local a = channel.new(1)
	a:close()
	t.raises(function() channel.select{a:case_send(1)} end, "closed")
end

function T.select_blocks_then_wakes()
	local a, b = channel.new(), channel.new()
	coroutine.spawn(function()
		time.sleep("10ms")
		b:send("late b")
	end)
	local r = channel.select{a:case_receive(), b:case_receive()}
	t.ok(r.channel == b, "the case that became ready")
	t.eq(r.value, "late b")
	t.eq(r.ok, true)
end

function T.select_wakes_on_close()
	local a = channel.new()
	coroutine.spawn(function()
		time.sleep("5ms")
		a:close()
	end)
	local r = channel.select{a:case_receive()}
	t.ok(r.channel == a)
	t.eq(r.ok, false)
end

function T.select_mixed_send_and_receive()
	local out, inn = channel.new(), channel.new(1)
	inn:send("in")
	local r = channel.select{out:case_send("x"), inn:case_receive()}
	t.ok(r.channel == inn, "the ready receive, since nobody receives on out")
	t.eq(r.value, "in")
end

-- Entries that are not cases are skipped, as the original does.
function T.select_skips_non_cases()
	local a = channel.new(1)
	a:send("v")
	local r = channel.select{42, {}, "x", {a}, a:case_receive()}
	t.ok(r.channel == a, "the real case is taken")
	t.eq(r.value, "v")
	r = channel.select{42, {}, default = true}
	t.eq(r.default, true, "only non-cases: the default")
	t.raises(function() channel.select(42) end, "")
	t.raises(function() channel.select() end, "")
end

-- A blocking select over many cases, non-cases mixed in: the case that
-- becomes ready wins with its own channel and value, whatever its place,
-- with three cases (past the record kept in the coroutine) and with
-- twelve (past the cases remembered from the first walk); a blocked send
-- case among them delivers its own value.
function T.select_many_cases_blocks_then_wakes()
	for _, n in ipairs({3, 12}) do
		local chans, cases = {}, {}
		for i = 1, n do
			chans[i] = channel.new()
			cases[#cases + 1] = chans[i]:case_receive()
			if i % 4 == 0 then cases[#cases + 1] = "not a case" end
		end
		for _, k in ipairs({n, 1, n - 1}) do
			coroutine.spawn(function()
				time.sleep("2ms")
				chans[k]:send("to " .. k)
			end)
			local r = channel.select(cases)
			t.ok(r.channel == chans[k], n .. " cases: channel " .. k .. " woke it")
			t.eq(r.value, "to " .. k)
			t.eq(r.ok, true)
		end
		local out = channel.new()
		local with_send = {}
		for i = 1, n - 1 do with_send[i] = cases[i] end
		with_send[n] = out:case_send("sent " .. n)
		local got = channel.new(1)
		coroutine.spawn(function()
			time.sleep("2ms")
			got:send(out:receive())
		end)
		local r = channel.select(with_send)
		t.ok(r.channel == out, n .. " cases: the send case completed")
		t.eq(r.value, "sent " .. n)
		t.eq(got:receive(), "sent " .. n)
	end
end

-- select{} with no default blocks for good: with nothing else to run the
-- process ends as deadlocked instead of raising at the call.
function T.select_empty_blocks()
	local pid = process.spawn_monitored("test.process:select_empty", "test:procs")
	local ev = t.event(time, process.event.EXIT, pid)
	t.is_nil(ev.result.value)
	t.contains(ev.result.error:message(), "all coroutines blocked with no pending operations")
	local done = channel.new(1)
	coroutine.spawn(function()
		channel.select{42}
		done:send("unreachable")
	end)
	t.quiet(time, done, "30ms", "select of non-cases only")
end

-- subscribe(topic, ch): this process's messages on topic go to ch.
function T.subscribe_routes_topic()
	local ch = channel.new()
	t.eq(subscribe("sub.topic", ch), true)
	process.send(process.pid(), "sub.topic", "one")
	process.send(process.pid(), "sub.other", "two")
	t.eq(t.recv(time, ch), "one", "value on the subscribed topic")
	t.eq(t.msg(time, "sub.other"):payload():data(), "two", "others go to the inbox")
	-- queued before anyone receives, and with a buffer
	process.send(process.pid(), "sub.topic", "three")
	time.sleep("10ms")
	t.eq(t.recv(time, ch), "three", "queued message")
	t.eq(subscribe("sub.topic", ch), true, "again: no-op")
	t.ok(process.listen("sub.topic") == ch, "listen returns the subscribed channel")
	t.eq(unsubscribe(ch), true)
	process.send(process.pid(), "sub.topic", "four")
	t.eq(t.msg(time, "sub.topic"):payload():data(), "four", "back to the inbox")
	local bch = channel.new(2)
	t.eq(subscribe("sub.buf", bch), true)
	process.send(process.pid(), "sub.buf", 1)
	process.send(process.pid(), "sub.buf", 2)
	local r = channel.select{bch:case_receive(), time.after("5s"):case_receive()}
	t.eq(r.value, 1, "select on a subscribed channel")
	t.eq(t.recv(time, bch), 2)
	t.eq(unsubscribe(bch), true)
end

function T.subscribe_errors()
	local a, b = channel.new(), channel.new()
	t.eq(subscribe("sub.dup", a), true)
	local ok, err = subscribe("sub.dup", b)
	t.err(ok, err, errors.ALREADY_EXISTS, "topic already subscribed")
	ok, err = subscribe("sub.dup2", a)
	t.err(ok, err, errors.INVALID, "channel already subscribed")
	local l = process.listen("sub.listened")
	ok, err = subscribe("sub.listened", b)
	t.err(ok, err, errors.ALREADY_EXISTS, "topic already subscribed")
	ok, err = subscribe("sub.inbox", process.inbox())
	t.err(ok, err, errors.INVALID, "cannot subscribe a process channel")
	local c = channel.new()
	c:close()
	ok, err = subscribe("sub.closed", c)
	t.err(ok, err, errors.INVALID, "channel is closed")
	t.raises(function() subscribe(nil, a) end, "")
	t.raises(function() subscribe("x", 42) end, "")
	t.raises(function() subscribe("x") end, "")
	t.raises(function() unsubscribe({}) end, "")
	t.eq(unsubscribe(a), true)
	ok, err = unsubscribe(a)
	t.err(ok, err, errors.NOT_FOUND, "channel not found")
	ok, err = unsubscribe(b)
	t.err(ok, err, errors.NOT_FOUND, "channel not found")
	-- a listen channel: unsubscribe closes it, like unlisten
	t.eq(unsubscribe(l), true)
	local v, okr = l:receive()
	t.is_nil(v)
	t.eq(okr, false, "closed")
end

function T.select_with_timer()
	local a = channel.new()
	local timeout = time.after("10ms")
	local r = channel.select{a:case_receive(), timeout:case_receive()}
	t.ok(r.channel == timeout, "timer case fires")
	t.eq(type(r.value), "userdata", "a Time value")
end

function T.channel_identity_in_results()
	local chans = {}
	for i = 1, 5 do chans[i] = channel.new(1) end
	chans[4]:send(4)
	local cases = {}
	for i = 1, 5 do cases[i] = chans[i]:case_receive() end
	local r = channel.select(cases)
	t.ok(r.channel == chans[4], "identity is stable")
	t.eq(r.value, 4)
end

function T.many_producers_one_consumer()
	local ch = channel.new()
	for p = 1, 5 do
		coroutine.spawn(function()
			for i = 1, 20 do ch:send(p * 1000 + i) end
		end)
	end
	local last, total = {}, 0
	for _ = 1, 100 do
		local v = ch:receive()
		local p, i = v // 1000, v % 1000
		t.eq(i, (last[p] or 0) + 1, "per-producer order")
		last[p] = i
		total = total + 1
	end
	t.eq(total, 100)
end

return T
