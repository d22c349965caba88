-- Helpers of test.pg, run as their own processes.
local sql = require("sql")
local time = require("time")

-- Begin a transaction, write a row, lock the `locks` row, tell the parent
-- and wait to be terminated with all of it open.
local function hold_tx(parent, tag)
	local db = assert(sql.get("test.pg:db"))
	local tx = assert(db:begin())
	assert(tx:execute("INSERT INTO held (tag) VALUES (?)", {tag}))
	assert(tx:query("SELECT id FROM locks WHERE id = 1 FOR UPDATE"))
	process.send(parent, "ready", tag)
	time.sleep("60s")
	return 0
end

-- Tell the parent, then sleep in the server (in a transaction or not)
-- until terminated.
local function sleeper(parent, in_tx)
	local db = assert(sql.get("test.pg:db"))
	local on = db
	if in_tx then on = assert(db:begin()) end
	process.send(parent, "ready", in_tx)
	local rows, err = on:query("SELECT pg_sleep(30), 'sleeper' AS who")
	process.send(parent, "finished", err and tostring(err) or "ok")
	return 0
end

-- One of many concurrent processes: a few writes and reads, then the sum
-- of what it sees of its own rows.
local function worker(parent, i)
	local db = assert(sql.get("test.pg:db"))
	for j = 1, 5 do
		local r, err = db:execute("INSERT INTO conc (w, v) VALUES (?, ?)", {i, j})
		if err then
			process.send(parent, "done", {i = i, err = tostring(err)})
			return 1
		end
	end
	local rows, err = db:query("SELECT sum(v)::int8 AS s, count(*) AS n FROM conc WHERE w = ?", {i})
	if err then
		process.send(parent, "done", {i = i, err = tostring(err)})
		return 1
	end
	process.send(parent, "done", {i = i, s = rows[1].s, n = rows[1].n})
	return 0
end

return { hold_tx = hold_tx, sleeper = sleeper, worker = worker }
