-- test.process: messages are deep copies (spec 10.2).
local t = require("t")
local time = require("time")

local T = {}

local function roundtrip(...)
	process.send(process.pid(), "copy", ...)
	return t.msg(time, "copy")
end

function T.mutation_after_send()
	local v = {a = 1, nested = {b = 2}}
	process.send(process.pid(), "copy", v)
	v.a = 100
	v.nested.b = 200
	v.added = true
	local got = t.msg(time, "copy"):payload():data()
	t.eq(got.a, 1, "top level copied at send")
	t.eq(got.nested.b, 2, "nested copied at send")
	t.is_nil(got.added)
end

function T.receiver_gets_its_own_table()
	local v = {1, 2, 3}
	local got = roundtrip(v):payload():data()
	t.ok(got ~= v, "a new table")
	got[1] = 99
	t.eq(v[1], 1, "sender's table untouched")
end

function T.deep_nesting()
	local root = {}
	local cur = root
	for i = 1, 50 do
		cur.level = i
		cur.next = {}
		cur = cur.next
	end
	cur.leaf = "bottom"
	local got = roundtrip(root):payload():data()
	for i = 1, 50 do
		t.eq(got.level, i, "level")
		got = got.next
	end
	t.eq(got.leaf, "bottom")
end

function T.scalar_types()
	local ps = roundtrip(42, 1.5, -7, "s\0bin", true, false, 2^53):payload()
	t.eq(ps[1]:data(), 42)
	t.eq(math.type(ps[1]:data()), "integer", "integers stay integers")
	t.eq(ps[2]:data(), 1.5)
	t.eq(math.type(ps[2]:data()), "float", "floats stay floats")
	t.eq(ps[3]:data(), -7)
	t.eq(ps[4]:data(), "s\0bin", "binary-safe strings")
	t.eq(ps[5]:data(), true)
	t.eq(ps[6]:data(), false)
	t.eq(ps[7]:data(), 2^53)
end

function T.mixed_keys()
	local v = {10, 20, x = "y", [5] = "five", [true] = "t"}
	local got = roundtrip(v):payload():data()
	t.eq(got[1], 10)
	t.eq(got[2], 20)
	t.eq(got.x, "y")
	t.eq(got[5], "five")
	t.eq(got[true], "t")
end

function T.userdata_becomes_nil()
	local ch = channel.new()
	local got = roundtrip({ch = ch, keep = 1}):payload():data()
	t.is_nil(got.ch, "a channel does not cross processes")
	t.eq(got.keep, 1)
end

function T.userdata_value_becomes_nil()
	local ps = roundtrip(1, channel.new(), 3):payload()
	t.eq(#ps, 3, "three values sent")
	t.eq(ps[1]:data(), 1)
	t.is_nil(ps[2]:data(), "the channel arrives as nil")
	t.eq(ps[3]:data(), 3)
end

function T.functions_become_nil()
	local got = roundtrip({f = function() end, k = "v"}):payload():data()
	t.is_nil(got.f, "functions do not cross processes")
	t.eq(got.k, "v")
end

function T.error_objects_survive()
	local e = errors.new({message = "sent error", kind = errors.NOT_FOUND,
		retryable = true, details = {id = 7}})
	local got = roundtrip(e):payload():data()
	t.eq(type(got), "userdata", "still an error object")
	t.eq(got:message(), "sent error")
	t.eq(got:kind(), errors.NOT_FOUND)
	t.eq(got:retryable(), true)
	t.eq(got:details().id, 7)
	t.ok(errors.is(got, errors.NOT_FOUND), "errors.is on the copy")
end

function T.error_nested_in_table()
	local got = roundtrip({err = errors.new("inner"), n = 1}):payload():data()
	t.eq(got.err:message(), "inner")
	t.eq(got.n, 1)
end

function T.wrapped_error_survives()
	local inner = errors.new({message = "root", kind = errors.TIMEOUT})
	local got = roundtrip(errors.wrap(inner, "outer")):payload():data()
	t.eq(got:message(), "root", "a wrap keeps the inner message")
	t.ok(errors.is(got, errors.TIMEOUT), "kind of the wrapped chain")
	t.contains(got:stack(), "outer\n", "the wrap context survives the copy")
	t.eq(errors.wrap(got, "again"):message(), "outer: root", "context in a rewrap")
	t.eq(errors.unwrap(got):message(), "root", "the cause survives")
end

function T.spawn_args_are_copies()
	local arg = {v = 1}
	local pid = process.spawn_monitored("test.process:value", "test:procs", arg)
	arg.v = 2
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value.v, 1, "the child got the value at spawn time")
end

function T.exit_value_error_in_table()
	local pid = process.spawn_monitored("test.process:value", "test:procs",
		{e = errors.new({message = "carried", kind = errors.INVALID})})
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value.e:kind(), errors.INVALID, "error inside an exit value")
end

function T.cyclic_table_is_refused()
	local a = {}
	a.self = a
	local ok, err = process.send(process.pid(), "copy", a)
	t.err(ok, err, errors.INVALID, "cyclic")
end

function T.shared_subtable_copied()
	local shared = {v = 1}
	local got = roundtrip({a = shared, b = shared}):payload():data()
	t.eq(got.a.v, 1)
	t.eq(got.b.v, 1)
end

function T.big_payload()
	local parts = {}
	for i = 1, 10000 do parts[i] = i end
	local s = string.rep("x", 1 << 20)
	local ps = roundtrip(parts, s):payload()
	local got = ps[1]:data()
	t.eq(#got, 10000)
	t.eq(got[10000], 10000)
	t.eq(#ps[2]:data(), 1 << 20)
end

return T
