-- test.metrics: require("metrics"), the original runtime's API (counter_inc
-- counter_add gauge_set gauge_inc gauge_dec histogram): what each returns,
-- how arguments are checked (a wrong name or value type raises, as the
-- original's CheckString/CheckNumber do), which labels count, and the
-- INVALID errors of this runtime (a name used with two types, an empty
-- name, a negative counter increment, too many labels).
local t = require("t")

local T = {}

local FUNCS = {"counter_inc", "counter_add", "gauge_set", "gauge_inc", "gauge_dec", "histogram"}

-- a name no other test (or run) shares, so that types never clash by accident
local seq = 0
-- A `nil, err` result: INVALID (the message containing text, if given).
local function invalid(text, ok, err)
	return t.err(ok, err, errors.INVALID, text)
end

local function fresh(base)
	seq = seq + 1
	return "conf." .. base .. "." .. seq
end

function T.api_shape()
	local metrics = require("metrics")
	local n = 0
	for k, v in pairs(metrics) do
		n = n + 1
		t.eq(type(v), "function", k)
	end
	t.eq(n, #FUNCS, "six functions")
	for _, f in ipairs(FUNCS) do
		t.eq(type(metrics[f]), "function", f)
	end
end

function T.returns_true_nil()
	local metrics = require("metrics")
	local function both(ok, err, ...)
		t.eq(ok, true, "first result")
		t.is_nil(err, "second result")
		t.eq(select("#", ...), 0, "two results")
	end
	both(metrics.counter_inc(fresh("c")))
	both(metrics.counter_inc(fresh("c"), {a = "b"}))
	both(metrics.counter_add(fresh("c"), 5))
	both(metrics.counter_add(fresh("c"), 0.5, {a = "b"}))
	both(metrics.gauge_set(fresh("g"), -3.25))
	both(metrics.gauge_set(fresh("g"), 7, {q = "emails"}))
	both(metrics.gauge_inc(fresh("g")))
	both(metrics.gauge_dec(fresh("g"), {a = "b"}))
	both(metrics.histogram(fresh("h"), 0.123))
	both(metrics.histogram(fresh("h"), 1e9, {a = "b"}))
	-- the same series again, many times
	local name = fresh("c")
	for _ = 1, 100 do both(metrics.counter_inc(name, {x = "y"})) end
end

function T.name_checked()
	local metrics = require("metrics")
	for i, f in ipairs(FUNCS) do
		local needs_value = f == "counter_add" or f == "gauge_set" or f == "histogram"
		local v = needs_value and 1 or nil
		t.raises(function() metrics[f]() end, "bad argument #1 to '?' (string expected, got no value)")
		t.raises(function() metrics[f](nil, v) end, "bad argument #1 to '?' (string expected, got nil)")
		t.raises(function() metrics[f]({}, v) end, "bad argument #1 to '?' (string expected, got table)")
		t.raises(function() metrics[f](true, v) end, "bad argument #1 to '?' (string expected, got boolean)")
		-- a number is a name, as CheckString converts it
		local ok, err = metrics[f](424240 + i, v)
		t.eq(ok, true, f .. " with a number name")
		t.is_nil(err)
	end
end

function T.value_checked()
	local metrics = require("metrics")
	-- called by name, the error names the function
	t.raises(function() metrics.counter_add("x") end, "bad argument #2 to 'counter_add' (number expected, got no value)")
	t.raises(function() metrics.histogram() end, "bad argument #1 to 'histogram' (string expected, got no value)")
	t.raises(function() metrics.gauge_set("x", "1x") end, "bad argument #2 to 'gauge_set' (number expected, got string)")
	for _, f in ipairs({"counter_add", "gauge_set", "histogram"}) do
		t.raises(function() metrics[f](fresh("v")) end, "bad argument #2 to '?' (number expected, got no value)")
		t.raises(function() metrics[f](fresh("v"), nil) end, "bad argument #2 to '?' (number expected, got nil)")
		t.raises(function() metrics[f](fresh("v"), "abc") end, "bad argument #2 to '?' (number expected, got string)")
		t.raises(function() metrics[f](fresh("v"), {}) end, "bad argument #2 to '?' (number expected, got table)")
		-- a numeric string is a number, as CheckNumber converts it
		local ok, err = metrics[f](fresh("v"), "2.5")
		t.eq(ok, true, f .. " with \"2.5\"")
		t.is_nil(err)
	end
end

function T.labels_loose()
	local metrics = require("metrics")
	-- labels that are not a table are no labels; non-string keys and
	-- values inside one are skipped
	for _, labels in ipairs({"x", 5, true, function() end}) do
		local ok, err = metrics.counter_inc(fresh("l"), labels)
		t.eq(ok, true, "labels " .. type(labels))
		t.is_nil(err)
		ok, err = metrics.gauge_set(fresh("l"), 1, labels)
		t.eq(ok, true, "gauge labels " .. type(labels))
	end
	local ok, err = metrics.counter_inc(fresh("l"), {
		"positional", [2] = "x", n = 5, b = true, t = {}, s = "kept", ["dotted.key"] = "v"})
	t.eq(ok, true)
	t.is_nil(err)
	-- more than 32 label entries that are not strings do not count
	local big = {}
	for i = 1, 100 do big[i] = "v" .. i end
	ok, err = metrics.counter_inc(fresh("l"), big)
	t.eq(ok, true, "100 positional entries, none counted")
	-- 33 string labels are too many
	local many = {}
	for i = 1, 33 do many["k" .. i] = "v" end
	invalid("too many labels", metrics.counter_inc(fresh("l"), many))
end

function T.type_clash()
	local metrics = require("metrics")
	local name = fresh("clash")
	t.eq(metrics.counter_inc(name, {a = "1"}), true)
	local ok, err = metrics.gauge_set(name, 1, {a = "1"})
	local e = t.err(ok, err, errors.INVALID, "metric already registered with another type")
	t.eq(e:retryable(), false, "retryable")
	invalid("another type", metrics.histogram(name, 1, {a = "2"}))
	invalid("another type", metrics.gauge_inc(name))
	-- a dotted name and its underscored form are one Prometheus name
	invalid("another type", metrics.gauge_inc((name:gsub("%.", "_"))))
	-- the counter itself is unharmed
	t.eq(metrics.counter_add(name, 3, {a = "1"}), true)
	local h = fresh("hclash")
	t.eq(metrics.histogram(h, 1), true)
	invalid("another type", metrics.counter_add(h, 1))
end

function T.bad_values()
	local metrics = require("metrics")
	local ok, err = metrics.counter_add(fresh("neg"), -1)
	t.err(ok, err, errors.INVALID, "non-negative")
	invalid("non-negative", metrics.counter_add(fresh("nan"), 0 / 0))
	invalid("empty", metrics.counter_inc(""))
	invalid("empty", metrics.histogram("", 1))
	-- gauges and histograms take any number
	t.eq(metrics.gauge_set(fresh("g"), -1e308), true)
	t.eq(metrics.gauge_set(fresh("g"), 0 / 0), true)
	t.eq(metrics.histogram(fresh("h"), -5), true)
	t.eq(metrics.histogram(fresh("h"), math.huge), true)
	t.eq(metrics.counter_add(fresh("c"), math.huge), true)
	invalid("4096", metrics.gauge_set(fresh("big"), 1, {k = string.rep("v", 5000)}))
end

function T.not_listed()
	t.raises(function() require("metrics") end, "metrics")
end

return T
