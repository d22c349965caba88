-- test.pg: require("sql") on db.sql.postgres (the original's lib/pq
-- driver): types both ways, NULL, placeholders, statements, transactions
-- with savepoints, errors with their kinds (constraints, syntax, failed
-- transactions, authentication, a closed port), 100 processes at once,
-- processes killed with a transaction open or a query running (no leaked
-- connection, as pg_stat_activity sees it), and reconnecting after the
-- server dropped the connections.
local t = require("t")
local sql = require("sql")
local time = require("time")

local T = {}

local function db(name)
	local d, err = sql.get("test.pg:" .. (name or "db"))
	t.is_nil(err, "sql.get error")
	return d
end

local function fresh(d, name, cols)
	assert(d:execute("DROP TABLE IF EXISTS " .. name))
	local r, err = d:execute("CREATE TABLE " .. name .. " (" .. cols .. ")")
	t.is_nil(err, "create " .. name)
	return r
end

-- Backends of our pool other than the one asking, by state.
local function backends(d, state)
	local rows = assert(d:query([[SELECT count(*) AS n FROM pg_stat_activity
		WHERE application_name = 'wippy_it' AND pid <> pg_backend_pid() AND state = ?]], {state}))
	return rows[1].n
end

-- Poll cond() for up to secs.
local function eventually(secs, cond, what)
	for _ = 1, secs * 20 do
		if cond() then return end
		time.sleep("50ms")
	end
	error(what .. ": still not true after " .. secs .. "s")
end

function T.get_and_type()
	local d = db()
	local ty, err = d:type()
	t.is_nil(err)
	t.eq(ty, "postgres")
	t.eq(ty, sql.type.POSTGRES)
	t.contains(tostring(d), "test.pg:db")
	local rows = assert(d:query("SELECT current_setting('application_name') AS app, current_setting('search_path') AS sp"))
	t.eq(rows[1].app, "wippy_it", "a libpq option")
	t.eq(rows[1].sp, "wippy_s,public", "a run-time parameter, as lib/pq passes unknown keys")
end

function T.bad_config()
	local d, err = sql.get("test.pg:no_user")
	t.err(d, err, errors.INVALID, "username is empty")
	d, err = sql.get("test.pg:nope")
	t.err(d, err, errors.NOT_FOUND, "test.pg:nope")
end

function T.types_roundtrip()
	local d = db()
	fresh(d, "types", [[id serial PRIMARY KEY, i8 int8, i4 int4, i2 int2, f8 float8, f4 float4,
		num numeric(10,2), b bool, txt text, vc varchar(10), by bytea, js json, jb jsonb,
		ts timestamp, tstz timestamptz, d date, tm time, u uuid]])
	local bin = "\0\1\2\255ab"
	local r, err = d:execute([[INSERT INTO types (i8, i4, i2, f8, f4, num, b, txt, vc, by, js, jb, ts, tstz, d, tm, u)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]],
		{9007199254740993, 42, sql.as.int(7), 1.5, sql.as.float(2), "12.5", true, "hé 'q'", sql.as.text(12345),
		 sql.as.binary(bin), '{"a": 1}', '{"b": [1, 2]}', "2024-01-02 03:04:05.25",
		 "2024-01-02 03:04:05+00", "2024-02-29", "13:14:15", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"})
	t.is_nil(err, "insert")
	t.eq(r.rows_affected, 1)
	t.eq(r.last_insert_id, 0, "lib/pq has no last insert id")
	local rows = assert(d:query("SELECT * FROM types"))
	local row = rows[1]
	t.eq(row.i8, 9007199254740993)
	t.eq(math.type(row.i8), "integer")
	t.eq(row.i4, 42)
	t.eq(row.i2, 7)
	t.eq(row.f8, 1.5)
	t.eq(math.type(row.f4), "float")
	t.eq(row.f4, 2.0)
	t.eq(row.num, "12.50", "numeric is text")
	t.eq(row.b, true)
	t.eq(row.txt, "hé 'q'")
	t.eq(row.vc, "12345")
	t.eq(row.by, bin, "bytea bytes")
	t.eq(row.js, '{"a": 1}')
	t.eq(row.jb, '{"b": [1, 2]}')
	t.eq(row.ts, "2024-01-02 03:04:05.25 +0000 +0000", "timestamp, as Go prints a time.Time")
	t.eq(row.tstz, "2024-01-02 03:04:05 +0000 UTC")
	t.eq(row.d, "2024-02-29 00:00:00 +0000 +0000")
	t.eq(row.tm, "0000-01-01 13:14:15 +0000 UTC")
	t.eq(row.u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
	-- booleans go as true/false, so a bool column takes them and an
	-- integer one refuses them (lib/pq sends them the same way)
	rows = assert(d:query("SELECT ?::bool AS yes, ?::bool AS no, ?::int8 + 1 AS n, ?::float8 * 2 AS f",
		{true, false, 41, 0.25}))
	t.eq(rows[1].yes, true)
	t.eq(rows[1].no, false)
	t.eq(rows[1].n, 42)
	t.eq(rows[1].f, 0.5)
	rows = assert(d:query("SELECT 'NaN'::float8 AS nan, 'Infinity'::float8 AS inf, 1e300::float8 * 10 AS big"))
	t.ok(rows[1].nan ~= rows[1].nan, "NaN")
	t.eq(rows[1].inf, math.huge)
	rows = assert(d:query("SELECT 'infinity'::timestamp AS ti, '{1,2}'::int[] AS arr, 5::oid AS o"))
	t.eq(rows[1].ti, "infinity")
	t.eq(rows[1].arr, "{1,2}")
	t.eq(rows[1].o, "5")
	-- a Lua string with a NUL goes as bytes (binary format)
	rows = assert(d:query("SELECT length(?::bytea) AS n", {sql.as.binary("a\0b")}))
	t.eq(rows[1].n, 3)
end

function T.nulls()
	local d = db()
	fresh(d, "nulls", "a int, b text, c bool")
	assert(d:execute("INSERT INTO nulls VALUES (?, ?, ?)", {nil, sql.NULL, sql.as.null()}))
	assert(d:execute("INSERT INTO nulls VALUES (1, ?, NULL)", {"x"}))
	local rows = assert(d:query("SELECT a, b, c FROM nulls ORDER BY a NULLS FIRST"))
	t.eq(#rows, 2)
	t.is_nil(rows[1].a, "NULL is absent")
	t.is_nil(rows[1].b)
	t.is_nil(rows[1].c)
	t.eq(rows[2].a, 1)
	t.eq(rows[2].b, "x")
	-- holes in the parameter table are NULLs
	rows = assert(d:query("SELECT ?::int IS NULL AS a, ?::int AS b", {[2] = 5}))
	t.eq(rows[1].a, true)
	t.eq(rows[1].b, 5)
end

function T.placeholders()
	local d = db()
	local rows = assert(d:query("SELECT ?::text AS a, '?' AS lit, $x$?$x$ AS dq, \"?\" FROM (SELECT 1 AS \"?\") s -- ?\n WHERE ? = 1",
		{"one", 1}))
	t.eq(rows[1].a, "one")
	t.eq(rows[1].lit, "?")
	t.eq(rows[1].dq, "?")
	rows = assert(d:query("SELECT $1::int + $2::int AS s", {2, 3}))
	t.eq(rows[1].s, 5, "$n works too")
	rows = assert(d:query([[SELECT '{"a":1}'::jsonb ?| array['a'] AS any, '{"a":1}'::jsonb ?& array['a','b'] AS all_, ?::int AS p]], {7}))
	t.eq(rows[1].any, true, "?| is the jsonb operator")
	t.eq(rows[1].all_, false)
	t.eq(rows[1].p, 7)
	local r, err = d:query("SELECT ?::int AS a, ?::int AS b", {1})
	t.err(r, err, errors.INVALID)
	local r2, err2 = d:query("SELECT 1", "nope")
	t.err(r2, err2, errors.INVALID, "parameters must be a table")
	r2, err2 = d:query("SELECT ?", {x = 1})
	t.err(r2, err2, errors.INVALID, "positional")
	r2, err2 = d:query("SELECT ?", {{}})
	t.err(r2, err2, errors.INVALID, "unsupported parameter type")
end

function T.multiple_statements()
	local d = db()
	local r = assert(d:execute("DROP TABLE IF EXISTS ms; CREATE TABLE ms (x int); INSERT INTO ms VALUES (1), (2), (3)"))
	t.eq(r.rows_affected, 3, "the last command's count")
	local rows = assert(d:query("SELECT 'first' AS which; SELECT 'second' AS which"))
	t.eq(rows[1].which, "first", "rows of the first statement with rows")
	local _, err = d:execute("INSERT INTO ms VALUES (?); INSERT INTO ms VALUES (?)", {1, 2})
	t.err(nil, err, errors.INVALID, "cannot insert multiple commands into a prepared statement")
	r = assert(d:execute("UPDATE ms SET x = x + 1"))
	t.eq(r.rows_affected, 3)
	r = assert(d:execute("SELECT * FROM ms"))
	t.eq(r.rows_affected, 3, "SELECT n")
	rows = assert(d:query("SELECT 1 AS a WHERE false"))
	t.eq(#rows, 0)
	rows, err = d:query("")
	t.is_nil(err, "an empty query")
	t.eq(#rows, 0)
	-- COPY is a protocol of its own: refused, the connection dropped
	r, err = d:query("COPY (SELECT 1) TO STDOUT")
	t.err(r, err, errors.INVALID, "COPY is not supported")
	t.eq(assert(d:query("SELECT 6 AS n"))[1].n, 6, "the pool goes on")
end

function T.prepared()
	local d = db()
	fresh(d, "prep", "k int PRIMARY KEY, v text")
	local ins, err = d:prepare("INSERT INTO prep (k, v) VALUES (?, ?)")
	t.is_nil(err)
	for i = 1, 5 do
		local r = assert(ins:execute({i, "v" .. i}))
		t.eq(r.rows_affected, 1)
	end
	local sel = assert(d:prepare("SELECT v FROM prep WHERE k = $1"))
	t.eq(assert(sel:query({3}))[1].v, "v3")
	t.eq(assert(sel:query({5}))[1].v, "v5")
	local r
	r, err = ins:execute({1, "dup"})
	t.err(r, err, errors.CONFLICT, "stmt execute: pq: duplicate key")
	t.eq(assert(ins:close()), true)
	r, err = ins:execute({9, "x"})
	t.err(r, err, errors.INVALID, "statement is closed")
	r, err = ins:close()
	t.err(r, err, errors.INVALID, "statement is closed")
	r, err = d:prepare("SELEC 1")
	t.err(r, err, errors.INVALID, "prepare: pq: syntax error")
	r, err = d:prepare("SELECT * FROM no_such_table")
	t.err(r, err, errors.INVALID, "does not exist")
	t.eq(err:details().sqlstate, "42P01")
end

function T.transactions()
	local d = db()
	fresh(d, "acct", "id int PRIMARY KEY, bal int")
	assert(d:execute("INSERT INTO acct VALUES (1, 100), (2, 0)"))
	local tx, err = d:begin()
	t.is_nil(err)
	t.eq(assert(tx:db_type()), "postgres")
	assert(tx:execute("UPDATE acct SET bal = bal - ? WHERE id = ?", {30, 1}))
	assert(tx:execute("UPDATE acct SET bal = bal + ? WHERE id = ?", {30, 2}))
	t.eq(assert(tx:query("SELECT bal FROM acct WHERE id = 2"))[1].bal, 30, "the tx sees its writes")
	local st = assert(tx:prepare("SELECT bal FROM acct WHERE id = ?"))
	t.eq(assert(st:query({1}))[1].bal, 70)
	t.eq(assert(tx:commit()), true)
	local r
	r, err = st:query({1})
	t.err(r, err, errors.INVALID, "statement is closed")
	r, err = tx:commit()
	t.err(r, err, errors.INVALID, "transaction is not active")
	r, err = tx:query("SELECT 1")
	t.err(r, err, errors.INVALID, "transaction is not active")
	t.eq(assert(d:query("SELECT bal FROM acct WHERE id = 1"))[1].bal, 70, "committed")

	tx = assert(d:begin())
	assert(tx:execute("DELETE FROM acct"))
	t.eq(assert(tx:rollback()), true)
	t.eq(assert(d:query("SELECT count(*) AS n FROM acct"))[1].n, 2, "rolled back")
	r, err = tx:rollback()
	t.err(r, err, errors.INVALID, "transaction is not active")
end

function T.read_only_and_isolation()
	local d = db()
	fresh(d, "ro", "x int")
	local tx = assert(d:begin({isolation = sql.isolation.SERIALIZABLE, read_only = true}))
	t.eq(assert(tx:query("SHOW transaction_isolation"))[1].transaction_isolation, "serializable")
	local r, err = tx:execute("INSERT INTO ro VALUES (1)")
	t.err(r, err, errors.INVALID, "read-only transaction")
	t.eq(err:details().sqlstate, "25006")
	assert(tx:rollback())
	tx = assert(d:begin({isolation = "repeatable_read"}))
	t.eq(assert(tx:query("SHOW transaction_isolation"))[1].transaction_isolation, "repeatable read")
	assert(tx:commit())
	r, err = d:begin({isolation = "bogus"})
	t.err(r, err, errors.INVALID, "invalid isolation level")
	r, err = d:begin({isolation = "write_committed"})
	t.err(r, err, errors.INVALID, "isolation level not supported")
end

function T.savepoints()
	local d = db()
	fresh(d, "sp", "x int")
	local tx = assert(d:begin())
	assert(tx:execute("INSERT INTO sp VALUES (1)"))
	t.eq(assert(tx:savepoint("a")), true)
	assert(tx:execute("INSERT INTO sp VALUES (2)"))
	t.eq(assert(tx:rollback_to("a")), true)
	assert(tx:execute("INSERT INTO sp VALUES (3)"))
	t.eq(assert(tx:savepoint("b")), true)
	-- an error after a savepoint: rolling back to it saves the tx
	local r, err = tx:execute("INSERT INTO nope VALUES (1)")
	t.err(r, err, errors.INVALID)
	assert(tx:rollback_to("b"))
	t.eq(assert(tx:release("b")), true)
	r, err = tx:release("b")
	t.err(r, err, errors.INVALID, "savepoint: pq: savepoint \"b\" does not exist")
	r, err = tx:savepoint("bad name")
	t.err(r, err, errors.INVALID, "alphanumeric")
	r, err = tx:savepoint("")
	t.err(r, err, errors.INVALID, "savepoint name is required")
	assert(tx:rollback())
	tx = assert(d:begin())
	assert(tx:execute("INSERT INTO sp VALUES (1)"))
	assert(tx:savepoint("s1"))
	assert(tx:execute("INSERT INTO sp VALUES (2)"))
	assert(tx:rollback_to("s1"))
	assert(tx:execute("INSERT INTO sp VALUES (3)"))
	assert(tx:commit())
	local rows = assert(d:query("SELECT x FROM sp ORDER BY x"))
	t.eq(#rows, 2)
	t.eq(rows[1].x, 1)
	t.eq(rows[2].x, 3)
end

function T.unique_violation()
	local d = db()
	fresh(d, "uniq", "id int CONSTRAINT uniq_pk PRIMARY KEY, name text NOT NULL")
	assert(d:execute("INSERT INTO uniq VALUES (?, ?)", {1, "a"}))
	local r, err = d:execute("INSERT INTO uniq VALUES (?, ?)", {1, "b"})
	local e = t.err(r, err, errors.CONFLICT, "execute: pq: duplicate key value violates unique constraint \"uniq_pk\"")
	t.eq(e:retryable(), false)
	local det = e:details()
	t.eq(det.sqlstate, "23505")
	t.eq(det.constraint, "uniq_pk")
	t.eq(det.table, "uniq")
	t.contains(det.detail, "Key (id)=(1) already exists")
	r, err = d:execute("INSERT INTO uniq VALUES (2, NULL)")
	t.err(r, err, errors.CONFLICT, "null value")
	t.eq(err:details().column, "name")
	t.eq(assert(d:query("SELECT count(*) AS n FROM uniq"))[1].n, 1, "the connection goes on")
end

function T.syntax_errors()
	local d = db()
	local r, err = d:query("SELEC 1")
	t.err(r, err, errors.INVALID, "query: pq: syntax error at or near \"SELEC\"")
	t.eq(err:details().sqlstate, "42601")
	r, err = d:execute("SELECT * FROM nowhere_at_all")
	t.err(r, err, errors.INVALID, "relation \"nowhere_at_all\" does not exist")
	r, err = d:query("SELECT 1/0")
	t.err(r, err, errors.INVALID, "division by zero")
	r, err = d:query("SELECT ?::int", {"abc"})
	t.err(r, err, errors.INVALID, "invalid input syntax")
	t.eq(assert(d:query("SELECT 2 AS two"))[1].two, 2, "usable afterwards")
end

-- An error inside a transaction fails it: later statements are refused,
-- and commit rolls back with lib/pq's error.
function T.failed_tx_commit()
	local d = db()
	fresh(d, "ftx", "x int")
	local tx = assert(d:begin())
	assert(tx:execute("INSERT INTO ftx VALUES (1)"))
	local r, err = tx:query("SELEC 1")
	t.err(r, err, errors.INVALID)
	r, err = tx:query("SELECT 1")
	t.err(r, err, errors.INVALID, "current transaction is aborted")
	t.eq(err:details().sqlstate, "25P02")
	r, err = tx:commit()
	t.err(r, err, errors.INVALID, "tx commit: pq: Could not complete operation in a failed transaction")
	t.eq(assert(d:query("SELECT count(*) AS n FROM ftx"))[1].n, 0)
end

-- A transaction's writes are its own until commit, and other callers run
-- meanwhile on other connections of the pool.
function T.tx_isolates_others()
	local d = db()
	fresh(d, "iso", "x int")
	local tx = assert(d:begin())
	assert(tx:execute("INSERT INTO iso VALUES (1)"))
	t.eq(assert(d:query("SELECT count(*) AS n FROM iso"))[1].n, 0, "not visible outside")
	local ch = channel.new(5)
	for i = 1, 5 do
		coroutine.spawn(function()
			local rows, err = d:query("SELECT ?::int AS i", {i})
			ch:send(err == nil and rows[1].i or -1)
		end)
	end
	local sum = 0
	for _ = 1, 5 do sum = sum + t.recv(time, ch) end
	t.eq(sum, 15)
	assert(tx:commit())
	t.eq(assert(d:query("SELECT count(*) AS n FROM iso"))[1].n, 1, "visible after commit")
end

function T.hundred_processes()
	local d = db()
	fresh(d, "conc", "w int, v int")
	local pids = {}
	for i = 1, 100 do
		pids[i] = process.spawn_monitored("test.pg:worker", "test:procs", process.pid(), i)
	end
	local got = 0
	for _ = 1, 100 do
		local m = t.msg(time, "done", "30s"):payload():data()
		t.is_nil(m.err, "worker " .. tostring(m.i))
		t.eq(m.s, 15)
		t.eq(m.n, 5)
		got = got + 1
	end
	t.eq(got, 100)
	t.eq(assert(d:query("SELECT count(*) AS n FROM conc"))[1].n, 500)
	local s = assert(d:stats())
	t.eq(s.max_open_connections, 4)
	t.ok(s.open_connections <= 4, "the pool holds at most max_open: " .. s.open_connections)
	t.ok(s.wait_count > 0, "callers waited for connections")
end

-- A process terminated with a transaction open: its writes are rolled
-- back, its locks released, its connection goes back to the pool (not
-- "idle in transaction"), the runtime goes on.
function T.killed_with_open_tx()
	local d = db()
	fresh(d, "held", "tag text")
	fresh(d, "locks", "id int PRIMARY KEY")
	assert(d:execute("INSERT INTO locks VALUES (1)"))
	for round = 1, 2 do
		local pid = process.spawn_monitored("test.pg:hold_tx", "test:procs", process.pid(), "r" .. round)
		t.msg(time, "ready", "10s")
		t.eq(backends(d, "idle in transaction"), 1, "the holder's transaction is open")
		t.eq(process.terminate(pid), true)
		t.event(time, process.event.EXIT, pid)
		eventually(5, function() return backends(d, "idle in transaction") == 0 end,
			"the transaction ended")
		t.eq(assert(d:query("SELECT count(*) AS n FROM held"))[1].n, 0, "rolled back")
		-- the lock is free: take it with NOWAIT
		local tx = assert(d:begin())
		local rows, err = tx:query("SELECT id FROM locks WHERE id = 1 FOR UPDATE NOWAIT")
		t.is_nil(err, "the lock was released")
		t.eq(rows[1].id, 1)
		assert(tx:rollback())
	end
	local s = assert(d:stats())
	t.ok(s.open_connections <= 4, "no connection leaked: " .. s.open_connections)
	eventually(5, function() return d:stats().in_use == 0 end, "every connection back in the pool")
end

-- A process terminated while its query runs in the server, in a
-- transaction or not: the query is cancelled at once (its state's close
-- asks the server), the connection goes back to the pool.
function T.killed_mid_query()
	local d = db()
	for _, in_tx in ipairs({true, false}) do
		local what = in_tx and "in a transaction" or "outside one"
		local pid = process.spawn_monitored("test.pg:sleeper", "test:procs", process.pid(), in_tx)
		t.msg(time, "ready", "10s")
		eventually(5, function() return backends(d, "active") >= 1 end, what .. ": the sleep runs")
		t.eq(process.terminate(pid), true)
		t.event(time, process.event.EXIT, pid)
		eventually(3, function() return backends(d, "active") == 0 end, what .. ": the sleep was cancelled")
		eventually(5, function() return backends(d, "idle in transaction") == 0 end, what .. ": rolled back")
		t.eq(assert(d:query("SELECT 3 AS n"))[1].n, 3)
		eventually(5, function() return d:stats().in_use == 0 end, what .. ": every connection back in the pool")
	end
end

function T.auth_and_connection_errors()
	local d = db("wrong_password")
	local r, err = d:query("SELECT 1")
	local e = t.err(r, err, errors.PERMISSION_DENIED, "password authentication failed")
	t.eq(e:retryable(), false)
	d = db("closed_port")
	r, err = d:query("SELECT 1")
	e = t.err(r, err, errors.UNAVAILABLE, "Connection refused")
	t.eq(e:retryable(), true)
	r, err = d:execute("SELECT 1")
	t.err(r, err, errors.UNAVAILABLE, "execute: ")
	r, err = d:begin()
	t.err(r, err, errors.UNAVAILABLE, "begin: ")
	t.eq(d:stats().open_connections, 0, "nothing kept of a failed connection")
	d = db("no_such_db")
	r, err = d:query("SELECT 1")
	t.err(r, err, errors.NOT_FOUND, "database \"nope\" does not exist")
end

-- The server closes every connection of the pool: the next calls open
-- new ones (a query sent on a connection that turns out dead is retried
-- once on a fresh one, as database/sql does with driver.ErrBadConn).
function T.reconnect_after_server_kill()
	local d = db()
	local ch = channel.new(4)
	for i = 1, 4 do
		coroutine.spawn(function()
			local rows, err = d:query("SELECT pg_sleep(0.1), ?::int AS i", {i})
			ch:send(err == nil and rows[1].i or -1)
		end)
	end
	local sum = 0
	for _ = 1, 4 do sum = sum + t.recv(time, ch) end
	t.eq(sum, 10)
	local killer = db("dsn")
	local rows = assert(killer:query([[SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
		WHERE application_name = 'wippy_it']]))
	t.ok(rows[1].n >= 1, "killed some connections")
	for i = 1, 8 do
		local got, err = d:query("SELECT ?::int AS i", {i})
		t.is_nil(err, "query " .. i .. " after the kill")
		t.eq(got[1].i, i)
	end
	-- a transaction whose connection dies fails with UNAVAILABLE
	local tx = assert(d:begin())
	assert(killer:query([[SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'wippy_it' AND state = 'idle in transaction']]))
	local r, err = tx:query("SELECT 1")
	t.err(r, err, errors.UNAVAILABLE)
	r, err = tx:commit()
	t.err(r, err, errors.UNAVAILABLE)
	t.eq(assert(d:query("SELECT 4 AS n"))[1].n, 4)
end

-- A server that never answers: connect_timeout ends the wait (libpq's
-- asynchronous connect does not enforce it; the shard's wheel does), and
-- only the caller waited meanwhile.
function T.connect_timeout()
	local d = db("silent")
	local ch = channel.new(1)
	coroutine.spawn(function()
		local r, err = d:query("SELECT 1")
		ch:send(err)
	end)
	local t0 = time.now()
	t.eq(assert(db():query("SELECT 5 AS n"))[1].n, 5, "others go on while it waits")
	local err = t.recv(time, ch, "6s")
	local waited = time.now():sub(t0):seconds()
	t.err(nil, err, errors.UNAVAILABLE, "timeout expired")
	t.ok(waited >= 1.5 and waited < 5, "waited about connect_timeout: " .. waited)
	t.eq(d:stats().open_connections, 0)
end

-- pool.max_idle: past it a connection that falls idle is closed;
-- pool.max_lifetime: an older one is closed after its job.
function T.pool_limits()
	local d = db("small_idle")
	local ch = channel.new(4)
	for i = 1, 4 do
		coroutine.spawn(function()
			local rows, err = d:query("SELECT pg_sleep(0.1), ?::int AS i", {i})
			ch:send(err == nil and rows[1].i or -1)
		end)
	end
	local sum = 0
	for _ = 1, 4 do sum = sum + t.recv(time, ch) end
	t.eq(sum, 10)
	local s = assert(d:stats())
	t.eq(s.open_connections, 1, "one idle connection kept on this shard (max_idle 2 over 2 shards)")
	t.eq(s.max_idle_closed, 3)
	time.sleep("1100ms")
	assert(d:query("SELECT 1"))
	s = assert(d:stats())
	t.eq(s.max_lifetime_closed, 1, "closed past max_lifetime")
	t.eq(s.open_connections, 0)
	t.eq(assert(d:query("SELECT 2 AS n"))[1].n, 2, "and a new one opened")
end

function T.env_and_dsn()
	local rows = assert(db("from_env"):query("SELECT current_setting('application_name') AS a"))
	t.eq(rows[1].a, "wippy_it_env", "port and password from env variables")
	rows = assert(db("dsn"):query("SELECT current_setting('application_name') AS a"))
	t.eq(rows[1].a, "wippy_it_dsn")
end

function T.release_and_stats()
	local d = db()
	assert(d:query("SELECT 1"))
	local s, err = d:stats()
	t.is_nil(err)
	t.eq(s.max_open_connections, 4)
	t.ok(s.open_connections >= 1, "open connections")
	t.eq(type(s.in_use), "number")
	t.eq(type(s.idle), "number")
	t.eq(type(s.wait_count), "number")
	t.eq(s.wait_duration, "0s")
	t.eq(assert(d:release()), true)
	local r
	r, err = d:query("SELECT 1")
	t.err(r, err, errors.INVALID, "released")
	r, err = d:begin()
	t.err(r, err, errors.INVALID, "released")
	r, err = d:prepare("SELECT 1")
	t.err(r, err, errors.INVALID, "released")
	t.eq(assert(db():query("SELECT 1 AS one"))[1].one, 1, "a fresh handle works")
end

return T
