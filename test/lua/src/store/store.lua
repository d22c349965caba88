-- test.store: require("store") over store.memory (the original's
-- runtime/lua/modules/store): get/set/has/delete/release, TTL expiry,
-- value copies, the capacity limit and the error paths with their kinds.
local t = require("t")
local store = require("store")
local time = require("time")

local T = {}

local function open(id)
	local s, err = store.get(id or "test.store:mem")
	t.is_nil(err, "store.get error")
	t.ok(s ~= nil, "store object")
	return s
end

function T.get_bad_ids()
	local s, err = store.get("test.store:missing")
	t.err(s, err, errors.NOT_FOUND, "test.store:missing")
	s, err = store.get("")
	t.err(s, err, errors.INVALID, "resource id is required")
	s, err = store.get("test.store:not_a_store")
	t.err(s, err, errors.INVALID, "not a store")
	s, err = store.get("test.store:pgstore")
	t.err(s, err, errors.UNAVAILABLE, "not supported")
	t.raises(function() store.get() end, "bad argument")
end

function T.set_get_roundtrip()
	local s = open()
	local ok, err = s:set("app:greeting", "hello")
	t.is_nil(err)
	t.eq(ok, true)
	local v
	v, err = s:get("app:greeting")
	t.is_nil(err)
	t.eq(v, "hello")
	assert(s:set("app:n", 42))
	t.eq(s:get("app:n"), 42)
	t.eq(math.type(s:get("app:n")), "integer")
	assert(s:set("app:f", 1.25))
	t.eq(s:get("app:f"), 1.25)
	assert(s:set("app:b", false))
	t.eq(s:get("app:b"), false)
	assert(s:set("app:tbl", {theme = "dark", size = 14, list = {1, 2, {x = "y"}}}))
	v = s:get("app:tbl")
	t.deq(v, {theme = "dark", size = 14, list = {1, 2, {x = "y"}}})
	-- overwrite
	assert(s:set("app:n", "now a string"))
	t.eq(s:get("app:n"), "now a string")
end

function T.values_are_copies()
	local s = open()
	local tbl = {count = 1}
	assert(s:set("copy:t", tbl))
	tbl.count = 2
	local got = s:get("copy:t")
	t.eq(got.count, 1, "set copied the table")
	got.count = 3
	t.eq(s:get("copy:t").count, 1, "get returned a copy")
end

function T.missing_key()
	local s = open()
	local v, err = s:get("nope:never")
	local e = t.err(v, err, errors.NOT_FOUND, "key not found")
	t.eq(e:retryable(), false)
	t.eq(s:has("nope:never"), false)
	local ok
	ok, err = s:delete("nope:never")
	t.is_nil(err)
	t.eq(ok, false, "delete of a missing key")
end

function T.has_and_delete()
	local s = open()
	assert(s:set("del:k", {1}))
	local yes, err = s:has("del:k")
	t.is_nil(err)
	t.eq(yes, true)
	local ok
	ok, err = s:delete("del:k")
	t.is_nil(err)
	t.eq(ok, true)
	t.eq(s:has("del:k"), false)
	local v
	v, err = s:get("del:k")
	t.err(v, err, errors.NOT_FOUND)
end

function T.ttl_expiry()
	local s = open()
	assert(s:set("ttl:short", "soon gone", 0.05))
	assert(s:set("ttl:long", "stays", 60))
	assert(s:set("ttl:none", "forever", 0))
	t.eq(s:get("ttl:short"), "soon gone")
	t.eq(s:has("ttl:short"), true)
	time.sleep("80ms")
	local v, err = s:get("ttl:short")
	t.err(v, err, errors.NOT_FOUND, "key not found")
	t.eq(s:has("ttl:short"), false)
	t.eq(s:delete("ttl:short"), false)
	t.eq(s:get("ttl:long"), "stays")
	t.eq(s:get("ttl:none"), "forever")
	-- a set without ttl clears an earlier one
	assert(s:set("ttl:reset", 1, 0.03))
	assert(s:set("ttl:reset", 2))
	time.sleep("50ms")
	t.eq(s:get("ttl:reset"), 2)
end

function T.bad_arguments()
	local s = open()
	local ok, err = s:set("", 1)
	t.err(ok, err, errors.INVALID, "key is required")
	ok, err = s:set("k:v", nil)
	t.err(ok, err, errors.INVALID, "value is required")
	ok, err = s:get("")
	t.err(ok, err, errors.INVALID, "key is required")
	ok, err = s:has("")
	t.err(ok, err, errors.INVALID, "key is required")
	ok, err = s:delete("")
	t.err(ok, err, errors.INVALID, "key is required")
	t.raises(function() s:set("k:v", 1, "ten") end, "bad argument")
	t.raises(function() s:get() end, "bad argument")
	t.raises(function() s.get(1, "x") end, "bad argument")
end

function T.release()
	local s = open()
	assert(s:set("rel:k", "v"))
	t.eq(tostring(s), "store.Store{}")
	t.eq(s:release(), true)
	t.eq(s:release(), true, "release is idempotent")
	t.eq(tostring(s), "store.Store{released}")
	local v, err = s:get("rel:k")
	t.err(v, err, errors.INVALID, "store is released")
	v, err = s:set("rel:k", 1)
	t.err(v, err, errors.INVALID, "store is released")
	v, err = s:has("rel:k")
	t.err(v, err, errors.INVALID, "store is released")
	v, err = s:delete("rel:k")
	t.err(v, err, errors.INVALID, "store is released")
	-- the data stays for other handles
	t.eq(open():get("rel:k"), "v")
end

function T.shared_between_handles()
	local a, b = open(), open()
	assert(a:set("shared:x", {n = 7}))
	t.eq(b:get("shared:x").n, 7)
	t.eq(open("test.store:other"):has("shared:x"), false, "stores are separate")
end

function T.capacity()
	local s = open("test.store:tiny")
	for i = 1, 3 do
		assert(s:set("cap:" .. i, i))
	end
	local ok, err = s:set("cap:4", 4)
	local e = t.err(ok, err, errors.UNAVAILABLE, "store is full")
	t.eq(e:retryable(), true)
	assert(s:set("cap:2", "replaced"), "overwriting a key needs no room")
	assert(s:delete("cap:1"))
	assert(s:set("cap:4", 4))
	-- expired entries make room
	assert(s:delete("cap:4"))
	assert(s:set("cap:5", 5, 0.02))
	time.sleep("40ms")
	assert(s:set("cap:6", 6))
end

function T.unsupported_values()
	local s = open()
	assert(s:set("fn:k", {f = function() end, ok = 1}))
	local v = s:get("fn:k")
	t.eq(v.ok, 1)
	t.is_nil(v.f, "functions are not stored")
	local cyc = {}
	cyc.self = cyc
	local ok, err = s:set("cyc:k", cyc)
	t.err(ok, err, errors.INTERNAL, "failed to transcode")
end

-- store.sql: the same API over a table of a db.sql.sqlite database.
local function sqlstore(table_name, k, v, e)
	local sql = require("sql")
	local db = assert(sql.get("test.store:db"))
	assert(db:execute("DROP TABLE IF EXISTS " .. table_name))
	assert(db:execute(string.format("CREATE TABLE %s (%s TEXT PRIMARY KEY, %s TEXT NOT NULL, %s TIMESTAMP)",
		table_name, k or "key", v or "value", e or "expires_at")))
	return db
end

function T.sql_roundtrip()
	local db = sqlstore("kv")
	local s = open("test.store:sqlstore")
	local ok, err = s:set("user:1", {name = "ann", tags = {"a", "b"}, n = 3})
	t.is_nil(err)
	t.eq(ok, true)
	local v
	v, err = s:get("user:1")
	t.is_nil(err)
	t.eq(v.name, "ann")
	t.eq(v.tags[2], "b")
	t.eq(v.n, 3)
	assert(s:set("user:1", "replaced"))
	t.eq(s:get("user:1"), "replaced")
	local rows = assert(db:query("SELECT key, value, expires_at FROM kv"))
	t.eq(#rows, 1, "one row per key")
	t.eq(rows[1].value, '"replaced"', "values are JSON text")
	t.is_nil(rows[1].expires_at, "no ttl: NULL expiry")
	t.eq(s:has("user:1"), true)
	t.eq(s:has("user:2"), false)
	v, err = s:get("user:2")
	t.err(v, err, errors.NOT_FOUND, "key not found")
	t.eq(s:delete("user:1"), true)
	t.eq(s:delete("user:1"), false)
	t.eq(s:has("user:1"), false)
	ok, err = s:set("", 1)
	t.err(ok, err, errors.INVALID, "key is required")
	ok, err = s:set("x:y", nil)
	t.err(ok, err, errors.INVALID, "value is required")
	t.eq(s:release(), true)
	v, err = s:get("user:1")
	t.err(v, err, errors.INVALID, "store is released")
end

function T.sql_ttl()
	local db = sqlstore("kv_ttl", "k", "v", "e")
	local s = open("test.store:sqlttl")
	assert(s:set("t:short", 1, 0.05))
	assert(s:set("t:long", 2, 600))
	t.eq(s:get("t:short"), 1)
	local rows = assert(db:query("SELECT e FROM kv_ttl WHERE k = 't:long'"))
	t.match(rows[1].e, "^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d%.%d+%+00:00$")
	time.sleep("80ms")
	local v, err = s:get("t:short")
	t.err(v, err, errors.NOT_FOUND)
	t.eq(s:has("t:short"), false)
	t.eq(s:get("t:long"), 2)
end

function T.sql_missing_table()
	local s = open("test.store:sqlnotable")
	local ok, err = s:set("a:b", 1)
	t.err(ok, err, errors.INTERNAL, "no such table")
	local v
	v, err = s:get("a:b")
	t.err(v, err, errors.INTERNAL, "store get: ")
	local has
	has, err = s:has("a:b")
	t.eq(has, false)
	t.err(nil, err, errors.INTERNAL, "store has: ")
end

function T.sql_unencodable()
	sqlstore("kv")
	local s = open("test.store:sqlstore")
	local cyc = {}
	cyc.self = cyc
	local ok, err = s:set("c:y", cyc)
	t.err(ok, err, errors.INTERNAL)
	t.eq(s:has("c:y"), false, "nothing was written")
end

return T
