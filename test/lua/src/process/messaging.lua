-- test.process: sending, routing and message objects (spec 4.3-4.5, 10.1).
local t = require("t")
local time = require("time")

local HOST = "test:procs"
local T = {}

function T.send_returns_true()
	local ok, err = process.send(process.pid(), "note", 1)
	t.eq(ok, true, "send result")
	t.is_nil(err, "send error")
	t.msg(time, "note")
end

function T.send_unknown_name()
	local ok, err = process.send("test.no.such.name", "x", 1)
	t.err(ok, err, errors.NOT_FOUND, "could not resolve: test.no.such.name")
end

function T.send_dead_pid()
	local pid = process.spawn_monitored("test.process:value", HOST, 1)
	t.event(time, process.event.EXIT, pid)
	local ok, err = process.send(pid, "x", 1)
	t.err(ok, err, nil, "not found")
end

function T.send_at_topic_rejected()
	local ok, err = process.send(process.pid(), "@inbox", 1)
	t.err(ok, err, errors.INVALID, "cannot send to @ topics")
	ok, err = process.send(process.pid(), "@pid/events", 1)
	t.err(ok, err, errors.INVALID)
end

function T.message_methods()
	process.send(process.pid(), "greeting", "hello")
	local msg = t.msg(time, "greeting")
	t.eq(msg:topic(), "greeting", "topic")
	t.eq(msg:from(), process.pid(), "from")
	local p = msg:payload()
	t.eq(type(p), "userdata", "one value gives a Payload")
	t.eq(p:data(), "hello", "payload data")
	t.eq(p:unmarshal(), "hello", "unmarshal is data")
	t.eq(tostring(msg), "process.Message{topic=greeting}", "tostring")
end

function T.message_from_other_process()
	local pid = process.spawn("test.process:sender", HOST, process.pid(), "a", 1)
	local msg = t.msg(time, "seq")
	t.eq(msg:from(), pid, "msg:from() is the sender's pid")
end

function T.payload_several_values()
	process.send(process.pid(), "multi", 1, "two", {three = 3})
	local msg = t.msg(time, "multi")
	local ps = msg:payload()
	t.eq(type(ps), "table", "several values give a table of Payloads")
	t.eq(#ps, 3, "payload count")
	t.eq(ps[1]:data(), 1)
	t.eq(ps[2]:data(), "two")
	t.eq(ps[3]:data().three, 3)
end

function T.payload_none()
	process.send(process.pid(), "empty")
	local msg = t.msg(time, "empty")
	t.is_nil(msg:payload(), "no values give nil")
end

function T.payload_nil_value()
	process.send(process.pid(), "nilv", nil)
	local msg = t.msg(time, "nilv")
	local p = msg:payload()
	t.ok(p ~= nil, "one nil value still gives a Payload")
	t.is_nil(p:data(), "its data")
end

function T.order_self_many()
	local n = 2000
	for i = 1, n do
		process.send(process.pid(), "n", i)
	end
	local inbox = process.inbox()
	for i = 1, n do
		local msg = inbox:receive()
		t.eq(msg:payload():data(), i, "message order")
	end
end

-- Many senders, each sending a run: each sender's messages arrive in
-- order and none is lost. A spawn lands on the spawner's shard until that
-- shard's run queue is long, then round robin over the host's shards, so
-- a hundred spawns in one step spread the senders over every shard.
function T.order_per_sender_across_shards()
	local senders, n = 100, 40
	local pids = {}
	for s = 1, senders do
		pids[s] = process.spawn("test.process:sender", HOST, process.pid(), "s" .. s, n)
		t.ok(pids[s], "spawn sender")
	end
	local inbox = process.inbox()
	local last = {}
	local deadline = time.after("20s")
	for _ = 1, senders * n do
		local r = channel.select{inbox:case_receive(), deadline:case_receive()}
		t.ok(r.channel == inbox, "all messages arrive in time")
		local ps = r.value:payload()
		local tag, i = ps[1]:data(), ps[2]:data()
		t.eq(i, (last[tag] or 0) + 1, "next message of sender " .. tag)
		last[tag] = i
		t.eq(r.value:from(), pids[tonumber(tag:sub(2))], "from matches the sender")
	end
	for s = 1, senders do
		t.eq(last["s" .. s], n, "all messages of sender s" .. s)
	end
end

-- Messages sent right after spawn wait in the child's queue, in order,
-- until it subscribes.
function T.queued_before_subscription()
	local pid = process.spawn("test.process:late_reader", HOST, process.pid(), 3)
	process.send(pid, "a", 1)
	process.send(pid, "b", 2)
	process.send(pid, "c", 3)
	local got = t.msg(time, "got"):payload():data()
	t.deq(got, {"a=1", "b=2", "c=3"}, "queued messages in order")
end

function T.queued_before_inbox_self()
	process.send(process.pid(), "early", 1)
	process.send(process.pid(), "early", 2)
	time.sleep("10ms")
	local inbox = process.inbox()
	t.eq(inbox:receive():payload():data(), 1)
	t.eq(inbox:receive():payload():data(), 2)
end

-- A listen subscription takes its topics; the inbox takes the rest.
function T.listen_vs_inbox_routing()
	local pid = process.spawn("test.process:router", HOST, process.pid())
	t.msg(time, "ready")
	process.send(pid, "upd", "u1")
	process.send(pid, "upd.two", "o1")
	process.send(pid, "upd", "u2")
	local got = t.msg(time, "routed"):payload():data()
	table.sort(got)
	t.deq(got, {"inbox:upd.two", "listen:u1", "listen:u2"}, "routing")
end

function T.listen_plain_values()
	local ch = process.listen("vals")
	process.send(process.pid(), "vals", "single")
	t.eq(t.recv(time, ch), "single", "one payload arrives as its value")
	process.send(process.pid(), "vals", 1, 2, 3)
	local v = t.recv(time, ch)
	t.deq(v, {1, 2, 3}, "several payloads arrive as a table")
	process.unlisten(ch)
end

function T.listen_message_objects()
	local ch = process.listen("objs", {message = true})
	process.send(process.pid(), "objs", "x")
	local msg = t.recv(time, ch)
	t.eq(msg:topic(), "objs", "topic")
	t.eq(msg:from(), process.pid(), "from")
	t.eq(msg:payload():data(), "x", "data")
	process.unlisten(ch)
end

function T.listen_queued_before()
	process.send(process.pid(), "later", "v1")
	process.send(process.pid(), "later", "v2")
	time.sleep("10ms")
	local ch = process.listen("later")
	t.eq(t.recv(time, ch), "v1")
	t.eq(t.recv(time, ch), "v2")
	process.unlisten(ch)
end

-- Topics match exactly: a '*' is an ordinary character (the original
-- has no patterns).
function T.listen_exact_topic()
	local ch = process.listen("evt.*")
	process.send(process.pid(), "evt.a", 1)
	process.send(process.pid(), "evt.*", 2)
	t.eq(t.recv(time, ch), 2, "only the exact topic")
	t.eq(t.msg(time, "evt.a"):payload():data(), 1, "evt.a goes to the inbox")
	process.unlisten(ch)
end

function T.listen_twice_same_channel()
	local a = process.listen("twice")
	local b = process.listen("twice", {message = true})
	t.ok(a == b, "one channel per topic")
	t.ok(process.listen("twice.other") ~= a, "another topic, another channel")
	process.send(process.pid(), "twice", "v")
	t.eq(t.recv(time, a), "v", "the first call's options stay")
	process.unlisten(a)
	process.unlisten(process.listen("twice.other"))
end

function T.listen_empty_topic()
	local ch, err = process.listen("")
	t.err(ch, err, errors.INVALID, "topic cannot be empty")
	ch, err = process.listen("@inbox")
	t.err(ch, err, errors.INVALID, "cannot listen to @ topics")
	t.raises(function() process.listen() end, "")
	t.raises(function() process.listen({}) end, "")
end

function T.unlisten_returns_to_inbox()
	local ch = process.listen("moving")
	process.unlisten(ch)
	process.send(process.pid(), "moving", 7)
	t.eq(t.msg(time, "moving"):payload():data(), 7, "after unlisten the inbox gets it")
end

function T.inbox_and_events_are_stable()
	t.ok(process.inbox() == process.inbox(), "same inbox channel")
	t.ok(process.events() == process.events(), "same events channel")
	t.ok(process.inbox() ~= process.events(), "inbox is not events")
end

function T.send_by_pid_string_to_child()
	local pid = process.spawn("test.process:echo", HOST)
	process.send(pid, "ping", {x = 1})
	local msg = t.msg(time, "pong")
	t.eq(msg:from(), pid)
	t.eq(msg:payload():data().x, 1)
	process.send(pid, "stop")
end

function T.inbox_select_timeout()
	local inbox = process.inbox()
	local r = channel.select{inbox:case_receive(), time.after("20ms"):case_receive()}
	t.ok(r.channel ~= inbox, "empty inbox does not fire")
	process.send(process.pid(), "now", 1)
	r = channel.select{inbox:case_receive(), time.after("5s"):case_receive()}
	t.ok(r.channel == inbox, "inbox fires")
	t.eq(r.value:topic(), "now")
end

return T
