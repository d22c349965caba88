-- test.stdlib: math, string and the base globals as a process sees them
-- (spec 3): Lua's own functions behind tables filled on first use.
local t = require("t")

local T = {}

function T.math_functions()
	t.eq(math.floor(3.7), 3)
	t.eq(math.ceil(3.2), 4)
	t.eq(math.max(1, 5, 3), 5)
	t.eq(math.min(4, 2), 2)
	t.eq(math.abs(-2), 2)
	t.eq(math.type(1), "integer")
	t.eq(math.type(1.5), "float")
	t.eq(math.type("1"), nil)
	t.eq(math.tointeger(3.0), 3)
	t.eq(math.fmod(7, 3), 1)
	t.ok(math.ult(1, -1), "ult")
	t.eq(math.sqrt(16), 4.0)
	t.raises(function() math.floor("x") end, "number expected")
end

function T.math_constants()
	t.eq(math.pi, 3.141592653589793)
	t.eq(math.huge, 1 / 0)
	t.eq(math.maxinteger, 0x7fffffffffffffff)
	t.eq(math.mininteger, math.maxinteger + 1)
	t.eq(math.type(math.maxinteger), "integer")
end

function T.math_random_seeded()
	math.randomseed(42)
	local a, b = math.random(1000), math.random()
	math.randomseed(42)
	t.eq(math.random(1000), a, "same seed, same integer")
	t.eq(math.random(), b, "same seed, same float")
end

function T.math_random_ranges()
	for _ = 1, 200 do
		local f = math.random()
		t.ok(f >= 0 and f < 1, "random() in [0,1)")
		local i = math.random(3, 5)
		t.ok(i >= 3 and i <= 5 and math.type(i) == "integer", "random(3,5)")
	end
	t.raises(function() math.random(5, 1) end, "interval is empty")
end

function T.math_unknown_is_nil()
	t.is_nil(math.nothing)
	t.is_nil(math[1])
	t.is_nil(math.random and math.nothing, "lookups leave unknown names nil")
end

-- What one process does to its math table is its own.
function T.math_is_per_process()
	local time = require("time")
	local pid = process.spawn_monitored("test.stdlib:math_poker", "test:procs")
	local ev = t.event(time, process.event.EXIT, pid)
	t.eq(ev.result.value, true, "the poker changed its own math")
	pid = process.spawn_monitored("test.stdlib:math_reader", "test:procs")
	ev = t.event(time, process.event.EXIT, pid)
	t.deq(ev.result.value, {floor = 2, pi = math.pi})
	t.eq(math.floor(1.5), 1, "and the caller's math is untouched")
end

function T.string_methods()
	t.eq(("abc"):upper(), "ABC")
	t.eq(string.format("%d-%s", 7, "x"), "7-x")
	t.eq(("a,b"):find(",", 1, true), 2)
	t.eq(#string.rep("ab", 3), 6)
end

-- pairs sees a whole library, used or not (copying string is common).
function T.pairs_sees_everything()
	local names = {}
	for k, v in pairs(math) do
		names[k] = type(v)
	end
	t.eq(names.floor, "function")
	t.eq(names.random, "function")
	t.eq(names.pi, "number")
	t.eq(names.maxinteger, "number")
	local copy = {}
	for k, v in pairs(string) do copy[k] = v end
	t.eq(copy.upper("a"), "A")
	t.eq(copy.format("%03d", 7), "007")
	local n = 0
	for _ in pairs(table) do n = n + 1 end
	t.ok(n >= 7, "table has its functions: " .. n)
	local seen = {}
	for k in pairs(os) do seen[k] = true end
	t.ok(seen.time and seen.clock and not seen.exit, "os: the allowed ones")
	local logger = require("logger")
	seen = {}
	for k in pairs(logger) do seen[k] = true end
	t.ok(seen.info and seen.with and seen.named, "logger methods")
	local time = require("time")
	seen = {}
	for k in pairs(time) do seen[k] = true end
	t.ok(seen.sleep and seen.now and seen.parse_duration and seen.SECOND, "time")
end

-- require hands out the global libraries themselves, used or not yet.
function T.require_global_libraries()
	t.eq(require("string"), string)
	t.eq(require("table"), table)
	local m = require("math")
	t.eq(m, math)
	t.eq(m.floor(2.5), 2)
	t.eq(require("process"), process)
	t.raises(function() require("debug") end, "not found")
end

function T.removed_globals()
	t.is_nil(load, "load")
	t.is_nil(loadfile, "loadfile")
	t.is_nil(dofile, "dofile")
	t.is_nil(collectgarbage, "collectgarbage")
	t.is_nil(os.exit, "os.exit")
	t.is_nil(os.execute, "os.execute")
	t.is_nil(os.getenv, "os.getenv")
	t.eq(type(os.time()), "number")
end

-- os is the original's table (ostime/module.go): time, date, clock,
-- difftime and platform = "wippy", nothing else.
function T.os_table()
	t.eq(os.platform, "wippy", "os.platform")
	t.eq(os.platform, "wippy", "the same on a second read")
	local names = {}
	for k, v in pairs(os) do names[#names + 1] = k .. ":" .. type(v) end
	table.sort(names)
	t.eq(table.concat(names, ","),
		"clock:function,date:function,difftime:function,platform:string,time:function")
	t.eq(os.difftime(10, 4), 6.0)
	t.eq(type(os.clock()), "number")
	t.eq(os.date("!%Y-%m-%d", 0), "1970-01-01")
	t.eq(os.date("!*t", 86400).day, 2)
	t.is_nil(os.remove, "os.remove")
	t.is_nil(os.tmpname, "os.tmpname")
	t.raises(function() os.difftime("x") end, "bad argument #1")
end

return T
