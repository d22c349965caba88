-- test.errors: the global errors module and error objects (spec 3), and
-- the error kinds other modules return.
local t = require("t")
local time = require("time")
local json = require("json")
local env = require("env")

local T = {}

function T.kind_constants()
	for _, k in ipairs({"UNKNOWN", "INVALID", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "TIMEOUT", "CANCELED", "UNAVAILABLE", "INTERNAL",
		"CONFLICT", "RATE_LIMITED"}) do
		t.eq(errors[k], k, "errors." .. k)
	end
end

function T.new_from_string()
	local e = errors.new("plain")
	t.eq(e:message(), "plain")
	t.eq(tostring(e), "plain", "tostring is the message")
	t.eq(e:kind(), errors.UNKNOWN, "default kind")
	t.eq(e:retryable(), false, "not retryable by default")
	t.is_nil(e:details(), "no details")
end

function T.new_from_table()
	local e = errors.new({message = "full", kind = errors.TIMEOUT, retryable = true,
		details = {attempt = 3, host = "db"}})
	t.eq(e:message(), "full")
	t.eq(e:kind(), errors.TIMEOUT)
	t.eq(e:retryable(), true)
	t.eq(e:details().attempt, 3)
	t.eq(e:details().host, "db")
end

function T.new_from_error_is_identity()
	local e = errors.new("x")
	t.ok(errors.new(e) == e, "errors.new(err) returns err")
end

function T.new_bad_argument()
	t.raises(function() errors.new() end, "")
	t.raises(function() errors.new(true) end, "")
end

function T.wrap_message_and_kind()
	local inner = errors.new({message = "disk full", kind = errors.UNAVAILABLE, retryable = true})
	local w = errors.wrap(inner, "saving")
	t.eq(w:message(), "saving: disk full")
	t.eq(w:kind(), errors.UNAVAILABLE, "kind kept")
	t.eq(w:retryable(), true, "retryable kept")
	t.ok(errors.is(w, errors.UNAVAILABLE))
	t.ok(errors.unwrap(w) == inner, "unwrap gives the cause")
end

function T.wrap_twice()
	local e = errors.wrap(errors.wrap(errors.new({message = "root", kind = errors.NOT_FOUND}), "mid"), "top")
	t.eq(e:message(), "top: mid: root")
	t.ok(errors.is(e, errors.NOT_FOUND))
end

function T.wrap_string_and_nil()
	local w = errors.wrap("text", "ctx")
	t.eq(w:message(), "ctx: text")
	t.is_nil(errors.wrap(nil, "ctx"), "wrap(nil) is nil")
end

function T.is_matching()
	local e = errors.new({message = "m", kind = errors.CONFLICT})
	t.eq(errors.is(e, errors.CONFLICT), true)
	t.eq(errors.is(e, errors.INVALID), false)
	t.eq(errors.is("CONFLICT", errors.CONFLICT), false, "a string is not an error")
	t.eq(errors.is(nil, errors.CONFLICT), false)
	t.eq(errors.is(e, e), true, "identity")
end

function T.call_stack_frames()
	local function make() return errors.new("here") end
	local e = make()
	local frames = errors.call_stack(e)
	t.eq(type(frames), "table", "call_stack gives frames")
	t.ok(#frames >= 1, "at least one frame")
	local found = false
	for _, f in ipairs(frames) do
		t.eq(type(f.source), "string", "frame source")
		if f.source:find("errors.lua", 1, true) and f.line then found = true end
	end
	t.ok(found, "a frame in this file with a line")
end

function T.call_stack_of_non_error()
	t.is_nil(errors.call_stack("nope"))
end

function T.stack_method()
	local e = errors.new("s")
	t.eq(type(e:stack()), "string", "err:stack() is a string")
	t.contains(e:stack(), "errors.lua")
end

function T.raise_and_catch_object()
	local e = errors.new({message = "thrown", kind = errors.INTERNAL})
	local ok, got = pcall(error, e)
	t.eq(ok, false)
	t.ok(got == e, "the same object comes back")
	t.eq(got:kind(), errors.INTERNAL)
end

function T.concat()
	local e = errors.new("tail")
	t.eq("head: " .. e, "head: tail")
end

function T.module_errors_are_objects()
	local _, e1 = json.decode("")
	t.err(nil, e1, errors.INVALID)
	local _, e2 = env.get("")
	t.err(nil, e2, errors.INVALID)
	local _, e3 = time.after(0)
	t.err(nil, e3, errors.INVALID)
	local _, e4 = process.registry.lookup("test.errors.none")
	t.err(nil, e4, errors.NOT_FOUND)
	local _, e5 = time.parse_duration("nope")
	t.err(nil, e5, errors.INVALID)
	local _, e6 = time.load_location("No/Such_Zone")
	t.err(nil, e6, errors.NOT_FOUND)
	local _, e7 = time.parse(time.RFC3339, "yesterday")
	t.err(nil, e7, errors.INVALID)
end

function T.io_outside_terminal()
	local io = require("io")
	local ok, err = io.print("x")
	t.err(ok, err, errors.UNAVAILABLE, "no terminal context")
	ok, err = io.readline()
	t.err(ok, err, errors.UNAVAILABLE, "no terminal context")
end

return T
