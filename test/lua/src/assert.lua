-- test:assert, imported as "t": assertions that raise with both values
-- shown, so a failing test names what it expected and what it got.
local t = {}

local function show(v)
	if type(v) == "string" then
		return string.format("%q", v)
	end
	return tostring(v)
end

local function fail(msg, level)
	error(msg, (level or 1) + 2)
end

-- t.eq(got, want [, what]): raw equality.
function t.eq(got, want, what)
	if got ~= want then
		fail(string.format("%s: got %s, want %s", what or "value", show(got), show(want)))
	end
	return got
end

function t.ok(cond, what)
	if not cond then
		fail((what or "condition") .. " is not true")
	end
	return cond
end

function t.is_nil(v, what)
	if v ~= nil then
		fail(string.format("%s: got %s, want nil", what or "value", show(v)))
	end
end

-- t.match(s, pattern [, what]): s is a string matching the Lua pattern.
function t.match(s, pat, what)
	if type(s) ~= "string" or not s:find(pat) then
		fail(string.format("%s: %s does not match /%s/", what or "string", show(s), pat))
	end
	return s
end

-- t.contains(s, plain [, what]): s contains the plain substring.
function t.contains(s, sub, what)
	s = tostring(s)
	if not s:find(sub, 1, true) then
		fail(string.format("%s: %s does not contain %s", what or "string", show(s), show(sub)))
	end
	return s
end

-- t.err(v, err, kind [, text]): a `nil, err` return with that error kind
-- (and message containing text, when given).
function t.err(v, err, kind, text)
	if v ~= nil and v ~= false then
		fail("expected a failure, got value " .. show(v))
	end
	if err == nil then
		fail("expected an error, got nil")
	end
	if type(err) ~= "userdata" or err.kind == nil then
		fail("expected an error object, got " .. type(err) .. " " .. show(err))
	end
	if kind and err:kind() ~= kind then
		fail(string.format("error kind: got %s, want %s (%s)", err:kind(), kind, err:message()))
	end
	if text and not tostring(err):find(text, 1, true) then
		fail(string.format("error message %s does not contain %s", show(tostring(err)), show(text)))
	end
	return err
end

-- t.raises(fn, text): fn raises an error whose text contains `text`.
function t.raises(fn, text, ...)
	local ok, e = pcall(fn, ...)
	if ok then
		fail("expected an error containing " .. show(text) .. ", none raised")
	end
	if text and not tostring(e):find(text, 1, true) then
		fail(string.format("raised %s, want it to contain %s", show(tostring(e)), show(text)))
	end
	return e
end

-- Deep equality of plain values (tables compared key by key).
function t.same(a, b)
	if type(a) ~= type(b) then return false end
	if type(a) ~= "table" then return a == b end
	for k, v in pairs(a) do
		if not t.same(v, b[k]) then return false end
	end
	for k in pairs(b) do
		if a[k] == nil then return false end
	end
	return true
end

function t.deq(got, want, what)
	if not t.same(got, want) then
		fail(string.format("%s: tables differ", what or "value"))
	end
	return got
end

-- t.recv(ch, timeout): receive from ch or fail after timeout (a duration
-- string, default "5s"). Needs the time module in the caller's entry;
-- the caller passes it in to keep this library free of requires.
function t.recv(time, ch, timeout)
	local r = channel.select{ch:case_receive(), time.after(timeout or "5s"):case_receive()}
	if r.channel ~= ch then
		fail("timed out waiting on a channel", 1)
	end
	return r.value, r.ok
end

-- t.event(time, kind [, from]): the next lifecycle event of that kind
-- (others are skipped), or fail after 5 s.
function t.event(time, kind, from, timeout)
	local events = process.events()
	local deadline = time.after(timeout or "5s")
	while true do
		local r = channel.select{events:case_receive(), deadline:case_receive()}
		if r.channel ~= events then
			fail("timed out waiting for event " .. kind, 1)
		end
		local ev = r.value
		if ev.kind == kind and (from == nil or ev.from == from) then
			return ev
		end
	end
end

-- t.msg(time, topic [, timeout]): the next inbox message with that topic
-- (messages with other topics are dropped), or fail after the timeout.
function t.msg(time, topic, timeout)
	local inbox = process.inbox()
	local deadline = time.after(timeout or "5s")
	while true do
		local r = channel.select{inbox:case_receive(), deadline:case_receive()}
		if r.channel ~= inbox then
			fail("timed out waiting for a message with topic " .. topic, 1)
		end
		if r.value:topic() == topic then
			return r.value
		end
	end
end

-- t.quiet(time, ch, dur): nothing arrives on ch for dur.
function t.quiet(time, ch, dur, what)
	local r = channel.select{ch:case_receive(), time.after(dur):case_receive()}
	if r.channel == ch then
		local v = r.value
		if type(v) == "table" and v.kind then v = v.kind end
		if type(v) == "userdata" and v.topic then v = v:topic() end
		fail(string.format("%s: expected nothing, got %s", what or "channel", show(v)), 1)
	end
end

return t
