-- Helpers of test.sql, run as their own processes.
local sql = require("sql")

-- Begin a transaction, write a row and end without commit or rollback:
-- the runtime must roll it back and free the connection.
local function abandon_tx(mode)
	local db = assert(sql.get("test.sql:file"))
	local tx = assert(db:begin())
	assert(tx:execute("INSERT INTO abandoned VALUES (1)"))
	if mode == "error" then
		error("failing with a transaction open")
	end
	return 0
end

-- Tell the parent, then run a query that takes a while: the parent
-- terminates this process while the query runs on the worker.
local function slow_query(parent)
	local db = assert(sql.get("test.sql:mem"))
	process.send(parent, "ready")
	local rows = db:query([[WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000)
		SELECT count(*) n FROM c]])
	process.send(parent, "finished", rows and rows[1].n)
	return 0
end

return { abandon_tx = abandon_tx, slow_query = slow_query }
