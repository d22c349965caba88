-- test.system: a process run by cluster.lua's denied test.
-- Run under a scope that denies system.read on node and cluster and
-- system.lock on L1: what each call gives, as kinds.
local function guarded()
	local system = require("system")
	local function kind(v, e) return e and e:kind() or "ok" end
	return {
		node_id = kind(system.node.id()),
		node_role = kind(system.node.role()),
		members = kind(system.cluster.members()),
		size = kind(system.cluster.size()),
		lock = kind(system.lock.acquire("L1")),
		release = kind(system.lock.release("L1")),
		other_lock = kind(system.lock.acquire("L2")), -- allowed: no cluster here
	}
end

return {guarded = guarded}
