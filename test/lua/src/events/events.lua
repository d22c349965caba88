-- test.events: events.subscribe / events.send. Events are tables
-- {system, kind, path, data}; subscriptions match system and kind with
-- the bus's wildcard patterns; close stops delivery and closes the
-- channel; bad arguments are INVALID errors.
local t = require("t")
local events = require("events")

local T = {}

function T.send_receive()
	local time = require("time")
	local sub, err = events.subscribe("test.events.orders")
	t.is_nil(err)
	local ch = sub:channel()
	t.eq(sub:channel(), ch, "the same channel every time")
	local ok, serr = events.send("test.events.orders", "order.created", "/orders/1",
		{user = 7, items = {"a", "b"}, amount = 9.5})
	t.eq(ok, true)
	t.is_nil(serr)
	local ev = t.recv(time, ch)
	t.eq(ev.system, "test.events.orders")
	t.eq(ev.kind, "order.created")
	t.eq(ev.path, "/orders/1")
	t.eq(ev.data.user, 7)
	t.eq(ev.data.items[2], "b")
	t.eq(ev.data.amount, 9.5)
	events.send("test.events.orders", "order.paid", "/orders/1")
	ev = t.recv(time, ch)
	t.eq(ev.kind, "order.paid")
	t.is_nil(ev.data, "no data")
	events.send("test.events.other", "order.paid", "/x")
	t.quiet(time, ch, "30ms", "another system")
	sub:close()
end

function T.patterns()
	local time = require("time")
	local star = events.subscribe("test.events.*")
	local deep = events.subscribe("test.**")
	local kinded = events.subscribe("test.events.p", "user.(created|deleted)")
	events.send("test.events.p", "user.created", "/u/1")
	events.send("test.events.p", "user.updated", "/u/1")
	events.send("test.events.p.q", "user.deleted", "/u/2")
	t.eq(t.recv(time, star:channel()).kind, "user.created")
	t.eq(t.recv(time, star:channel()).kind, "user.updated")
	t.quiet(time, star:channel(), "20ms", "* is one segment")
	t.eq(t.recv(time, deep:channel()).kind, "user.created")
	t.eq(t.recv(time, deep:channel()).kind, "user.updated")
	t.eq(t.recv(time, deep:channel()).path, "/u/2", "** spans segments")
	t.eq(t.recv(time, kinded:channel()).kind, "user.created")
	t.quiet(time, kinded:channel(), "20ms", "kind filter")
	star:close() deep:close() kinded:close()
end

function T.bad_arguments()
	local sub, err = events.subscribe("")
	t.err(sub, err, errors.INVALID, "system")
	sub, err = events.subscribe()
	t.err(sub, err, errors.INVALID)
	local ok, serr = events.send("", "k", "/p")
	t.err(ok, serr, errors.INVALID, "system")
	ok, serr = events.send("s", "", "/p")
	t.err(ok, serr, errors.INVALID, "kind")
	ok, serr = events.send("s", "k", "")
	t.err(ok, serr, errors.INVALID, "path")
	local deep = {}
	for i = 1, 100 do deep = {deep} end
	ok, serr = events.send("s", "k", "/p", deep)
	t.err(ok, serr, errors.INVALID, "data")
	t.raises(function() events.send({}, "k", "/p") end, "string expected")
	t.raises(function() events.subscribe("s", {}) end, "string expected")
	local s = events.subscribe("s")
	t.raises(function() s.close({}) end, "events.Subscription expected")
	s:close()
end

function T.close()
	local time = require("time")
	local sub = events.subscribe("test.events.c")
	local ch = sub:channel()
	events.send("test.events.c", "k", "/queued")
	t.eq(sub:close(), true)
	t.eq(sub:close(), true, "idempotent")
	local v, ok = ch:receive()
	t.is_nil(v)
	t.eq(ok, false, "closed channel")
	events.send("test.events.c", "k", "/after")
	-- neither the queued nor the later event reaches the inbox
	t.quiet(time, process.inbox(), "30ms", "inbox")
	t.eq(tostring(sub), "events.Subscription(closed)")
end

function T.across_processes()
	local time = require("time")
	local sub = events.subscribe("test.events.x", "ping")
	local pid = process.spawn("test.events:sender", "test:procs", "test.events.x", "ping", "/from/child", {n = 1})
	t.ok(pid, "spawned")
	local ev = t.recv(time, sub:channel())
	t.eq(ev.path, "/from/child")
	t.eq(ev.data.n, 1)
	sub:close()
end

return T
