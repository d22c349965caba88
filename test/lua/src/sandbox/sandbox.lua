-- test.sandbox: each way out of a process's sandbox fails with a clear
-- error, and what a process changes in the tables every process has by
-- name stays its own. test.stdlib checks that the removed names are nil;
-- here each is tried the way an escape would try it.
local t = require("t")

local T = {}

-- Calling a removed global raises Lua's own message, naming it.
local function call_fails(fn, name)
	t.raises(fn, "attempt to call a nil value (global '" .. name .. "')")
end

local function field_fails(fn, name)
	t.raises(fn, "attempt to call a nil value (field '" .. name .. "')")
end

local function index_fails(fn, name)
	t.raises(fn, "attempt to index a nil value (global '" .. name .. "')")
end

-- There is no way to turn bytes into code: no load family, and
-- string.dump's bytecode has nothing that takes it.
function T.no_code_loading()
	call_fails(function() return load("return 1") end, "load")
	call_fails(function() return loadstring("return 1") end, "loadstring")
	call_fails(function() return loadfile("/etc/passwd") end, "loadfile")
	call_fails(function() return dofile("/etc/passwd") end, "dofile")
	local ok, chunk = pcall(string.dump, function() return 42 end)
	if ok then
		t.eq(chunk:sub(1, 4), "\27Lua", "string.dump gives bytecode")
		t.raises(function() return require(chunk) end, "not found")
		t.raises(function() return load(chunk, "x", "b") end, "global 'load'")
	else
		t.contains(tostring(chunk), "dump")
	end
	t.is_nil(rawget(_G, "load"), "no raw load either")
	t.is_nil(_ENV.load, "nor through _ENV")
	t.raises(function() return require("load") end, "not found")
end

function T.no_debug()
	index_fails(function() return debug.getinfo(1) end, "debug")
	index_fails(function() return debug.getregistry() end, "debug")
	t.raises(function() return require("debug") end,
		"module 'debug' not found (not listed in the modules of test.sandbox:no_debug)")
end

-- io is not a global; the io module (when listed) is the terminal's and
-- has no files.
function T.no_files()
	index_fails(function() return io.open("/etc/passwd") end, "io")
	t.raises(function() return require("io") end,
		"module 'io' not found (not listed in the modules of test.sandbox:no_files)")
end

function T.io_module_has_no_files()
	local io = require("io")
	field_fails(function() return io.open("/etc/passwd") end, "open")
	field_fails(function() return io.popen("true") end, "popen")
	field_fails(function() return io.lines("/etc/passwd") end, "lines")
	t.is_nil(io.stdout, "io.stdout")
end

-- A terminal call outside a terminal host: "no terminal context" from
-- each entry point that touches stdio (test.io covers print, write, args
-- and readline; flush and raw touch nothing and answer true).
function T.no_terminal_outside_terminal_host()
	local io = require("io")
	for _, name in ipairs({"readline", "read", "eprint"}) do
		local v, err = io[name]()
		t.err(v, err, errors.UNAVAILABLE, "no terminal context")
	end
end

function T.no_os_escape()
	field_fails(function() return os.execute("true") end, "execute")
	field_fails(function() return os.exit(1) end, "exit")
	field_fails(function() return os.remove("/tmp/x") end, "remove")
	field_fails(function() return os.rename("/tmp/x", "/tmp/y") end, "rename")
	field_fails(function() return os.getenv("HOME") end, "getenv")
	field_fails(function() return os.tmpname() end, "tmpname")
	field_fails(function() return os.setlocale("C") end, "setlocale")
end

function T.no_collectgarbage()
	call_fails(function() return collectgarbage("count") end, "collectgarbage")
	call_fails(function() return collectgarbage("stop") end, "collectgarbage")
end

function T.no_package()
	index_fails(function() return package.loadlib("libc.so.6", "system") end, "package")
	index_fails(function() return package.cpath end, "package")
	t.raises(function() return require("package") end, "not found")
	t.raises(function() return require("ffi") end, "not found")
end

-- The string metatable is per state: a process may change its own, and
-- a process after it, on the same shard, has Lua's.
function T.string_metatable_is_per_process()
	local time = require("time")
	local pid = process.spawn_monitored("test.sandbox:string_meta_poker", "test:single")
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value, true, "the poker changed its own string metatable")
	pid = process.spawn_monitored("test.sandbox:string_meta_reader", "test:single")
	ev = t.event(time, process.event.EXIT, pid)
	t.deq(ev.result.value, {upper = "ABC", add_raises = true, index_is_string = true})
	t.eq(("abc"):upper(), "ABC", "and the caller's strings are untouched")
end

-- Library tables and _G are per process: writes to string, table, math,
-- os, errors, coroutine and _G stay in the writer.
function T.library_tables_are_per_process()
	local time = require("time")
	local pid = process.spawn_monitored("test.sandbox:library_writer", "test:single")
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value, true, "the writer changed its own tables")
	pid = process.spawn_monitored("test.sandbox:library_reader", "test:single")
	ev = t.event(time, process.event.EXIT, pid)
	t.deq(ev.result.value, {
		upper = "ABC",
		insert = "function",
		pi = math.pi,
		platform = "wippy",
		invalid = errors.INVALID,
		spawn = "function",
		lazy_globals = true,
	})
	t.eq(math.pi, 3.141592653589793, "the caller's math.pi")
	t.is_nil(string.x, "the caller's string")
	t.is_nil(rawget(_G, "y"), "the caller's _G")
end

return T
