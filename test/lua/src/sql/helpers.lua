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

return { abandon_tx = abandon_tx }
