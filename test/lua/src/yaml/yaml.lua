-- test.yaml: require("yaml"), the original runtime's API (encode, decode)
-- on libfyaml: scalars by the YAML 1.2 core schema, nested structures,
-- arrays vs maps as the original converts tables, round trips, and the
-- errors: INVALID for bad arguments, INTERNAL for malformed YAML (with
-- line:col) and for what YAML cannot hold (cycles, functions).
local t = require("t")
local yaml = require("yaml")

local T = {}

function T.decode_scalars()
	local v, err = yaml.decode([[
name: test
value: 123
neg: -7
hex: 0x1f
oct: 0o17
pi: 3.5
exp: 1e3
yes_: true
no_: False
nothing: null
tilde: ~
quoted: "123"
single: 'true'
inf: .inf
text: hello world
]])
	t.is_nil(err)
	t.eq(v.name, "test")
	t.eq(v.value, 123)
	t.eq(math.type(v.value), "integer")
	t.eq(v.neg, -7)
	t.eq(v.hex, 31)
	t.eq(v.oct, 15)
	t.eq(v.pi, 3.5)
	t.eq(v.exp, 1000.0)
	t.eq(v.yes_, true)
	t.eq(v.no_, false)
	t.is_nil(v.nothing)
	t.is_nil(v.tilde)
	t.eq(v.quoted, "123", "a quoted scalar stays a string")
	t.eq(v.single, "true")
	t.eq(v.inf, math.huge)
	t.eq(v.text, "hello world")
end

function T.decode_nested()
	local v, err = yaml.decode([[
parent:
  child:
    value: 123
list:
  - a
  - {k: v}
  - [1, 2]
anchors:
  base: &b {x: 1}
  copy: *b
block: |
  line one
  line two
]])
	t.is_nil(err)
	t.eq(v.parent.child.value, 123)
	t.eq(#v.list, 3)
	t.eq(v.list[1], "a")
	t.eq(v.list[2].k, "v")
	t.deq(v.list[3], {1, 2})
	t.eq(v.anchors.copy.x, 1, "aliases are resolved")
	t.eq(v.block, "line one\nline two\n")
	-- A top-level sequence and a top-level scalar.
	t.deq(yaml.decode("- 1\n- 2\n- 3\n"), {1, 2, 3})
	t.eq(yaml.decode("just text"), "just text")
	-- Only the first document is read; a document of comments is nil.
	t.eq(yaml.decode("a: 1\n---\na: 2\n").a, 1)
	local none, err2 = yaml.decode("# nothing here\n")
	t.is_nil(none)
	t.is_nil(err2)
end

function T.decode_errors()
	local function bad(src, where)
		local v, err = yaml.decode(src)
		local e = t.err(v, err, errors.INTERNAL)
		t.eq(e:retryable(), false)
		t.match(e:message(), "^" .. where .. ": ", "position of " .. src)
		return e
	end
	bad("key: [1, 2", "%d+:%d+")
	bad("a: 1\nb: c: d\n", "2:%d+")
	bad("a:\n  - x\n - y\n", "3:%d+")
	bad("x: *missing\n", "1:%d+")
	bad("{a: 1, a: 2}", "1:%d+")
	local e = bad("a: 'open\n", "%d+:%d+")
	t.contains(tostring(e), "error")
	-- A null key has no Lua form: INTERNAL, without a position.
	local v, err = yaml.decode("? ~\n: 1\n")
	t.err(v, err, errors.INTERNAL, "mapping key cannot be a Lua key")
	v, err = yaml.decode(123)
	t.err(v, err, errors.INVALID, "string expected")
	v, err = yaml.decode("")
	t.err(v, err, errors.INVALID, "input cannot be empty")
	v, err = yaml.decode(nil)
	t.err(v, err, errors.INVALID, "string expected")
end

function T.encode_maps_and_arrays()
	local s, err = yaml.encode({name = "test", value = 123})
	t.is_nil(err)
	t.eq(s, "name: test\nvalue: 123\n", "keys sorted, as Go writes maps")
	t.eq(yaml.encode({1, 2, 3}), "- 1\n- 2\n- 3\n")
	t.eq(yaml.encode({}), "{}\n", "the empty table is a mapping")
	-- A table with #t > 0 is a sequence of t[1..#t]; other keys are dropped,
	-- as the original's conversion drops them.
	t.eq(yaml.encode({"a", "b", x = 1}), "- a\n- b\n")
	local nested = yaml.encode({
		server = {port = 8080, hosts = {"a", "b"}, tls = {enabled = false}},
		empty = {},
	})
	t.eq(nested, "empty: {}\nserver:\n    hosts:\n        - a\n        - b\n"
		.. "    port: 8080\n    tls:\n        enabled: false\n")
end

function T.encode_scalars_roundtrip()
	local v = {
		s = "plain", num_str = "123", bool_str = "true", null_str = "null",
		colon = "a: b", hash = "x #y", lead = " pad", empty = "",
		multi = "line1\nline2", quote = 'say "hi"', int = 42, float = 2.5,
		neg = -3, yes = true, no = false, big = 9007199254740993,
		unicode = "héllo ✓", list = {1, "two", 3.25, false},
	}
	local s, err = yaml.encode(v)
	t.is_nil(err)
	local back, err2 = yaml.decode(s)
	t.is_nil(err2)
	t.deq(back, v, "round trip")
	t.eq(math.type(back.int), "integer")
	t.eq(math.type(back.float), "float")
	t.eq(back.num_str, "123", "a string that looks like a number stays one")
	t.eq(back.big, 9007199254740993, "64-bit integers survive")
end

function T.encode_refuses()
	local function refused(v, text)
		local s, err = yaml.encode(v)
		local e = t.err(s, err, errors.INTERNAL)
		t.contains(e:message(), text)
		t.eq(e:retryable(), false)
	end
	local cyc = {name = "x"}
	cyc.self = cyc
	refused(cyc, "cycle at self")
	local deep = {a = {b = {}}}
	deep.a.b.back = deep.a
	refused(deep, "cycle at a.b.back")
	local arr = {1, 2}
	arr[3] = arr
	refused(arr, "cycle at 3")
	refused({f = print}, "cannot encode function at f")
	refused({list = {1, function() end}}, "cannot encode function at list.2")
	refused({co = coroutine.create(function() end)}, "cannot encode thread at co")
	-- A table shared by two branches is not a cycle: it is written twice.
	local shared = {k = 1}
	local s, err = yaml.encode({a = shared, b = shared})
	t.is_nil(err)
	t.eq(s, "a:\n    k: 1\nb:\n    k: 1\n")
	-- An error object is written as its message.
	t.eq(yaml.encode({e = errors.new("boom")}), "e: boom\n")
	-- Not a table: INVALID.
	for _, bad in ipairs({123, "text", true}) do
		local r, e2 = yaml.encode(bad)
		t.err(r, e2, errors.INVALID, "table expected")
	end
	local r, e3 = yaml.encode()
	t.err(r, e3, errors.INVALID, "table expected")
end

function T.encode_depth_limit()
	local root = {}
	local cur = root
	for _ = 1, 200 do
		cur.next = {}
		cur = cur.next
	end
	local s, err = yaml.encode(root)
	t.err(s, err, errors.INTERNAL, "nested deeper than")
end

return T
