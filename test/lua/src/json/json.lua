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

-- encode returns (string, nil), and (nil, err) on failure, as the original.
function T.encode_returns_two_values()
	t.eq(select("#", json.encode(1)), 2, "two results")
	local s, err = json.encode({a = 1})
	t.eq(s, '{"a":1}')
	t.is_nil(err, "no error")
	t.eq(select("#", json.encode({[1] = 1, [3] = 3})), 2, "two results on failure")
	local v, derr = json.decode("[1]")
	t.eq(v[1], 1)
	t.is_nil(derr)
	t.eq(select("#", json.decode("[1]")), 2, "decode gives two results too")
end

-- Functions, threads and userdata that are not errors have no JSON form;
-- the original writes null for them. Errors are their Go Error() text.
function T.encode_functions_and_userdata_are_null()
	t.eq(json.encode(print), "null", "a function")
	t.eq(json.encode(coroutine.create(print)), "null", "a thread")
	t.eq(json.encode({f = print, n = 1}), '{"f":null,"n":1}')
	t.eq(json.encode({1, print, 3}), "[1,null,3]")
	t.eq(json.encode({e = errors.new("boom")}), '{"e":"boom"}')
	t.eq(json.encode(errors.wrap(errors.new("boom"), "while x")), '"while x: boom"',
		"a wrapped error with its context")
end

-- Number forms: inside tables integral floats are integers and nothing
-- uses an exponent; at the top level Go's encoding/json rules apply.
function T.encode_float_forms()
	t.eq(json.encode({3.0}), "[3]", "integral float in a table")
	t.eq(json.encode(3.0), "3", "integral float at the top")
	t.eq(json.encode({1e20}), "[100000000000000000000]")
	t.eq(json.encode(1e20), "100000000000000000000")
	t.eq(json.encode(1e21), "1e+21", "top level switches to an exponent at 1e21")
	t.eq(json.encode({1e21}), "[1000000000000000000000]", "a table never does")
	t.eq(json.encode(0.1), "0.1")
	t.eq(json.encode({0.1}), "[0.1]")
	t.eq(json.encode(1/3), "0.3333333333333333", "shortest round-trip digits")
	t.eq(json.encode({1/3}), "[0.3333333333333333]")
	t.eq(json.encode(1e-7), "1e-7", "small values at the top")
	t.eq(json.encode({1e-7}), "[0.0000001]", "and in a table")
	t.eq(json.encode(0.000001), "0.000001", "1e-6 is still plain")
	t.eq(json.encode(-2.5e-8), "-2.5e-8")
	t.eq(json.encode(-0.0), "-0", "negative zero keeps its sign at the top")
	t.eq(json.encode({-0.0}), "[0]", "but is the integer 0 in a table")
	t.eq(json.encode({x = 1.5e300}), '{"x":15' .. string.rep("0", 299) .. "}")
	t.eq(json.encode({2^53 + 0.0}), "[9007199254740992]")
	t.eq(json.encode(math.maxinteger), "9223372036854775807", "integers stay exact")
end

-- An empty table is [] unless it ever held a non-array key: the original
-- keeps the emptied key map and writes {}.
function T.encode_emptied_table_is_object()
	local o = {a = 1}
	o.a = nil
	t.eq(json.encode(o), "{}", "emptied of its string keys")
	t.eq(json.encode({}), "[]", "never had keys")
	local a = {1, 2}
	a[1], a[2] = nil, nil
	t.eq(json.encode(a), "[]", "an emptied array stays an array")
	local n = {x = {}}
	n.x.k = true
	n.x.k = nil
	t.eq(json.encode(n), '{"x":{}}', "nested")
end

function T.encode_error_is_internal_with_context()
	local s, err = json.encode({[1] = 1, [3] = 3})
	t.err(s, err, errors.INTERNAL)
	t.eq(err:message(), "cannot encode sparse array: non-contiguous numeric keys found")
	t.eq(err:retryable(), false)
	t.eq(errors.wrap(err, "outer"):message(),
		"encode failed: cannot encode sparse array: non-contiguous numeric keys found",
		"the context is the original's")
	local _, e2 = json.encode({1, x = 2})
	t.eq(e2:message(), "cannot encode mixed-key table: table has both numeric and non-numeric keys")
	local c = {}
	c.c = c
	local _, e3 = json.encode(c)
	t.eq(e3:message(), "cannot encode recursively nested tables to JSON")
end

function T.decode_error_messages()
	local _, e1 = json.decode(5)
	t.eq(e1:message(), "string expected")
	t.eq(e1:kind(), errors.INVALID)
	local _, e2 = json.decode("")
	t.eq(e2:message(), "empty string is not valid JSON")
	local _, e3 = json.decode("[1,")
	t.eq(e3:kind(), errors.INTERNAL)
	t.eq(e3:retryable(), false)
	t.contains(errors.wrap(e3, "x"):message(), "decode failed: ")
end

return T
