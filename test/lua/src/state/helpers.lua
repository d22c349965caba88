-- test.state helpers: processes that end in their first step, or not.
local h = {}

-- Build a little garbage and a result, and end at once.
function h.quick(n)
	local t = {}
	for i = 1, n do
		t[i] = string.rep("x", i % 7) .. i
	end
	return #table.concat(t, ",")
end

-- A table with a finalizer that reports to `to` when the state goes.
function h.finalized(to, tag)
	setmetatable({}, {__gc = function()
		process.send(to, "gc", tag)
	end})
	return tag
end

-- Ends at once unless asked to sleep: the entry's first runs teach the
-- runtime it is quick, then one lives on past its first step.
function h.sometimes_slow(ms)
	local time = require("time")
	local keep = {}
	for i = 1, 50 do keep[i] = {i} end
	if ms > 0 then
		time.sleep(ms .. "ms")
		for i = 51, 2000 do keep[i] = {i, tostring(i)} end
	end
	return #keep
end

-- Allocates n KiB in one step (far past any arena), keeping it all.
function h.big(kib)
	local keep = {}
	for i = 1, kib do
		keep[i] = string.rep(string.char(65 + i % 26), 1024)
	end
	return #keep
end

return h
