-- test.service processes: each is run by a process.service entry of this
-- namespace and leaves traces in the env memory storage (counters, start
-- times) that the tests read. Env state is shared by every process, so
-- it survives restarts.
local env = require("env")
local time = require("time")

local s = {}

local function bump(key)
	local n = tonumber(env.get(key)) + 1
	env.set(key, tostring(n))
	return n
end

-- Serve "args" (reply with the spawn arguments) under a name, until a
-- CANCEL event (shutdown) ends the run cleanly.
local function serve(name, ...)
	local args = {n = select("#", ...), ...}
	process.registry.register(name)
	local inbox, events = process.inbox(), process.events()
	while true do
		local r = channel.select{inbox:case_receive(), events:case_receive()}
		if r.channel == events then
			if r.value.kind == process.event.CANCEL then
				return "cancelled: " .. r.value.reason
			end
		elseif r.value:topic() == "args" then
			process.send(r.value:from(), "args", args)
		end
	end
end

-- Started with the service's `input` list as arguments.
function s.input_proc(...)
	serve("test.svc.input", ...)
end

-- Fails on its first two runs, then serves.
function s.flaky_proc()
	local n = bump("SVC_FLAKY")
	if n < 3 then
		error("flaky failure " .. n)
	end
	serve("test.svc.flaky", n)
end

-- Returns at once: a clean exit is final.
function s.clean_proc()
	bump("SVC_CLEAN")
	return "done"
end

-- Always fails: gives up after max_attempts.
function s.giveup_proc()
	local n = bump("SVC_GIVEUP")
	return nil, errors.new("giveup failure " .. n)
end

-- Records when each run starts (ms), fails; the gaps show the backoff.
local function stamp(key)
	local prev = env.get(key)
	local now = tostring(time.now():unix_nano() // 1000000)
	env.set(key, prev == "" and now or prev .. "," .. now)
end

function s.backoff_proc()
	stamp("SVC_BACKOFF_TIMES")
	error("backoff failure")
end

function s.capped_proc()
	stamp("SVC_CAPPED_TIMES")
	error("capped failure")
end

-- Runs past its stable_threshold before failing, so every failure starts
-- the attempt count afresh; stops for good (clean exit) on its 4th run.
function s.stable_proc()
	local n = bump("SVC_STABLE")
	if n >= 4 then
		return "enough"
	end
	time.sleep("80ms")
	error("stable failure " .. n)
end

-- B registers its name as soon as it runs; A, which requires B, looks it
-- up when it starts.
function s.dep_b()
	serve("test.svc.dep_b")
end

function s.dep_a()
	local pid = process.registry.lookup("test.svc.dep_b")
	env.set("SVC_ORDER", pid and "b-first" or "b-missing")
	serve("test.svc.dep_a")
end

return s
