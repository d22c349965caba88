-- test.errors: the global errors module and error objects (spec 3), and
-- the error kinds other modules return.
local t = require("t")
local time = require("time")
local json = require("json")
local env = require("env")

local T = {}

-- The kinds are the original runtime's strings (go-lua's Kind values).
function T.kind_constants()
	local want = {UNKNOWN = "", INVALID = "Invalid", NOT_FOUND = "NotFound",
		ALREADY_EXISTS = "AlreadyExists", PERMISSION_DENIED = "PermissionDenied",
		TIMEOUT = "Timeout", CANCELED = "Canceled", UNAVAILABLE = "Unavailable",
		INTERNAL = "Internal", CONFLICT = "Conflict", RATE_LIMITED = "RateLimited"}
	for name, v in pairs(want) do
		t.eq(errors[name], v, "errors." .. name)
	end
end

function T.new_from_string()
	local e = errors.new("plain")
	t.eq(e:message(), "plain")
	t.eq(tostring(e), "plain", "tostring is the message")
	t.eq(e:kind(), "", "default kind is the empty string")
	t.eq(e:kind(), errors.UNKNOWN)
	t.is_nil(e:retryable(), "retryable is unset")
	t.is_nil(e:details(), "no details")
end

function T.new_from_table()
	local e = errors.new({message = "full", kind = errors.TIMEOUT, retryable = true,
		details = {attempt = 3, host = "db", user = {name = "x", [1] = "dropped"}}})
	t.eq(e:message(), "full")
	t.eq(e:kind(), errors.TIMEOUT)
	t.eq(e:retryable(), true)
	t.eq(e:details().attempt, 3)
	t.eq(e:details().host, "db")
	t.eq(e:details().user.name, "x", "nested details")
	t.is_nil(e:details().user[1], "only string keys are kept")
	t.eq(errors.new({message = "f", retryable = false}):retryable(), false,
		"retryable false is kept")
end

function T.details_are_copies()
	local d = {n = 1}
	local e = errors.new({message = "m", details = d})
	d.n = 2
	t.eq(e:details().n, 1, "later changes to the table do not reach the error")
	local got = e:details()
	got.n = 3
	t.eq(e:details().n, 1, "changing a returned table does not change the error")
	t.ok(e:details() ~= e:details(), "a fresh table each call")
end

function T.empty_details_are_nil()
	t.is_nil(errors.new({message = "m", details = {}}):details(), "empty table")
	t.is_nil(errors.new({message = "m", details = {1, 2, 3}}):details(),
		"a list has no string keys")
	local e = errors.new({message = "m", details = {f = print, e = errors.new("inner")}})
	t.eq(e:details().e, "inner", "an error in details becomes its message")
	t.eq(e:details().f, tostring(print), "a function becomes its tostring text")
end

function T.new_ignores_odd_fields()
	local e = errors.new({message = "m", kind = 5, retryable = "yes", details = "x"})
	t.eq(e:kind(), "", "a non-string kind is ignored")
	t.is_nil(e:retryable(), "a non-boolean retryable is ignored")
	t.is_nil(e:details(), "non-table details are ignored")
end

function T.new_bad_argument()
	t.raises(function() errors.new() end, "bad argument #1 to 'new'")
	t.raises(function() errors.new(true) end, "expected string or table")
	t.raises(function() errors.new(42) end, "expected string or table")
	t.raises(function() errors.new(errors.new("e")) end, "expected string or table")
	t.raises(function() errors.new({}) end, "message field is required")
	t.raises(function() errors.new({kind = errors.INVALID}) end, "message field is required")
	t.raises(function() errors.new({message = 7}) end, "message must be a string")
	local cyc = {}
	cyc.self = cyc
	t.raises(function() errors.new({message = "m", details = cyc}) end,
		"nested too deeply")
end

function T.wrap_keeps_the_inner_error()
	local inner = errors.new({message = "disk full", kind = errors.UNAVAILABLE,
		retryable = true, details = {code = 42}})
	local w = errors.wrap(inner, "saving")
	t.eq(w:message(), "disk full", "message is the inner message")
	t.eq(tostring(w), "disk full", "tostring too")
	t.eq(w:kind(), errors.UNAVAILABLE, "kind kept")
	t.eq(w:retryable(), true, "retryable kept")
	t.eq(w:details().code, 42, "details kept")
	t.ok(errors.is(w, errors.UNAVAILABLE))
	t.ok(errors.unwrap(w) == inner, "unwrap gives the cause")
	t.ok(w:stack():find("^saving\n"), "the context heads the stack")
end

function T.wrap_twice()
	local e = errors.wrap(errors.wrap(errors.new({message = "root", kind = errors.NOT_FOUND}), "mid"), "top")
	-- The inner wrap's Go error text ("mid: root") is the outer message.
	t.eq(e:message(), "mid: root")
	t.ok(errors.is(e, errors.NOT_FOUND))
	local s = e:stack()
	t.ok(s:find("^top\n"), "outer context first")
	t.ok(s:find("\nmid\n"), "then the inner context")
end

function T.wrap_string()
	local w = errors.wrap("text", "ctx")
	t.eq(w:message(), "text")
	t.eq(w:kind(), errors.UNKNOWN)
	t.is_nil(w:retryable())
	t.is_nil(errors.unwrap(w), "a string has no cause")
	local c = errors.wrap("text", errors.new("from an error"))
	t.ok(c:stack():find("^from an error\n"), "an error context reads as its message")
end

function T.wrap_bad_arguments()
	local e = errors.new("e")
	t.raises(function() errors.wrap(nil, "ctx") end, "expected string or error object")
	t.raises(function() errors.wrap(5, "ctx") end, "expected string or error object")
	t.raises(function() errors.wrap({}, "ctx") end, "expected string or error object")
	t.raises(function() errors.wrap(e) end, "bad argument #2 to 'wrap'")
	t.raises(function() errors.wrap(e, nil) end, "expected string or error object")
	t.raises(function() errors.wrap(e, 5) end, "expected string or error object")
end

function T.is_matching()
	local e = errors.new({message = "m", kind = errors.CONFLICT})
	t.eq(errors.is(e, errors.CONFLICT), true)
	t.eq(errors.is(e, errors.INVALID), false)
	t.eq(errors.is("Conflict", errors.CONFLICT), false, "a string is not an error")
	t.eq(errors.is(nil, errors.CONFLICT), false)
	t.eq(errors.is(errors.new("u"), errors.UNKNOWN), true, "unknown kind is \"\"")
	t.eq(errors.is(e, errors.new("Conflict")), true, "an error kind reads as its message")
	t.raises(function() errors.is(e) end, "bad argument #2 to 'is'")
	t.raises(function() errors.is(e, {}) end, "bad argument #2 to 'is'")
	t.raises(function() errors.is() end, "bad argument #1 to 'is'")
end

function T.call_stack_frames()
	local function make() return errors.new("here") end
	local e = make()
	local cs = errors.call_stack(e)
	t.eq(type(cs), "table", "call_stack gives a table")
	t.match(cs.thread, "^0x%x+$", "thread id")
	t.ok(#cs.frames >= 2, "frames")
	local f0 = cs.frames[1]
	t.eq(f0.level, 0, "level 0 first")
	t.eq(f0.name, "new", "level 0 is errors.new itself")
	t.eq(f0.type, "C")
	local f1 = cs.frames[2]
	t.eq(f1.level, 1)
	t.eq(f1.name, "make", "then its caller")
	t.contains(f1.source, "errors.lua")
	t.eq(type(f1.line), "number")
	t.ok(f1.line > 0, "a line in this file")
	t.eq(f1.type, "Lua")
	local w = errors.wrap(e, "ctx")
	t.eq(errors.call_stack(w).frames[1].name, "wrap", "a wrap captures its own stack")
end

function T.call_stack_of_non_error()
	t.is_nil(errors.call_stack("nope"))
	t.is_nil(errors.call_stack(nil))
	local _, e = json.decode("")
	t.is_nil(errors.call_stack(e), "errors made by C modules carry no stack")
	t.eq(e:stack(), "", "and their stack text is empty")
end

function T.stack_method()
	local function make() return errors.new("s") end
	local s = make():stack()
	t.eq(type(s), "string", "err:stack() is a string")
	t.match(s, "\n  [^\n]*errors%.lua:%d+ %(make%)\n", "a source:line (name) line")
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
	t.eq(e .. "!", "tail!")
	t.eq(e .. errors.new("2"), "tail2")
	t.eq(e .. 5, "tail5")
end

function T.methods_on_non_errors()
	local e = errors.new("x")
	t.eq(e.message({}), "", "message of a non-error")
	t.eq(e.kind("x"), "", "kind of a non-error")
	t.is_nil(e.retryable(1), "retryable of a non-error")
	t.is_nil(e.details(nil), "details of a non-error")
	t.eq(e.stack(true), "", "stack of a non-error")
end

-- The string library reads an error object as its message, as the
-- original's does (go-lua converts errors wherever it takes a string).
function T.string_functions_accept_errors()
	local e = errors.new("user not found")
	t.eq(string.find(e, "not found", 1, true), 6, "string.find")
	t.ok(string.find(e, "not found"), "string.find with a pattern")
	t.eq(string.match(e, "(%w+) not"), "user")
	t.eq(string.len(e), 14)
	t.eq(string.upper(e), "USER NOT FOUND")
	t.eq(string.sub(e, 1, 4), "user")
	t.eq((string.gsub(e, "o", "0")), "user n0t f0und")
	t.eq(string.rep(e, 2, errors.new("|")), "user not found|user not found")
	t.eq(("a-b"):find(errors.new("-"), 1, true), 2, "an error as the pattern")
	t.eq(string.format("%s!", e), "user not found!")
	local words = {}
	for w in string.gmatch(e, "%a+") do words[#words + 1] = w end
	t.eq(#words, 3, "gmatch")
	t.raises(function() return e:find("user") end, "find")
	t.raises(function() string.find({}, "x") end, "bad argument #1 to 'find'")
	t.raises(function() string.rep(e) end, "bad argument #2 to 'rep'")
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
