-- test.payload: the payload global and Payload objects
-- (rt:runtime/lua/modules/payload/spec.md, tests/app/src/test/payload/).
local t = require("t")
local time = require("time")

local HOST = "test:procs"
local F = payload.format
local T = {}

local function text(p)
	local s, err = p:data()
	t.is_nil(err, "data error")
	return s
end

function T.format_constants()
	t.eq(F.JSON, "json/plain", "JSON")
	t.eq(F.YAML, "yaml/plain", "YAML")
	t.eq(F.STRING, "text/plain", "STRING")
	t.eq(F.BYTES, "application/octet-stream", "BYTES")
	t.eq(F.MSGPACK, "application/msgpack", "MSGPACK")
	t.eq(F.LUA, "lua/any", "LUA")
	t.eq(F.GOLANG, "golang/any", "GOLANG")
	t.eq(F.ERROR, "golang/error", "ERROR")
end

function T.new_is_lua_format()
	for _, v in ipairs({"hello", 123, 1.5, true, false, {key = "value"}, {1, 2, 3}}) do
		t.eq(payload.new(v):get_format(), F.LUA, "format of " .. tostring(v))
	end
	t.eq(payload.new(nil):get_format(), F.LUA, "format of nil")
	t.eq(payload.new():get_format(), F.LUA, "format of nothing")
end

function T.new_error_is_error_format()
	local e = errors.new("test error")
	local p = payload.new(e)
	t.eq(p:get_format(), F.ERROR, "error format")
	-- There is no transcoder from golang/error to Lua, in the original too.
	local v, err = p:data()
	t.err(v, err, errors.INTERNAL, "no transcoding path found")
end

function T.data_returns_the_value()
	local tbl = {key = "value", num = 42}
	local p = payload.new(tbl)
	t.eq(p:data(), tbl, "same table, not a copy")
	t.eq(p:unmarshal(), tbl, "unmarshal is data")
	t.eq(payload.new("hello world"):data(), "hello world", "string")
	t.eq(payload.new(123.456):data(), 123.456, "number")
	t.eq(payload.new(true):data(), true, "boolean")
	t.is_nil(payload.new(nil):data(), "nil")
	local arr = payload.new({1, 2, 3}):data()
	t.eq(#arr, 3, "array length")
	t.eq(arr[3], 3, "array[3]")
end

function T.tostring_names_format()
	t.eq(tostring(payload.new("hello")), "payload{format=lua/any}", "lua")
	t.eq(tostring((payload.new({a = 1}):transcode(F.JSON))), "payload{format=json/plain}", "json")
end

function T.transcode_json()
	local p = payload.new({name = "test", values = {1, 2, 3}})
	local j, err = p:transcode(F.JSON)
	t.is_nil(err, "error")
	t.eq(j:get_format(), F.JSON, "format")
	-- Every edge of the original's graph goes through Lua: JSON to STRING
	-- decodes the JSON and prints the value Go's way.
	t.eq(text(j:transcode(F.STRING)), "map[name:test values:[1 2 3]]", "JSON to STRING")
	local back = j:data()
	t.eq(back.name, "test", "decoded name")
	t.eq(back.values[3], 3, "decoded values")
	t.eq(j:transcode(F.LUA):get_format(), F.LUA, "back to lua")
end

function T.transcode_string_is_go_format()
	local function str(v) return text(payload.new(v):transcode(F.STRING)) end
	t.eq(str("hi"), "hi", "string")
	t.eq(str(42), "42", "integer")
	t.eq(str(1.5), "1.5", "float")
	t.eq(str(3.0), "3", "whole float")
	t.eq(str(1e6), "1e+06", "exponent form")
	t.eq(str(true), "true", "boolean")
	t.eq(str(nil), "", "nil")
	t.eq(str({1, 2, 3}), "[1 2 3]", "slice")
	t.eq(str({b = 2, a = "x"}), "map[a:x b:2]", "map, sorted keys")
	t.eq(str({}), "map[]", "empty table")
	t.eq(str({a = {1, {c = true}}}), "map[a:[1 map[c:true]]]", "nested")
	local s = payload.new("text"):transcode(F.STRING)
	t.eq(s:get_format(), F.STRING, "format")
	t.eq(s:data(), "text", "STRING to Lua is the string")
end

function T.transcode_bytes()
	local b = payload.new("\0\1\2"):transcode(F.BYTES)
	t.eq(b:get_format(), F.BYTES, "format")
	t.eq(b:data(), "\0\1\2", "bytes kept")
	t.eq(text(payload.new(7):transcode(F.BYTES)), "7", "number")
end

function T.transcode_yaml()
	local p = payload.new({name = "test", n = 3, s = "123", list = {1, "two"}, nested = {ok = true}})
	local y, err = p:transcode(F.YAML)
	t.is_nil(err, "error")
	t.eq(y:get_format(), F.YAML, "format")
	local back = y:data()
	t.eq(back.name, "test", "name")
	t.eq(back.n, 3, "number")
	t.eq(back.s, "123", "a numeric string stays a string")
	t.eq(back.list[2], "two", "list")
	t.eq(back.nested.ok, true, "nested")
	t.eq(text(payload.new("plain"):transcode(F.YAML)), "plain", "scalar document")
	t.eq(text(payload.new("123"):transcode(F.YAML)), "123", "numeric string scalar")
end

function T.yaml_from_text()
	local v = payload.new("a: 1\nb: [x, 2.5, ~, true]\nc: 'quoted'\nd: &anc {k: v}\ne: *anc\n", F.YAML):data()
	t.eq(v.a, 1, "integer")
	t.eq(v.b[1], "x", "string")
	t.eq(v.b[2], 2.5, "float")
	t.is_nil(v.b[3], "null")
	t.eq(v.b[4], true, "boolean")
	t.eq(v.c, "quoted", "quoted scalar")
	t.eq(v.e.k, "v", "alias resolved")
end

function T.transcode_msgpack()
	local src = {name = "test", list = {1, -5, 300, 70000, 2^40, 1.25, "s", false}, map = {x = {}}}
	local m, err = payload.new(src):transcode(F.MSGPACK)
	t.is_nil(err, "error")
	t.eq(m:get_format(), F.MSGPACK, "format")
	local back = m:data()
	t.eq(back.name, "test", "name")
	t.deq(back.list, src.list, "list")
	t.eq(type(back.map.x), "table", "nested empty table")
	t.eq(payload.new("\x82\xa1a\x01\xa1b\xc3", F.MSGPACK):data().b, true, "decoded map")
end

function T.transcode_between_byte_formats()
	local y = payload.new('{"a":[1,2]}', F.JSON):transcode(F.YAML)
	t.eq(y:get_format(), F.YAML, "format")
	t.eq(y:data().a[2], 2, "JSON to YAML through Lua")
	local m = y:transcode(F.MSGPACK)
	t.eq(m:data().a[1], 1, "YAML to MSGPACK")
end

function T.transcode_same_format()
	local tbl = {1}
	local p, err = payload.new(tbl):transcode(F.LUA)
	t.is_nil(err, "error")
	t.eq(p:data(), tbl, "same value")
end

-- What json.encode refuses (a sparse array, a cycle) fails the transcode;
-- functions are the json module's business (the original writes null).
function T.unencodable_to_json_fails()
	local p, err = payload.new({[1] = 1, [3] = 3}):transcode(F.JSON)
	t.err(p, err, errors.INTERNAL, "error transcoding payload: failed to encode to JSON")
	t.eq(err:retryable(), false, "not retryable")
	local cyc = {}
	cyc[1] = cyc
	p, err = payload.new(cyc):transcode(F.JSON)
	t.err(p, err, errors.INTERNAL, "failed to encode to JSON")
end

function T.bad_json_to_lua_fails()
	local v, err = payload.new("not json", F.JSON):data()
	t.err(v, err, errors.INTERNAL, "failed to decode JSON")
	local p
	p, err = payload.new("{", F.JSON):transcode(F.LUA)
	t.err(p, err, errors.INTERNAL, "failed to decode JSON")
	v, err = payload.new("{", F.JSON):unmarshal()
	t.err(v, err, errors.INTERNAL, "failed to decode JSON")
end

function T.bad_yaml_fails()
	local v, err = payload.new("a: [1, 2\n", F.YAML):data()
	t.err(v, err, errors.INTERNAL, "failed to unmarshal YAML")
	v, err = payload.new("? [a]\n: 1\n", F.YAML):data()
	t.err(v, err, errors.INTERNAL, "mapping key is not a scalar")
	local deep = {}
	local cur = deep
	for _ = 1, 200 do cur.x = {}; cur = cur.x end
	local p
	p, err = payload.new(deep):transcode(F.YAML)
	t.err(p, err, errors.INTERNAL, "nested too deep")
	local cyc = {}
	cyc.self = cyc
	p, err = payload.new(cyc):transcode(F.YAML)
	t.err(p, err, errors.INTERNAL, "nested too deep")
end

function T.bad_msgpack_fails()
	local cases = {
		["\x93\x01\x02"] = "truncated",
		["\x01\x02"] = "trailing bytes",
		["\xc1"] = "0xc1",
		["\xd4\x01\x00"] = "ext types",
		["\xdd\xff\xff\xff\xff"] = "truncated",
		["\xdb\xff\xff\xff\xff"] = "truncated",
		["\x81\xc0\x01"] = "map key",
		[""] = "truncated",
	}
	for bytes, want in pairs(cases) do
		local v, err = payload.new(bytes, F.MSGPACK):data()
		t.err(v, err, errors.INTERNAL, want)
	end
end

function T.no_path_fails()
	local p = payload.new({a = 1})
	for _, to in ipairs({F.GOLANG, F.ERROR, "no/such"}) do
		local q, err = p:transcode(to)
		t.err(q, err, errors.INTERNAL, "no transcoding path found from lua/any to " .. to)
	end
	local q, err = payload.new(errors.new("x")):transcode(F.JSON)
	t.err(q, err, errors.INTERNAL, "no transcoding path found")
	t.raises(function() return p:transcode() end, "bad argument #1 to 'transcode'")
	t.raises(function() return p:transcode({}) end, "bad argument #1 to 'transcode'")
	t.raises(function() return p.data({}) end, "wippy.payload expected")
end

function T.new_with_bad_format()
	local p, err = payload.new({1}, F.JSON)
	t.err(p, err, errors.INVALID, "needs a string")
	p, err = payload.new(1, "x/y")
	t.err(p, err, errors.INVALID, "unknown payload format: x/y")
	p, err = payload.new(1, 5)
	t.err(p, err, errors.INVALID, "must be a string")
	p, err = payload.new({}, F.GOLANG)
	t.err(p, err, errors.INVALID, "cannot be made from Lua")
	p, err = payload.new("x", F.ERROR)
	t.err(p, err, errors.INVALID, "needs an error")
	t.eq(payload.new(errors.new("e"), F.ERROR):get_format(), F.ERROR, "error with ERROR")
end

function T.message_payload_is_lua()
	process.send(process.pid(), "one", {k = "v"})
	local msg = t.msg(time, "one")
	local p = msg:payload()
	t.eq(p:get_format(), F.LUA, "message payload format")
	t.eq(tostring(p), "payload{format=lua/any}", "tostring")
	local d = p:data()
	t.eq(d.k, "v", "value")
	t.eq(p:data(), d, "decoded once, same table after")
	local j = p:transcode(F.JSON)
	t.eq(j:data().k, "v", "message value through JSON")
	process.send(process.pid(), "two", 1, "b")
	local ps = t.msg(time, "two"):payload()
	t.eq(ps[2]:data(), "b", "second of several")
	t.eq(ps[1]:data(), 1, "first of several")
end

-- A Payload sent in a message is userdata, and the original's export turns
-- every userdata but an error into nil (rt:runtime/lua/engine/payload/export.go).
function T.sent_payload_becomes_nil()
	process.send(process.pid(), "p", payload.new({a = 1}), (payload.new("s"):transcode(F.JSON)))
	local ps = t.msg(time, "p"):payload()
	t.eq(#ps, 2, "two values")
	t.is_nil(ps[1]:data(), "payload object arrives as nil")
	t.is_nil(ps[2]:data(), "transcoded payload arrives as nil")
	t.eq(ps[1]:get_format(), F.LUA, "as a lua/any payload")
end

function T.spawn_arg_payload_becomes_nil()
	local pid = process.spawn_monitored("test.payload:arg_type", HOST, payload.new({a = 1}), 5)
	local ev = t.event(time, process.event.EXIT, pid)
	t.is_nil(ev.result.error, "exit error")
	t.eq(ev.result.value, "nil number", "argument types")
end

function T.arg_type(a, b)
	return type(a) .. " " .. type(b)
end

return T
