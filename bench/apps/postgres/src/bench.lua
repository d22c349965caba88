-- bench MODE N: N statements through require("sql") on app:db (a
-- db.sql.postgres) and print "lua MODE N=...: R stmts/s". The same work
-- as bench/pg_raw.c: "query" N db:query of one row, "insert" N db:execute
-- (each its own transaction), "tx" one prepared INSERT executed N times
-- in db:begin/commit; "conc" the query of "query" from 8 coroutines at
-- once (several connections of the shard's pool, opened before the
-- clock starts; no C counterpart).
local sql = require("sql")
local time = require("time")
local io = require("io")

local INSERT = "INSERT INTO bench (n, name) VALUES (?, ?)"

local function main(mode, n)
    n = tonumber(n) or 2000
    local db = assert(sql.get("app:db"))
    assert(db:execute("DROP TABLE IF EXISTS bench; CREATE TABLE bench (id serial PRIMARY KEY, n int8, name text)"))
    local function burst(k, step, fn)
        local ch = channel.new(k)
        for c = 1, k do
            coroutine.spawn(function()
                for i = c, step, k do fn(i) end
                ch:send(true)
            end)
        end
        for _ = 1, k do ch:receive() end
    end
    local function q(i)
        local _, err = db:query("SELECT ?::int8 + 1 AS n", {i})
        if err then error(err) end
    end
    -- conc: open the pool's connections first (authentication is not
    -- what is measured)
    if mode == "conc" then burst(8, 8, q) end
    local t0 = time.now():unix_nano()
    if mode == "query" then
        for i = 0, n - 1 do
            local _, err = db:query("SELECT ?::int8 + 1 AS n", {i})
            if err then error(err) end
        end
    elseif mode == "insert" then
        for i = 0, n - 1 do
            local _, err = db:execute(INSERT, {i, "row" .. i})
            if err then error(err) end
        end
    elseif mode == "tx" then
        local tx = assert(db:begin())
        local st = assert(tx:prepare(INSERT))
        for i = 0, n - 1 do
            local _, err = st:execute({i, "row" .. i})
            if err then error(err) end
        end
        assert(st:close())
        assert(tx:commit())
    else
        burst(8, n, q)
    end
    local dt = (time.now():unix_nano() - t0) / 1e9
    io.print(string.format("lua %s N=%d: %.0f stmts/s", mode, n, n / dt))
    return 0
end

return { main = main }
