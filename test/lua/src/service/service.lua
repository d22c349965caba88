-- test.service: supervised services (spec 1.3, 1.4): input arguments,
-- restart with backoff, clean exits, giving up, stable runs and start
-- order. The services start with the test app; the tests observe them.
local t = require("t")
local env = require("env")
local time = require("time")

local T = {}

-- Poll fn every 10 ms until it returns a true value, or fail.
local function wait_until(what, fn, timeout_ms)
	local deadline = time.now():add((timeout_ms or 5000) * time.MILLISECOND)
	while true do
		local v = fn()
		if v then return v end
		if time.now():after(deadline) then
			error("timed out waiting for " .. what, 2)
		end
		time.sleep("10ms")
	end
end

local function count(key) return tonumber(env.get(key)) end

local function times(key)
	local out = {}
	for n in (env.get(key) or ""):gmatch("%d+") do out[#out + 1] = tonumber(n) end
	return out
end

function T.input_arguments()
	local pid = wait_until("test.svc.input", function()
		return process.registry.lookup("test.svc.input")
	end)
	process.send(pid, "args")
	local args = t.msg(time, "args"):payload():data()
	t.eq(args.n, 3, "one argument per input item")
	t.eq(args[1], "alpha")
	t.eq(args[2], 2)
	t.eq(args[3].k, "v")
end

function T.restart_after_error()
	wait_until("test.svc.flaky", function()
		return process.registry.lookup("test.svc.flaky")
	end)
	t.eq(count("SVC_FLAKY"), 3, "two failed runs, then a good one")
	time.sleep("100ms")
	t.eq(count("SVC_FLAKY"), 3, "a running service is not restarted")
end

function T.clean_exit_is_final()
	wait_until("a clean run", function() return count("SVC_CLEAN") >= 1 end)
	time.sleep("300ms") -- 15x its initial_delay
	t.eq(count("SVC_CLEAN"), 1, "no restart after a clean exit")
end

function T.gives_up_after_max_attempts()
	wait_until("three runs", function() return count("SVC_GIVEUP") >= 3 end)
	time.sleep("300ms")
	t.eq(count("SVC_GIVEUP"), 3, "the first run and max_attempts = 2 retries")
end

function T.backoff_grows()
	wait_until("four runs", function() return #times("SVC_BACKOFF_TIMES") >= 4 end)
	local ts = times("SVC_BACKOFF_TIMES")
	-- initial_delay 40ms, backoff_factor 2, no jitter: 40, 80, 160 ms
	t.ok(ts[2] - ts[1] >= 38, "first delay >= 40 ms: " .. (ts[2] - ts[1]))
	t.ok(ts[3] - ts[2] >= 78, "second delay >= 80 ms: " .. (ts[3] - ts[2]))
	t.ok(ts[4] - ts[3] >= 158, "third delay >= 160 ms: " .. (ts[4] - ts[3]))
	time.sleep("400ms")
	t.eq(#times("SVC_BACKOFF_TIMES"), 4, "max_attempts = 3")
end

function T.backoff_capped_by_max_delay()
	wait_until("four runs", function() return #times("SVC_CAPPED_TIMES") >= 4 end, 8000)
	local ts = times("SVC_CAPPED_TIMES")
	-- initial_delay 40ms, backoff_factor 10, max_delay 60ms: 40, 60, 60
	-- (uncapped would be 400 and 4000 ms)
	t.ok(ts[3] - ts[2] >= 58, "second delay >= 60 ms")
	t.ok(ts[4] - ts[3] < 2000, "third delay capped: " .. (ts[4] - ts[3]))
end

function T.stable_run_resets_attempts()
	wait_until("four runs", function() return count("SVC_STABLE") >= 4 end, 8000)
	t.eq(count("SVC_STABLE"), 4, "restarted beyond max_attempts = 1 because each run was stable")
end

function T.requires_starts_dependency_first()
	wait_until("test.svc.dep_a", function()
		return process.registry.lookup("test.svc.dep_a")
	end)
	t.eq(env.get("SVC_ORDER"), "b-first", "B ran before A started")
end

return T
