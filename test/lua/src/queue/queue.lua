-- Conformance tests for require("queue") (the original's
-- runtime/lua/modules/queue) with the memory driver: publish, consumers
-- calling their function per message, ack/nack, redelivery, concurrency.
local t = require("t")
local queue = require("queue")
local time = require("time")
local T = {}

local function body(v, topic)
	return {reply = process.pid(), value = v, topic = topic}
end

function T.publish_and_consume()
	local ok, err = queue.publish("test.queue:jobs", body({n = 1}), {k = "v", p = 5, b = true})
	t.is_nil(err, "err")
	t.eq(ok, true, "published")
	local d = t.msg(time, "done"):payload():data()
	t.deq(d.data, {n = 1}, "the body was the handler's argument")
	t.eq(d.k, "v", "header()")
	t.is_nil(d.missing, "a missing header is nil")
	t.eq(d.headers.p, 5, "headers() numbers")
	t.eq(d.headers.b, true, "headers() booleans")
	t.eq(d.headers.attempts, 1, "first delivery")
	t.eq(type(d.id), "string", "an id")
end

function T.messages_keep_order_and_ids_differ()
	for i = 1, 5 do queue.publish("test.queue:serial", body(i)) end
	local ids = {}
	for i = 1, 5 do
		local d = t.msg(time, "done"):payload():data()
		t.eq(d.data, i, "in publish order")
		t.is_nil(ids[d.id], "a new id")
		ids[d.id] = true
	end
end

function T.nack_redelivers()
	queue.publish("test.queue:nacks", body(nil))
	local first = t.msg(time, "done"):payload():data()
	t.eq(first.attempts, 1, "first")
	t.eq(first.ok, true, "nack() answered true")
	t.is_nil(first.again, "a second settle fails")
	t.eq(first.kind, errors.INVALID, "with INVALID")
	t.contains(first.again_err, "already settled", "already settled")
	local second = t.msg(time, "done"):payload():data()
	t.eq(second.attempts, 2, "delivered again")
end

function T.handler_error_redelivers()
	queue.publish("test.queue:failing", body(nil))
	for i = 1, 2 do
		local d = t.msg(time, "done"):payload():data()
		t.eq(d.attempts, i, "attempt " .. i)
		t.eq(d.failed, true, "failed")
	end
	local d = t.msg(time, "done"):payload():data()
	t.eq(d.attempts, 3, "acked on the third")
	t.quiet(time, process.inbox(), "100ms", "no fourth delivery")
end

function T.handler_raise_redelivers()
	queue.publish("test.queue:raising", body(nil))
	t.eq(t.msg(time, "done"):payload():data().attempts, 1, "first")
	t.eq(t.msg(time, "done"):payload():data().attempts, 2, "after the raise")
	t.quiet(time, process.inbox(), "100ms", "acked after that")
end

function T.concurrency_runs_calls_at_once()
	local t0 = time.now()
	for i = 1, 3 do queue.publish("test.queue:parallel", body(i)) end
	local sum = 0
	for _ = 1, 3 do sum = sum + t.msg(time, "done"):payload():data().value end
	t.eq(sum, 6, "all three")
	local ms = time.now():sub(t0):milliseconds()
	t.ok(ms < 170, "three 60 ms handlers with concurrency 3 overlap (" .. ms .. " ms)")
end

function T.concurrency_one_is_serial()
	local t0 = time.now()
	for i = 1, 3 do queue.publish("test.queue:one_at_a_time", body(i)) end
	for _ = 1, 3 do t.msg(time, "done") end
	local ms = time.now():sub(t0):milliseconds()
	t.ok(ms >= 175, "three 60 ms handlers one after another (" .. ms .. " ms)")
end

function T.message_is_released_after_the_handler()
	queue.publish("test.queue:keeping", body(nil))
	local d = t.msg(time, "done"):payload():data()
	t.is_nil(d.id, "no id after the handler returned")
	t.eq(d.kind, errors.INVALID, "INVALID")
	t.contains(d.err, "released", "released")
	t.contains(d.ack_err, "released", "ack too")
end

function T.message_outside_a_consumer()
	local msg, err = queue.message()
	t.err(msg, err, errors.INVALID, "no delivery")
	queue.publish("test.queue:nesting", body(nil))
	local d = t.msg(time, "done"):payload():data()
	t.eq(d.has, false, "a nested call has no delivery")
	t.contains(d.err, "no delivery", "its error")
end

function T.publish_errors()
	t.err(nil, select(2, queue.publish("", 1)), errors.INVALID, "queue ID empty")
	t.err(nil, select(2, queue.publish("test.queue:jobs")), errors.INVALID, "data required")
	t.err(nil, select(2, queue.publish("test.queue:jobs", nil)), errors.INVALID, "data required")
	t.err(nil, select(2, queue.publish("test.queue:missing", 1)), errors.INTERNAL, "queue not found")
	t.err(nil, select(2, queue.publish("test.queue:elsewhere", 1)), errors.INTERNAL, "not supported")
	t.err(nil, select(2, queue.publish("test.queue:jobs", 1, "h")), errors.INVALID, "headers")
	t.err(nil, select(2, queue.publish("test.queue:jobs", 1, {k = {}})), errors.INVALID, "headers")
	t.err(nil, select(2, queue.publish("test.queue:jobs", 1, {[1] = "x"})), errors.INVALID, "headers")
	local cyc = {}
	cyc.c = cyc
	t.err(nil, select(2, queue.publish("test.queue:jobs", cyc)), errors.INVALID, "cannot be passed")
	t.raises(function() queue.publish(nil, 1) end, "string expected")
end

function T.info_counts()
	queue.publish("test.queue:idle", 1)
	queue.publish("test.queue:idle", 2)
	local info, err = queue.info("test.queue:idle")
	t.is_nil(err, "err")
	t.ok(info.message_count >= 2, "waiting messages")
	t.eq(info.consumer_count, 0, "no consumer")
	t.eq(queue.info("test.queue:jobs").consumer_count, 1, "one consumer")
	t.err(nil, select(2, queue.info("test.queue:missing")), errors.INTERNAL, "not found")
end

return T
