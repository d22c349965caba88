-- Consumer functions of the queue tests. Each reports to the process named
-- in the message body (data.reply) with topic data.topic or "done".
local queue = require("queue")
local time = require("time")
local h = {}

local function report(data, v)
	process.send(data.reply, data.topic or "done", v)
end

function h.handle(data)
	local msg = assert(queue.message())
	report(data, {id = msg:id(), k = msg:header("k"), missing = msg:header("nope"),
		headers = msg:headers(), data = data.value})
	return true
end

-- Nacks its first delivery by hand, then acks.
function h.nack_once(data)
	local msg = queue.message()
	local attempts = msg:header("attempts")
	if attempts == 1 then
		local ok, err = msg:nack()
		local again, aerr = msg:ack()
		report(data, {attempts = attempts, ok = ok, again = again,
			again_err = aerr and aerr:message() or nil, kind = aerr and aerr:kind() or nil})
		return true
	end
	report(data, {attempts = attempts})
end

-- Fails (returns an error) until its third delivery.
function h.fail_twice(data)
	local attempts = queue.message():header("attempts")
	if attempts < 3 then
		report(data, {attempts = attempts, failed = true})
		return nil, errors.new({message = "not yet", kind = errors.UNAVAILABLE})
	end
	report(data, {attempts = attempts})
end

-- Raises on its first delivery.
function h.raise_once(data)
	local attempts = queue.message():header("attempts")
	report(data, {attempts = attempts})
	if attempts == 1 then error("handler blew up") end
end

function h.slow(data)
	time.sleep("60ms")
	report(data, {value = data.value})
end

-- Keeps its Message past the handler and uses it later.
function h.keep(data)
	local msg = queue.message()
	coroutine.spawn(function()
		time.sleep("20ms")
		local id, err = msg:id()
		local ok, aerr = msg:ack()
		report(data, {id = id, err = err and err:message() or nil,
			kind = err and err:kind() or nil, ack_err = aerr and aerr:message() or nil})
	end)
	return true
end

-- A nested plain call has no delivery.
function h.nested(data)
	local funcs = require("funcs")
	local v = funcs.call("test.queue:probe")
	report(data, v)
end

function h.probe()
	local msg, err = queue.message()
	return {has = msg ~= nil, err = err and err:message() or nil}
end

return h
