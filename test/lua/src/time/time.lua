-- test.time: sleep, after, timers, tickers and durations (spec 7).
-- Timing checks are lower bounds only: the machine may be slow, never fast.
local t = require("t")
local time = require("time")

local T = {}

local function elapsed_ms(since)
	return time.now():sub(since):milliseconds()
end

function T.unit_constants()
	t.eq(time.NANOSECOND, 1)
	t.eq(time.MICROSECOND, 1000)
	t.eq(time.MILLISECOND, 1000000)
	t.eq(time.SECOND, 1000000000)
	t.eq(time.MINUTE, 60 * 1000000000)
	t.eq(time.HOUR, 3600 * 1000000000)
end

function T.sleep_number_is_nanoseconds()
	local t0 = time.now()
	time.sleep(30 * time.MILLISECOND)
	t.ok(elapsed_ms(t0) >= 29, "slept at least 30 ms")
end

function T.sleep_string()
	local t0 = time.now()
	time.sleep("30ms")
	t.ok(elapsed_ms(t0) >= 29, "slept at least 30 ms")
end

function T.sleep_duration_object()
	local d = time.parse_duration("30ms")
	local t0 = time.now()
	time.sleep(d)
	t.ok(elapsed_ms(t0) >= 29, "slept at least 30 ms")
end

function T.sleep_invalid_raises()
	t.raises(function() time.sleep("soon") end, "")
end

function T.after_delivers_time_once()
	local ch, err = time.after("20ms")
	t.is_nil(err)
	local t0 = time.now()
	local v, ok = ch:receive()
	t.eq(ok, true)
	t.eq(type(v), "userdata", "a Time value")
	t.ok(v:unix() > 0, "with a unix time")
	t.ok(elapsed_ms(t0) >= 15, "not early")
	local r = channel.select{ch:case_receive(), time.after("50ms"):case_receive()}
	t.ok(r.channel ~= ch, "fires only once")
end

function T.after_invalid_durations()
	local ch, err = time.after(0)
	t.err(ch, err, errors.INVALID)
	ch, err = time.after(-5)
	t.err(ch, err, errors.INVALID)
	ch, err = time.after("bogus")
	t.err(ch, err, errors.INVALID)
	ch, err = time.after("-1s")
	t.err(ch, err, errors.INVALID)
end

function T.timer_fires()
	local tm, err = time.timer("10ms")
	t.is_nil(err)
	local v, ok = tm:response():receive()
	t.eq(ok, true)
	t.ok(v:unix() > 0)
	t.ok(tm:channel() == tm:response(), "channel() is response()")
end

function T.timer_stop_before_fire()
	local tm = time.timer("50ms")
	t.eq(tm:stop(), true, "stopped before firing")
	t.quiet(time, tm:channel(), "100ms", "stopped timer")
	t.eq(tm:stop(), false, "second stop")
end

function T.timer_stop_after_fire()
	local tm = time.timer("5ms")
	tm:channel():receive()
	t.eq(tm:stop(), false, "already fired")
end

function T.timer_reset()
	local tm = time.timer("1h")
	local t0 = time.now()
	tm:reset("20ms")
	local _, ok = t.recv(time, tm:channel(), "5s")
	t.eq(ok, true, "fires after reset")
	t.ok(elapsed_ms(t0) >= 15, "at the new deadline")
end

function T.timer_reset_after_stop()
	local tm = time.timer("1h")
	tm:stop()
	tm:reset("10ms")
	local _, ok = t.recv(time, tm:channel(), "5s")
	t.eq(ok, true, "a stopped timer can be re-armed")
end

function T.timer_reset_after_fire()
	local tm = time.timer("5ms")
	t.recv(time, tm:channel(), "5s")
	tm:reset("5ms")
	local _, ok = t.recv(time, tm:channel(), "5s")
	t.eq(ok, true, "a fired timer fires again after reset")
end

function T.timer_invalid()
	local tm, err = time.timer(0)
	t.err(tm, err, errors.INVALID)
end

function T.ticker_ticks_and_stops()
	local tk, err = time.ticker("10ms")
	t.is_nil(err)
	local ch = tk:response()
	t.ok(tk:channel() == ch, "the same channel each call")
	local prev
	for _ = 1, 3 do
		local v = t.recv(time, ch, "5s")
		if prev then t.ok(not v:before(prev), "ticks move forward") end
		prev = v
	end
	tk:stop()
	channel.select{ch:case_receive(), default = true} -- a tick already buffered
	t.quiet(time, ch, "60ms", "stopped ticker")
end

function T.ticker_invalid()
	local tk, err = time.ticker(-1)
	t.err(tk, err, errors.INVALID)
	tk, err = time.ticker("x")
	t.err(tk, err, errors.INVALID)
end

function T.ticker_in_select_loop()
	local tk = time.ticker("5ms")
	local stop = time.after("100ms")
	local ticks = 0
	while true do
		local r = channel.select{tk:channel():case_receive(), stop:case_receive()}
		if r.channel == stop then break end
		ticks = ticks + 1
	end
	tk:stop()
	t.ok(ticks >= 3, "several ticks in 100 ms: " .. ticks)
end

function T.parse_duration_units()
	local d, err = time.parse_duration("1h30m45s500ms")
	t.is_nil(err)
	t.eq(d:milliseconds(), 5445500)
	t.eq(time.parse_duration("1500ms"):seconds(), 1.5)
	t.eq(time.parse_duration("2m"):minutes(), 2)
	t.eq(time.parse_duration("3h"):hours(), 3)
	t.eq(time.parse_duration("7us"):microseconds(), 7)
	t.eq(time.parse_duration("9ns"):nanoseconds(), 9)
	t.eq(time.parse_duration("1.5s"):milliseconds(), 1500)
end

function T.parse_duration_errors()
	local d, err = time.parse_duration("bogus")
	t.err(d, err, errors.INVALID)
	d, err = time.parse_duration("")
	t.err(d, err, errors.INVALID)
	d, err = time.parse_duration("10")
	t.err(d, err, errors.INVALID, "")
	d, err = time.parse_duration("5 parsecs")
	t.err(d, err, errors.INVALID)
end

function T.parse_duration_number()
	local d = time.parse_duration(2500000)
	t.eq(d:microseconds(), 2500, "a number is nanoseconds")
	t.eq(d:nanoseconds(), 2500000)
end

function T.now_moves_forward()
	local a = time.now()
	time.sleep("2ms")
	local b = time.now()
	t.ok(b:after(a), "later")
	t.ok(a:before(b), "earlier")
	t.ok(b:sub(a):nanoseconds() > 0)
end

function T.unix_and_format()
	local e = time.unix(0, 0)
	t.eq(e:unix(), 0)
	t.eq(e:utc():format_rfc3339(), "1970-01-01T00:00:00Z")
	local d = time.unix(86400 + 3600, 0):utc()
	t.eq(d:year(), 1970)
	t.eq(d:day(), 2)
	t.eq(d:hour(), 1)
end

function T.time_add()
	local base = time.unix(1000, 0)
	local later = base:add(time.parse_duration("1m"))
	t.eq(later:unix(), 1060)
	t.eq(later:sub(base):seconds(), 60)
	t.ok(later:equal(time.unix(1060, 0)))
end

-- t:is_zero() is Go's IsZero: the zero Time is 0001-01-01 00:00:00 UTC.
function T.time_is_zero()
	t.eq(time.date(1, 1, 1, 0, 0, 0, 0, time.utc):is_zero(), true, "Go's zero time")
	t.eq(time.unix(0, 0):is_zero(), false, "the unix epoch is not zero")
	t.eq(time.now():is_zero(), false)
	t.eq(time.date(1, 1, 1, 0, 0, 0, 1, time.utc):is_zero(), false, "one nanosecond later")
	t.eq(time.date(1, 1, 1, 0, 0, 0, 0, time.utc):in_location(time.fixed_zone("P", 3600)):is_zero(),
		true, "the same instant in another zone")
	t.raises(function() return time.now().is_zero("x") end, "bad argument #1")
end

-- load_location(""): the original's Invalid error, where Go alone would
-- give UTC; an unknown zone is NotFound. Neither is retryable.
function T.load_location_errors()
	local l, err = time.load_location("")
	t.err(l, err, errors.INVALID, "empty location name")
	t.eq(err:message(), "empty location name")
	t.eq(err:retryable(), false)
	l, err = time.load_location("Invalid/Location")
	t.err(l, err, errors.NOT_FOUND, "unknown time zone Invalid/Location")
	t.eq(err:retryable(), false)
	t.eq(time.load_location("UTC"):string(), "UTC")
	t.raises(function() time.load_location() end, "bad argument #1")
	t.raises(function() time.load_location({}) end, "bad argument #1")
end

return T
