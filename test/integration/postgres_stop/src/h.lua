-- Services of test/integration/postgres.sh's shutdown phase: one holds a
-- transaction open, one waits on a query in the server, when the runtime
-- is told to stop.
local sql = require("sql")
local time = require("time")
local logger = require("logger")

local function main()
	local db = assert(sql.get("app:db"))
	local tx = assert(db:begin())
	assert(tx:execute("SELECT 1"))
	logger:info("holding a transaction")
	time.sleep("60s")
end

local function sleeper()
	local db = assert(sql.get("app:db"))
	logger:info("sleeping in the server")
	db:query("SELECT pg_sleep(20)")
end

return { main = main, sleeper = sleeper }
