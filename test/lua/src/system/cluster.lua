-- test.system: system.node, system.cluster, system.lock and pg on a node
-- that is in no cluster (the conformance run has none; the cluster side
-- is test/integration/cluster_groups.sh), and their permission checks.
local t = require("t")

local T = {}

function T.node_cluster()
	local system = require("system")
	local errors = require("errors")
	local id, err = system.node.id()
	t.is_nil(err)
	t.eq(type(id), "string")
	t.ok(#id > 0, "a node name: the host name without cluster.node")
	local ms
	ms, err = system.cluster.members()
	t.is_nil(err)
	t.eq(#ms, 1, "this node alone")
	t.eq(ms[1].id, id)
	t.eq(ms[1].is_local, true)
	t.eq(select(1, system.cluster.size()), 1)
	t.eq(select(1, system.cluster.leader()), "")
	t.eq(select(1, system.node.role()), "non-member")
	local a, aerr = system.node.addr()
	t.is_nil(a)
	t.eq(aerr:kind(), errors.INTERNAL)
end

function T.lock_alone()
	local system = require("system")
	local errors = require("errors")
	local ok, err = system.lock.acquire("L")
	t.is_nil(ok)
	t.eq(err:kind(), errors.INTERNAL)
	t.ok(tostring(err):find("global registry not available", 1, true))
	ok, err = system.lock.release("L")
	t.is_nil(ok)
	t.eq(err:kind(), errors.INTERNAL)
	t.ok(not pcall(system.lock.acquire), "no name raises")
	t.ok(not pcall(system.lock.release, {}), "a table raises")
end

function T.pg_alone()
	local pg = require("pg")
	local errors = require("errors")
	local ok, err = pg.join("g")
	t.is_nil(ok)
	t.eq(err:kind(), errors.UNAVAILABLE)
	ok, err = pg.members("g")
	t.is_nil(ok)
	t.eq(err:kind(), errors.UNAVAILABLE)
	ok, err = pg.broadcast("g", "x", 1)
	t.is_nil(ok)
	t.eq(err:kind(), errors.UNAVAILABLE)
	ok, err = pg.leave("g")
	t.is_nil(ok)
	t.eq(err:kind(), errors.UNAVAILABLE)
	-- the group is checked first
	ok, err = pg.join("")
	t.eq(err:kind(), errors.INVALID)
	ok, err = pg.join(string.rep("x", 257))
	t.eq(err:kind(), errors.INVALID)
	ok, err = pg.join("a\31b")
	t.eq(err:kind(), errors.INVALID)
	t.ok(not pcall(pg.join), "no group raises")
	t.ok(not pcall(pg.broadcast, "g"), "no topic raises")
end

function T.denied()
	local security = require("security")
	local errors = require("errors")
	local sc = security.new_scope({security.policy("test.system:deny_cluster"),
		security.policy("test.system:allow_rest")})
	local sp = process.with_context({}):with_actor(security.new_actor("someone")):with_scope(sc)
	local pid = sp:spawn_monitored("test.system:guarded", "test.system:host")
	t.ok(pid, "spawned")
	local events = process.events()
	local r
	while true do
		local ev = events:receive()
		if ev.kind == process.event.EXIT and ev.from == pid then
			t.is_nil(ev.result.error)
			r = ev.result.value
			break
		end
	end
	for _, k in ipairs({"node_id", "node_role", "members", "size", "lock", "release"}) do
		t.eq(r[k], errors.PERMISSION_DENIED, k)
	end
	t.eq(r.other_lock, errors.INTERNAL, "another lock name passes the check")
end

return T
