-- test.sql: require("sql") on SQLite (the original's runtime/lua/modules/sql):
-- sql.get, db:query/execute/prepare/begin/release/stats/type, statements,
-- transactions with savepoints, the sql.as casts and the error paths
-- (bad ids, SQL errors, constraints, closed handles) with their kinds.
local t = require("t")
local sql = require("sql")

local T = {}

local function mem()
	local db, err = sql.get("test.sql:mem")
	t.is_nil(err, "sql.get error")
	return db
end

local function file()
	local db, err = sql.get("test.sql:file")
	t.is_nil(err, "sql.get error")
	return db
end

local function fresh(db, name, cols)
	assert(db:execute("DROP TABLE IF EXISTS " .. name))
	local r, err = db:execute("CREATE TABLE " .. name .. " (" .. cols .. ")")
	t.is_nil(err, "create " .. name)
	return r
end

function T.get_and_type()
	local db = mem()
	t.eq(type(db), "userdata")
	local ty, err = db:type()
	t.is_nil(err)
	t.eq(ty, "sqlite")
	t.eq(ty, sql.type.SQLITE)
	t.eq(sql.type.POSTGRES, "postgres")
	t.eq(sql.type.MYSQL, "mysql")
	t.eq(sql.type.UNKNOWN, "unknown")
	t.eq(sql.isolation.SERIALIZABLE, "serializable")
	t.eq(sql.isolation.READ_COMMITTED, "read_committed")
	t.contains(tostring(db), "test.sql:mem")
end

function T.get_bad_ids()
	local db, err = sql.get("test.sql:nope")
	t.err(db, err, errors.NOT_FOUND, "test.sql:nope")
	db, err = sql.get("")
	t.err(db, err, errors.INVALID, "resource id is required")
	db, err = sql.get("test.sql:not_a_db")
	t.err(db, err, errors.INVALID, "not a database")
	t.raises(function() sql.get() end, "bad argument")
end

function T.execute_and_query()
	local db = mem()
	fresh(db, "people", "id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER, score REAL, note TEXT")
	local r, err = db:execute("INSERT INTO people (name, age, score) VALUES (?, ?, ?)", {"ann", 31, 1.5})
	t.is_nil(err)
	t.eq(r.rows_affected, 1, "rows_affected")
	t.eq(r.last_insert_id, 1, "last_insert_id")
	r = assert(db:execute("INSERT INTO people (name, age, score) VALUES (?, ?, ?)", {"bob", 40, 2}))
	t.eq(r.last_insert_id, 2)
	local rows
	rows, err = db:query("SELECT id, name, age, score, note FROM people ORDER BY id")
	t.is_nil(err)
	t.eq(#rows, 2, "row count")
	t.eq(rows[1].name, "ann")
	t.eq(rows[1].age, 31)
	t.eq(math.type(rows[1].age), "integer")
	t.eq(rows[1].score, 1.5)
	t.is_nil(rows[1].note, "NULL column is absent")
	t.eq(math.type(rows[2].score), "float", "REAL column reads as float")
	r = assert(db:execute("UPDATE people SET age = age + 1"))
	t.eq(r.rows_affected, 2)
	rows = assert(db:query("SELECT count(*) AS n FROM people WHERE age > ?", {35}))
	t.eq(rows[1].n, 1)
end

function T.query_empty_and_no_params()
	local db = mem()
	fresh(db, "empty_t", "x INTEGER")
	local rows, err = db:query("SELECT x FROM empty_t")
	t.is_nil(err)
	t.eq(type(rows), "table")
	t.eq(#rows, 0)
	rows = assert(db:query("SELECT 1 AS one, 'a' AS s, NULL AS n, 2.5 AS f"))
	t.eq(rows[1].one, 1)
	t.eq(rows[1].s, "a")
	t.is_nil(rows[1].n)
	t.eq(rows[1].f, 2.5)
end

function T.param_types()
	local db = mem()
	fresh(db, "vals", "i, f, s, b, n, flag")
	assert(db:execute("INSERT INTO vals VALUES (?, ?, ?, ?, ?, ?)",
		{42, 0.25, "text", sql.as.binary("\0\1\2"), sql.NULL, true}))
	local rows = assert(db:query("SELECT typeof(i) ti, typeof(f) tf, typeof(s) ts, typeof(b) tb, typeof(n) tn, i, f, s, b, flag FROM vals"))
	local r = rows[1]
	t.eq(r.ti, "integer")
	t.eq(r.tf, "real")
	t.eq(r.ts, "text")
	t.eq(r.tb, "blob")
	t.eq(r.tn, "null")
	t.eq(r.b, "\0\1\2", "blob bytes")
	t.eq(r.flag, 1, "true binds as 1")
	-- nil holes up to the largest index bind NULL
	assert(db:execute("DELETE FROM vals"))
	assert(db:execute("INSERT INTO vals (i, f, s) VALUES (?, ?, ?)", {1, nil, "x"}))
	rows = assert(db:query("SELECT typeof(f) tf FROM vals"))
	t.eq(rows[1].tf, "null")
end

function T.as_casts()
	local db = mem()
	fresh(db, "casts", "a, b, c, d, e")
	assert(db:execute("INSERT INTO casts VALUES (?, ?, ?, ?, ?)",
		{sql.as.int(7.9), sql.as.float(3), sql.as.text(12), sql.as.binary("xy"), sql.as.null()}))
	local r = assert(db:query("SELECT typeof(a) ta, a, typeof(b) tb, b, typeof(c) tc, c, typeof(d) td, typeof(e) te FROM casts"))[1]
	t.eq(r.ta, "integer")
	t.eq(r.a, 7, "as.int truncates")
	t.eq(r.tb, "real")
	t.eq(r.b, 3.0)
	t.eq(r.tc, "text")
	t.eq(r.c, "12")
	t.eq(r.td, "blob")
	t.eq(r.te, "null")
	-- Casts of other types give the type's zero (binary: NULL), as the original.
	assert(db:execute("DELETE FROM casts"))
	assert(db:execute("INSERT INTO casts VALUES (?, ?, ?, ?, ?)",
		{sql.as.int("5"), sql.as.float({}), sql.as.text(true), sql.as.binary(5), sql.as.int(nil)}))
	r = assert(db:query("SELECT a, b, c, typeof(d) td, e FROM casts"))[1]
	t.eq(r.a, 0)
	t.eq(r.b, 0.0)
	t.eq(r.c, "")
	t.eq(r.td, "null")
	t.eq(r.e, 0)
end

function T.boolean_column()
	local db = mem()
	fresh(db, "flags", "id INTEGER, on_ BOOLEAN")
	assert(db:execute("INSERT INTO flags VALUES (1, ?), (2, ?)", {true, false}))
	local rows = assert(db:query("SELECT on_ FROM flags ORDER BY id"))
	t.eq(rows[1].on_, true)
	t.eq(rows[2].on_, false)
end

function T.bad_params()
	local db = mem()
	local r, err = db:query("SELECT ?", "notatable")
	t.err(r, err, errors.INVALID, "parameters must be a table")
	r, err = db:execute("SELECT ?", {a = 1})
	t.err(r, err, errors.INVALID, "only positional parameters")
	r, err = db:query("SELECT ?", {function() end})
	t.err(r, err, errors.INVALID, "unsupported parameter type")
	r, err = db:query("SELECT ?, ?", {1})
	t.err(r, err, nil, "expected 2 arguments, got 1")
	t.raises(function() db:query() end, "bad argument")
	t.raises(function() db.query(42, "SELECT 1") end, "bad argument")
end

function T.sql_errors()
	local db = mem()
	local r, err = db:query("SELEC nonsense")
	local e = t.err(r, err, errors.INVALID, "query: ")
	t.contains(e:message(), "syntax error")
	t.eq(e:details().sqlite_code, 1, "SQLITE_ERROR")
	t.eq(e:retryable(), false)
	r, err = db:execute("INSERT INTO no_such_table VALUES (1)")
	e = t.err(r, err, errors.INVALID, "execute: ")
	t.contains(e:message(), "no such table")
end

function T.constraint_violation()
	local db = mem()
	fresh(db, "uniq", "id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL")
	assert(db:execute("INSERT INTO uniq (email) VALUES (?)", {"a@x"}))
	local r, err = db:execute("INSERT INTO uniq (email) VALUES (?)", {"a@x"})
	local e = t.err(r, err, errors.CONFLICT, "UNIQUE constraint failed")
	t.eq(e:details().sqlite_code, 19, "SQLITE_CONSTRAINT")
	t.eq(e:details().sqlite_extended_code, 2067, "SQLITE_CONSTRAINT_UNIQUE")
	r, err = db:execute("INSERT INTO uniq (email) VALUES (NULL)")
	t.err(r, err, errors.CONFLICT, "NOT NULL constraint failed")
	-- the connection is fine afterwards
	local rows = assert(db:query("SELECT count(*) n FROM uniq"))
	t.eq(rows[1].n, 1)
end

function T.multiple_statements()
	local db = mem()
	local r, err = db:execute("DROP TABLE IF EXISTS multi; CREATE TABLE multi (x); INSERT INTO multi VALUES (1); INSERT INTO multi VALUES (2)")
	t.is_nil(err)
	t.eq(r.rows_affected, 1)
	local rows = assert(db:query("SELECT sum(x) s FROM multi"))
	t.eq(rows[1].s, 3)
end

function T.prepared_statements()
	local db = mem()
	fresh(db, "items", "id INTEGER PRIMARY KEY, name TEXT")
	local ins, err = db:prepare("INSERT INTO items (name) VALUES (?)")
	t.is_nil(err)
	for i = 1, 5 do
		local r = assert(ins:execute({"item" .. i}))
		t.eq(r.rows_affected, 1)
		t.eq(r.last_insert_id, i)
	end
	local sel = assert(db:prepare("SELECT name FROM items WHERE id >= ? ORDER BY id"))
	local rows = assert(sel:query({4}))
	t.eq(#rows, 2)
	t.eq(rows[1].name, "item4")
	rows = assert(sel:query({1}))
	t.eq(#rows, 5, "a statement runs again")
	local ok
	ok, err = ins:close()
	t.is_nil(err)
	t.eq(ok, true)
	local r
	r, err = ins:execute({"late"})
	t.err(r, err, errors.INVALID, "statement is closed")
	ok, err = ins:close()
	t.err(ok, err, errors.INVALID, "statement is closed")
	assert(sel:close())
	local all = assert(sel == sel and db:prepare("SELECT count(*) n FROM items"))
	t.eq(assert(all:query())[1].n, 5)
end

function T.prepare_errors()
	local db = mem()
	local st, err = db:prepare("SELECT FROM WHERE")
	t.err(st, err, errors.INVALID, "prepare: ")
	st, err = db:prepare("SELECT * FROM missing_table_xyz")
	t.err(st, err, errors.INVALID, "no such table")
	st = assert(db:prepare("SELECT ? + ?"))
	local r
	r, err = st:query({1})
	t.err(r, err, nil, "stmt query: ")
	r, err = st:query({1, 2})
	t.is_nil(err)
	t.eq(r[1]["? + ?"], 3)
	r, err = st:execute("x")
	t.err(r, err, errors.INVALID, "parameters must be a table")
end

function T.transaction_commit()
	local db = file()
	fresh(db, "acct", "id INTEGER PRIMARY KEY, bal INTEGER")
	assert(db:execute("INSERT INTO acct VALUES (1, 100), (2, 0)"))
	local tx, err = db:begin()
	t.is_nil(err)
	t.eq(tx:db_type(), "sqlite")
	assert(tx:execute("UPDATE acct SET bal = bal - ? WHERE id = ?", {30, 1}))
	assert(tx:execute("UPDATE acct SET bal = bal + ? WHERE id = ?", {30, 2}))
	local rows = assert(tx:query("SELECT bal FROM acct ORDER BY id"))
	t.eq(rows[1].bal, 70)
	local ok
	ok, err = tx:commit()
	t.is_nil(err)
	t.eq(ok, true)
	rows = assert(db:query("SELECT bal FROM acct ORDER BY id"))
	t.eq(rows[1].bal, 70)
	t.eq(rows[2].bal, 30)
	-- a finished transaction refuses everything
	local r
	r, err = tx:execute("UPDATE acct SET bal = 0")
	t.err(r, err, errors.INVALID, "transaction is not active")
	r, err = tx:query("SELECT 1")
	t.err(r, err, errors.INVALID, "transaction is not active")
	ok, err = tx:commit()
	t.err(ok, err, errors.INVALID, "transaction is not active")
	ok, err = tx:rollback()
	t.err(ok, err, errors.INVALID, "transaction is not active")
	r, err = tx:prepare("SELECT 1")
	t.err(r, err, errors.INVALID, "transaction is not active")
	r, err = tx:savepoint("sp")
	t.err(r, err, errors.INVALID, "transaction is not active")
	r, err = tx:db_type()
	t.err(r, err, errors.INVALID, "transaction is not active")
end

function T.transaction_rollback()
	local db = file()
	fresh(db, "rb", "x INTEGER")
	local tx = assert(db:begin())
	assert(tx:execute("INSERT INTO rb VALUES (1), (2)"))
	t.eq(assert(tx:query("SELECT count(*) n FROM rb"))[1].n, 2)
	local ok, err = tx:rollback()
	t.is_nil(err)
	t.eq(ok, true)
	t.eq(assert(db:query("SELECT count(*) n FROM rb"))[1].n, 0)
end

function T.transaction_options()
	local db = mem()
	local tx, err = db:begin({isolation = "bogus"})
	t.err(tx, err, errors.INVALID, "invalid isolation level: bogus")
	tx, err = db:begin({isolation = sql.isolation.SERIALIZABLE, read_only = false})
	t.is_nil(err)
	assert(tx:rollback())
end

function T.savepoints()
	local db = mem()
	fresh(db, "sp", "x INTEGER")
	local tx = assert(db:begin())
	assert(tx:execute("INSERT INTO sp VALUES (1)"))
	local ok, err = tx:savepoint("one")
	t.is_nil(err)
	t.eq(ok, true)
	assert(tx:execute("INSERT INTO sp VALUES (2)"))
	ok, err = tx:rollback_to("one")
	t.is_nil(err)
	t.eq(ok, true)
	assert(tx:savepoint("two"))
	assert(tx:execute("INSERT INTO sp VALUES (3)"))
	ok, err = tx:release("two")
	t.is_nil(err)
	t.eq(ok, true)
	assert(tx:commit())
	local rows = assert(db:query("SELECT x FROM sp ORDER BY x"))
	t.eq(#rows, 2)
	t.eq(rows[1].x, 1)
	t.eq(rows[2].x, 3)
end

function T.savepoint_errors()
	local db = mem()
	local tx = assert(db:begin())
	local ok, err = tx:savepoint("bad name;")
	t.err(ok, err, errors.INVALID, "savepoint name can only contain alphanumeric characters and underscores")
	ok, err = tx:savepoint("")
	t.err(ok, err, errors.INVALID, "savepoint name is required")
	ok, err = tx:rollback_to("never_made")
	t.err(ok, err, nil, "savepoint: ")
	ok, err = tx:release("never_made")
	t.err(ok, err, nil, "no such savepoint")
	assert(tx:rollback())
end

function T.tx_prepare()
	local db = mem()
	fresh(db, "txp", "x INTEGER")
	local tx = assert(db:begin())
	local st, err = tx:prepare("INSERT INTO txp VALUES (?)")
	t.is_nil(err)
	for i = 1, 10 do assert(st:execute({i})) end
	assert(tx:commit())
	t.eq(assert(db:query("SELECT count(*) n FROM txp"))[1].n, 10)
	local r
	r, err = st:execute({11})
	t.err(r, err, errors.INVALID, "statement is closed")
	local bad
	tx = assert(db:begin())
	bad, err = tx:prepare("NOT SQL")
	t.err(bad, err, nil, "tx prepare: ")
	assert(tx:rollback())
end

function T.tx_errors_keep_tx()
	local db = mem()
	fresh(db, "txe", "id INTEGER PRIMARY KEY")
	local tx = assert(db:begin())
	assert(tx:execute("INSERT INTO txe VALUES (1)"))
	local r, err = tx:execute("INSERT INTO txe VALUES (1)")
	t.err(r, err, errors.CONFLICT, "tx execute: ")
	r, err = tx:query("SELEC")
	t.err(r, err, errors.INVALID, "tx query: ")
	assert(tx:commit())
	t.eq(assert(db:query("SELECT count(*) n FROM txe"))[1].n, 1)
end

-- While a transaction holds the one connection, another process's work
-- waits for it (database/sql's pool of one), and runs after the commit.
function T.tx_isolates_other_callers()
	local time = require("time")
	local db = file()
	fresh(db, "iso", "x INTEGER")
	local tx = assert(db:begin())
	assert(tx:execute("INSERT INTO iso VALUES (1)"))
	local done = channel.new(1)
	coroutine.spawn(function()
		local rows = assert(db:query("SELECT count(*) n FROM iso"))
		done:send(rows[1].n)
	end)
	time.sleep("30ms")
	assert(tx:execute("INSERT INTO iso VALUES (2)"))
	assert(tx:commit())
	local n = t.recv(time, done)
	t.eq(n, 2, "the other caller saw the committed rows")
end

function T.release()
	local db = mem()
	local ok, err = db:release()
	t.is_nil(err)
	t.eq(ok, true)
	ok, err = db:release()
	t.eq(ok, true, "release is idempotent")
	local r
	r, err = db:query("SELECT 1")
	t.err(r, err, errors.INVALID, "released")
	r, err = db:execute("SELECT 1")
	t.err(r, err, errors.INVALID, "released")
	r, err = db:prepare("SELECT 1")
	t.err(r, err, errors.INVALID, "released")
	r, err = db:begin()
	t.err(r, err, errors.INVALID, "released")
	-- a fresh handle works
	t.eq(assert(mem():query("SELECT 1 one"))[1].one, 1)
end

function T.stats()
	local db = mem()
	assert(db:query("SELECT 1"))
	local s, err = db:stats()
	t.is_nil(err)
	t.eq(s.max_open_connections, 1)
	t.eq(s.open_connections, 1)
	t.eq(type(s.in_use), "number")
	t.eq(type(s.idle), "number")
	t.eq(type(s.wait_count), "number")
	t.eq(type(s.wait_duration), "string")
	t.eq(s.max_idle_closed, 0)
	t.eq(s.max_lifetime_closed, 0)
end

function T.file_persists()
	local db = file()
	fresh(db, "persist", "v TEXT")
	assert(db:execute("INSERT INTO persist VALUES ('kept')"))
	local rows = assert(file():query("SELECT v FROM persist"))
	t.eq(rows[1].v, "kept", "a second handle sees the same database")
	local jm = assert(db:query("PRAGMA journal_mode"))
	t.eq(jm[1].journal_mode, "wal")
end

-- Many coroutines at once: each parks only itself; all finish.
function T.concurrent_callers()
	local time = require("time")
	local db = mem()
	fresh(db, "conc", "x INTEGER")
	local ch = channel.new(20)
	for i = 1, 20 do
		coroutine.spawn(function()
			local r, err = db:execute("INSERT INTO conc VALUES (?)", {i})
			ch:send(err == nil and r.rows_affected or -1)
		end)
	end
	local sum = 0
	for _ = 1, 20 do sum = sum + t.recv(time, ch) end
	t.eq(sum, 20)
	t.eq(assert(db:query("SELECT sum(x) s FROM conc"))[1].s, 210)
end

function T.big_result()
	local db = mem()
	local rows = assert(db:query([[WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
		SELECT x, 'row' || x AS s FROM c]]))
	t.eq(#rows, 5000)
	t.eq(rows[5000].s, "row5000")
end

function T.open_failure()
	local db = assert(sql.get("test.sql:unopenable"))
	local r, err = db:query("SELECT 1")
	t.err(r, err, nil, "failed to open database")
end

-- db.sql.postgres without a server (test/integration/postgres.sh runs
-- one): fields that make no connection are INVALID at sql.get; a port
-- nobody listens on fails each call with UNAVAILABLE, retryable.
function T.postgres_errors()
	local db, err = sql.get("test.sql:pg")
	t.err(db, err, errors.INVALID, "invalid connection config: port is invalid")
	db, err = sql.get("test.sql:pg_closed")
	t.is_nil(err)
	t.eq(db:type(), "postgres")
	local r
	r, err = db:query("SELECT 1")
	t.err(r, err, errors.UNAVAILABLE, "query: ")
	t.eq(err:retryable(), true)
	r, err = db:begin()
	t.err(r, err, errors.UNAVAILABLE, "begin: ")
	r, err = db:query("SELECT 1", "x")
	t.err(r, err, errors.INVALID, "parameters must be a table")
end

-- A process that ends (returning, or failing) with a transaction open has
-- it rolled back, and the connection is free for everyone else again.
function T.abandoned_tx_rolls_back()
	local time = require("time")
	local db = file()
	fresh(db, "abandoned", "x INTEGER")
	for _, mode in ipairs({"return", "error"}) do
		local pid = process.spawn_monitored("test.sql:abandon_tx", "test:procs", mode)
		t.event(time, process.event.EXIT, pid)
		local rows, err = db:query("SELECT count(*) n FROM abandoned")
		t.is_nil(err, mode)
		t.eq(rows[1].n, 0, mode .. ": rolled back")
		assert(db:execute("INSERT INTO abandoned VALUES (2)"))
		assert(db:execute("DELETE FROM abandoned"))
	end
end

-- A process terminated while its query runs on the worker: the result is
-- dropped, nothing is delivered to the dead process, the database goes on.
function T.terminated_during_query()
	local time = require("time")
	local pid = process.spawn_monitored("test.sql:slow_query", "test:procs", process.pid())
	t.msg(time, "ready")
	t.eq(process.terminate(pid), true)
	t.event(time, process.event.EXIT, pid)
	local rows, err = mem():query("SELECT 41 + 1 AS n")
	t.is_nil(err)
	t.eq(rows[1].n, 42)
end

return T
