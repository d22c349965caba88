-- bench/apps/funcs: the driver times N round trips of three kinds and
-- prints one line per kind, "NAME N SECONDS".
local m = {}

function m.add(a, b) return a + b end

-- Answers every message with its value plus one.
function m.echo(parent)
	local inbox = process.inbox()
	while true do
		local msg = inbox:receive()
		process.send(parent, "r", msg:payload():data() + 1)
	end
end

function m.driver(n)
	local time = require("time")
	local funcs = require("funcs")
	n = tonumber(n) or 100000
	local function timed(name, fn)
		local t0 = time.now()
		fn()
		print(string.format("%s %d %.6f", name, n, time.now():sub(t0):seconds()))
	end
	local function add(a, b) return a + b end
	timed("lua_call", function()
		local s = 0
		for i = 1, n do s = add(s, i) end
		assert(s == n * (n + 1) // 2)
	end)
	timed("funcs_call", function()
		local s = 0
		for i = 1, n do s = funcs.call("app:add", s, i) end
		assert(s == n * (n + 1) // 2)
	end)
	local pid = process.spawn("app:echo", "app:processes", process.pid())
	local inbox = process.inbox()
	timed("send_receive", function()
		local v = 0
		for _ = 1, n do
			process.send(pid, "q", v)
			v = inbox:receive():payload():data()
		end
		assert(v == n)
	end)
	process.terminate(pid)
	return 0
end

return m
