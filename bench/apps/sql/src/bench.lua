-- bench MODE N: insert N rows into a fresh table of app:db through
-- require("sql") and print "lua MODE N=...: R inserts/s". MODE "tx": one
-- prepared INSERT executed N times inside db:begin/commit; "autocommit":
-- N db:execute calls. The same work as bench/sqlite_raw.c.
local sql = require("sql")
local time = require("time")
local io = require("io")

local INSERT = "INSERT INTO bench (n, name) VALUES (?, ?)"

local function main(mode, n)
    n = tonumber(n) or 2000
    local db = assert(sql.get("app:db"))
    assert(db:execute("DROP TABLE IF EXISTS bench; CREATE TABLE bench (id INTEGER PRIMARY KEY, n INTEGER, name TEXT)"))
    local t0 = time.now():unix_nano()
    if mode == "tx" then
        local tx = assert(db:begin())
        local st = assert(tx:prepare(INSERT))
        for i = 0, n - 1 do
            local _, err = st:execute({i, "row" .. i})
            if err then error(err) end
        end
        assert(st:close())
        assert(tx:commit())
    else
        for i = 0, n - 1 do
            local _, err = db:execute(INSERT, {i, "row" .. i})
            if err then error(err) end
        end
    end
    local dt = (time.now():unix_nano() - t0) / 1e9
    io.print(string.format("lua %s N=%d: %.0f inserts/s", mode, n, n / dt))
    return 0
end

return { main = main }
