-- test.json: json.encode / json.decode edge cases (spec 8).
local t = require("t")
local json = require("json")

local T = {}

function T.encode_empty_table_is_array()
	t.eq(json.encode({}), "[]")
end

function T.encode_array()
	t.eq(json.encode({1, 2, 3}), "[1,2,3]")
	t.eq(json.encode({"a", true, false}), '["a",true,false]')
end

function T.encode_object_sorted()
	t.eq(json.encode({b = 2, a = 1, c = "x"}), '{"a":1,"b":2,"c":"x"}')
end

function T.encode_nested()
	t.eq(json.encode({list = {1, {x = {}}}, obj = {k = "v"}}),
		'{"list":[1,{"x":[]}],"obj":{"k":"v"}}')
end

function T.encode_scalars()
	t.eq(json.encode(nil), "null")
	t.eq(json.encode(true), "true")
	t.eq(json.encode(12), "12")
	t.eq(json.encode(1.5), "1.5")
	t.eq(json.encode(-3), "-3")
	t.eq(json.encode("s"), '"s"')
end

function T.encode_string_escapes()
	t.eq(json.encode('q"b\\n\n\t'), '"q\\"b\\\\n\\n\\t"')
	t.eq(json.encode("\1"), '"\\u0001"')
	t.eq(json.encode("é"), '"é"', "UTF-8 kept as is")
end

function T.encode_non_finite_is_null()
	t.eq(json.encode(0/0), "null")
	t.eq(json.encode(math.huge), "null")
	t.eq(json.encode({-math.huge}), "[null]")
end

function T.encode_mixed_keys_fails()
	local s, err = json.encode({1, 2, x = 3})
	t.err(s, err, errors.INTERNAL)
end

function T.encode_sparse_array_fails()
	local s, err = json.encode({[1] = 1, [3] = 3})
	t.err(s, err, errors.INTERNAL)
end

function T.encode_cycle_fails()
	local a = {}
	a.self = a
	local s, err = json.encode(a)
	t.err(s, err, errors.INTERNAL)
end

function T.encode_too_deep_fails()
	local root = {}
	local cur = root
	for _ = 1, 200 do
		cur[1] = {}
		cur = cur[1]
	end
	local s, err = json.encode(root)
	t.err(s, err, errors.INTERNAL)
end

function T.encode_depth_128_ok()
	local root = {}
	local cur = root
	for _ = 1, 100 do
		cur[1] = {}
		cur = cur[1]
	end
	t.ok(json.encode(root), "100 levels encode")
end

function T.decode_object()
	local v, err = json.decode('{"a":1,"b":[true,false],"c":{"d":"e"}}')
	t.is_nil(err)
	t.eq(v.a, 1)
	t.eq(v.b[1], true)
	t.eq(v.b[2], false)
	t.eq(v.c.d, "e")
end

function T.decode_array_one_based()
	local v = json.decode('[10,20,30]')
	t.eq(v[1], 10)
	t.eq(v[3], 30)
	t.eq(#v, 3)
end

function T.decode_null()
	t.is_nil(json.decode("null"))
	local v = json.decode('{"a":null,"b":1}')
	t.is_nil(v.a, "null field")
	t.eq(v.b, 1)
end

function T.decode_numbers()
	t.eq(math.type(json.decode("7")), "integer", "integral numbers are integers")
	t.eq(json.decode("1.25"), 1.25)
	t.eq(json.decode("-1e3"), -1000)
end

function T.decode_strings()
	t.eq(json.decode('"a\\u00e9\\n"'), "aé\n")
	t.eq(json.decode('"\\ud83d\\ude00"'), "\u{1F600}", "surrogate pairs")
end

function T.decode_empty_string_invalid()
	local v, err = json.decode("")
	t.err(v, err, errors.INVALID)
end

function T.decode_non_string_invalid()
	local v, err = json.decode(42)
	t.err(v, err, errors.INVALID)
	v, err = json.decode({})
	t.err(v, err, errors.INVALID)
end

function T.decode_bad_json_internal()
	local v, err = json.decode("{bad")
	t.err(v, err, errors.INTERNAL)
	v, err = json.decode("[1,2")
	t.err(v, err, errors.INTERNAL)
	v, err = json.decode('{"a":1} trailing')
	t.err(v, err, errors.INTERNAL)
end

function T.roundtrip()
	local src = {name = "wippy", tags = {"a", "b"}, n = 3, ok = true, nested = {x = 1.5}}
	local back = json.decode(json.encode(src))
	t.deq(back, src, "roundtrip")
end

return T
