-- test.security policies: security.policy entries, Policy and Scope
-- objects evaluating them (every condition operator, deny wins, undefined),
-- named scopes from groups, and the permission checks a process under an
-- actor and a scope meets at spawn, send, terminate, env and the registry.
local t = require("t")
local time = require("time")
local security = require("security")

local NS = "test.security:"
local T = {}

local function pol(name)
	local p, err = security.policy(NS .. name)
	t.ok(p, "policy " .. name .. ": " .. tostring(err))
	return p
end

local function scope_of(...)
	local ps = {}
	for i, n in ipairs({...}) do
		ps[i] = pol(n)
	end
	return security.new_scope(ps)
end

-- The exit value of entry run monitored under actor and scope.
local function run_as(actor, scope, entry, ...)
	local sp = process.with_context({})
	if actor then sp = sp:with_actor(actor) end
	if scope then sp = sp:with_scope(scope) end
	local pid, err = sp:spawn_monitored(NS .. entry, "test:procs", ...)
	t.ok(pid, "spawn " .. entry .. ": " .. tostring(err))
	local ev = t.event(time, process.event.EXIT, pid, "5s")
	t.is_nil(ev.result.error, "child error")
	return ev.result.value
end

-- Two live targets, one per host; stopped by the caller.
local function targets()
	local single = process.spawn(NS .. "sleeper", "test:single")
	local procs = process.spawn(NS .. "sleeper", "test:procs")
	t.ok(single and procs, "targets")
	return single, procs
end

local function denied(r, what, text)
	t.eq(r.ok, false, what .. " should be denied")
	t.eq(r.kind, errors.PERMISSION_DENIED, what .. " kind")
	if text then
		t.contains(r.msg, text, what .. " message")
	end
end

-- {==== Policies and scopes ====}

function T.policy_by_id()
	local p = pol("allow_all")
	t.eq(p:id(), NS .. "allow_all")
	t.eq(type(p), "userdata")
	local none, err = security.policy(NS .. "nope")
	t.err(none, err, errors.NOT_FOUND, "policy not found")
	t.raises(function() security.policy() end, "string expected")
end

function T.policy_evaluate()
	local p = pol("allow_read_docs")
	local a = security.new_actor("user:1")
	t.eq(p:evaluate(a, "doc.read", "doc:1"), "allow")
	t.eq(p:evaluate(a, "doc.list", "doc:9", {}), "allow")
	t.eq(p:evaluate(a, "doc.write", "doc:1"), "undefined", "action not listed")
	t.eq(p:evaluate(a, "doc.read", "file:1"), "undefined", "resource not matched")
	t.eq(pol("deny_doc_secret"):evaluate(a, "doc.read", "doc:secret"), "deny")
	t.raises(function() p:evaluate("x", "a", "r") end, "userdata expected")
	t.raises(function() p:evaluate(a, nil, "r") end, "string expected")
	t.raises(function() p:evaluate(a, "a", "r", 5) end, "table expected")
	t.raises(function() p.id({}) end, "userdata expected")
end

function T.scope_with_contains_without()
	local s = security.new_scope()
	local p = pol("allow_read_docs")
	local s2 = s:with(p)
	t.ok(s2 ~= s, "with returns a new scope")
	t.eq(#s:policies(), 0, "receiver unchanged")
	t.eq(#s2:policies(), 1)
	t.eq(s2:policies()[1]:id(), NS .. "allow_read_docs")
	t.ok(s2:contains(NS .. "allow_read_docs"), "by id")
	t.ok(s2:contains(p), "by policy")
	t.ok(s2:contains({ns = "test.security", name = "allow_read_docs"}), "by table")
	t.eq(s2:contains(NS .. "allow_all"), false)
	t.eq(#s2:with(p):policies(), 1, "with twice keeps one")
	local s3 = s2:with(pol("deny_doc_secret"))
	t.eq(#s3:policies(), 2)
	t.eq(#s3:without(p):policies(), 1)
	t.eq(s3:without(NS .. "allow_read_docs"):contains(p), false)
	t.eq(#s3:without("other:x"):policies(), 2, "without an absent id")
	t.raises(function() s:with("id") end, "userdata expected")
	t.raises(function() s:with(security.new_actor("a")) end, "Policy expected")
	t.raises(function() s:contains(5) end, "Policy ID expected")
	t.eq(#security.new_scope({p, "junk", 5, p}):policies(), 1,
		"new_scope keeps Policy objects once, skips the rest")
end

function T.scope_allow_deny_undefined()
	local a = security.new_actor("user:1")
	local s = scope_of("allow_read_docs")
	t.eq(s:evaluate(a, "doc.read", "doc:1"), "allow")
	t.eq(s:evaluate(a, "doc.write", "doc:1"), "undefined")
	t.eq(security.new_scope():evaluate(a, "doc.read", "doc:1"), "undefined", "empty scope")
	-- deny wins, whatever the order
	t.eq(scope_of("allow_read_docs", "deny_doc_secret"):evaluate(a, "doc.read", "doc:secret"), "deny")
	t.eq(scope_of("deny_doc_secret", "allow_read_docs"):evaluate(a, "doc.read", "doc:secret"), "deny")
	t.eq(scope_of("allow_all", "deny_doc_secret"):evaluate(a, "doc.read", "doc:secret"), "deny")
	t.eq(scope_of("allow_all", "deny_doc_secret"):evaluate(a, "doc.read", "doc:2"), "allow")
end

-- Each operator through a scope: a case where it holds (allow) and one
-- where it does not (undefined).
local OPS = {
	{"eq",        {role = "admin"},  nil,               {role = "guest"},  nil},
	{"ne",        {role = "admin"},  nil,               {role = "guest"},  nil},
	{"lt",        {},                {size = 5},        {},                {size = 10}},
	{"gt",        {},                {size = 11},       {},                {size = 10}},
	{"lte",       {},                {size = 10},       {},                {size = 11}},
	{"gte",       {},                {size = 10},       {},                {size = 9}},
	{"in",        {role = "editor"}, nil,               {role = "guest"},  nil},
	{"nin",       {role = "admin"},  nil,               {role = "banned"}, nil},
	{"exists",    {},                {owner = "x"},     {},                {}},
	{"nexists",   {},                {},                {},                {owner = "x"}},
	{"contains",  {},                {tags = {"red", "blue"}}, {},         {tags = {"blue"}}},
	{"ncontains", {},                {path = "/a/b"},   {},                {path = "/a/../b"}},
}

function T.each_operator()
	for _, c in ipairs(OPS) do
		local op = c[1]
		local s = scope_of("op_" .. op)
		t.eq(s:evaluate(security.new_actor("user:1", c[2]), "op." .. op, "r", c[3]), "allow",
			op .. " holds")
		t.eq(s:evaluate(security.new_actor("user:1", c[4]), "op." .. op, "r", c[5]), "undefined",
			op .. " does not hold")
	end
	local m = scope_of("op_matches")
	t.eq(m:evaluate(security.new_actor("user:42"), "op.matches", "r"), "allow", "matches")
	t.eq(m:evaluate(security.new_actor("admin:1"), "op.matches", "r"), "undefined", "matches fails")
	local n = scope_of("op_nmatches")
	t.eq(n:evaluate(security.new_actor("u"), "op.nmatches", "public/x"), "allow", "nmatches")
	t.eq(n:evaluate(security.new_actor("u"), "op.nmatches", "secret/x"), "undefined", "nmatches fails")
	-- a missing field: ne and nin are not true on it
	t.eq(scope_of("op_ne"):evaluate(security.new_actor("u"), "op.ne", "r"), "undefined", "ne on null")
	t.eq(scope_of("op_lt"):evaluate(security.new_actor("u"), "op.lt", "r", {size = "big"}),
		"undefined", "lt on a non-number")
end

function T.conditions_on_actor_meta()
	local s = scope_of("admin_only")
	t.eq(s:evaluate(security.new_actor("u", {role = "admin", level = 3}), "doc.delete", "doc:1"), "allow")
	t.eq(s:evaluate(security.new_actor("u", {role = "admin", level = 5}), "doc.delete", "doc:1"), "allow")
	t.eq(s:evaluate(security.new_actor("u", {role = "admin", level = 2}), "doc.delete", "doc:1"),
		"undefined", "every condition must hold")
	t.eq(s:evaluate(security.new_actor("u", {role = "user", level = 9}), "doc.delete", "doc:1"), "undefined")
	t.eq(s:evaluate(security.new_actor("u"), "doc.delete", "doc:1"), "undefined", "no meta")
end

function T.value_from_actor()
	local s = scope_of("owner_edit")
	t.eq(s:evaluate(security.new_actor("user:7"), "doc.edit", "doc:1", {owner = "user:7"}), "allow")
	t.eq(s:evaluate(security.new_actor("user:8"), "doc.edit", "doc:1", {owner = "user:7"}), "undefined")
	t.eq(s:evaluate(security.new_actor("user:8"), "doc.edit", "doc:1"), "undefined", "no meta")
end

-- security.policy.expr: the expression decides, after actions and resources.
function T.expr_policies()
	local s = scope_of("expr_edit", "expr_deny_tmp")
	local admin = security.new_actor("u:1", {role = "admin"})
	local user = security.new_actor("u:2", {role = "user"})
	t.eq(s:evaluate(admin, "doc.publish", "doc:1"), "allow", "admin")
	t.eq(s:evaluate(user, "doc.publish", "doc:1"), "undefined", "user may not publish")
	t.eq(s:evaluate(user, "doc.edit", "doc:1", {owner = "u:2"}), "allow", "owner edits")
	t.eq(s:evaluate(user, "doc.edit", "doc:1", {owner = "u:3"}), "undefined", "not the owner")
	t.eq(s:evaluate(user, "doc.edit", "file:1", {owner = "u:2"}), "undefined", "resource not listed")
	t.eq(s:evaluate(user, "doc.edit", "doc:tmp-1", {owner = "u:2"}), "deny", "deny expr wins")
	t.eq(s:evaluate(admin, "doc.edit", "doc:tmp-1"), "allow", "admin is not denied")
	t.eq(pol("expr_edit"):evaluate(user, "doc.edit", "doc:1", {owner = "u:2"}), "allow")
end

function T.named_scope_from_groups()
	local s, err = security.named_scope(NS .. "sandbox")
	t.ok(s, tostring(err))
	t.eq(#s:policies(), 5)
	t.ok(s:contains(NS .. "deny_single_host"))
	t.ok(s:contains(NS .. "deny_secret_env"))
	t.eq(s:contains(NS .. "allow_all"), false)
	local r = security.named_scope(NS .. "roles")
	t.eq(#r:policies(), 3, "security.policy and security.policy.expr entries")
	-- a security.scope entry: its policies that exist, in its order
	local rd = security.named_scope(NS .. "readers")
	t.eq(#rd:policies(), 2)
	t.eq(rd:policies()[1]:id(), NS .. "allow_read_docs")
	t.eq(rd:evaluate(security.new_actor("u"), "doc.read", "doc:secret"), "deny")
	t.eq(rd:evaluate(security.new_actor("u"), "doc.read", "doc:2"), "allow")
	local none, e2 = security.named_scope(NS .. "nobody")
	t.err(none, e2, errors.NOT_FOUND, "policy group not found")
end

-- A meta table that holds itself is cut off, not walked forever.
function T.cyclic_meta()
	local m = {}
	m.a, m.b, m.c = m, m, m
	local s = scope_of("allow_read_docs")
	t.eq(s:evaluate(security.new_actor("u"), "doc.read", "doc:1", m), "allow")
	t.eq(security.can("doc.read", "doc:1", m), true)
	t.raises(function() security.new_actor("u", m) end, "nested too deeply")
end

function T.no_context_allows()
	-- The test function runs with no actor and no scope, strict mode off.
	t.eq(security.can("anything", "at:all"), true)
	t.eq(security.can("process.send", "{test:single|0x1}", {k = 1}), true)
	t.raises(function() security.can("a") end, "string expected")
	t.raises(function() security.can("a", "r", "m") end, "table expected")
end

-- {==== Check sites ====}

-- The two-host case: a user process (actor user:42) under the sandbox
-- scope plus allow_all may not reach test:single, while everything on
-- test:procs works; the unrestricted caller still reaches the child.
function T.sandboxed_process()
	local single, procs = targets()
	local sb = security.named_scope(NS .. "sandbox"):with(pol("allow_all"))
	local r = run_as(security.new_actor("user:42", {tier = "free"}), sb, "probe", single, procs)
	denied(r.send_single, "send into test:single", "not allowed to send")
	t.eq(r.send_procs.ok, true, "send within test:procs")
	denied(r.send_single_again, "send into test:single after an allowed send")
	denied(r.send_single_again2, "and again")
	t.eq(r.send_procs_again.ok, true, "send within test:procs after a denied one")
	denied(r.terminate_single, "terminate", "terminate")
	denied(r.cancel_single, "cancel")
	denied(r.monitor_single, "monitor")
	denied(r.link_single, "link")
	denied(r.unlink_single, "unlink")
	denied(r.spawn_single, "spawn on test:single", "not allowed to spawn on host: test:single")
	t.eq(r.spawn_procs.ok, true, "spawn on test:procs")
	t.eq(r.spawn_procs.exited, true, "monitored child exits")
	t.eq(r.spawner_single.ok, false, "a spawner's spawn raises")
	t.eq(r.spawner_single.kind, errors.PERMISSION_DENIED)
	t.contains(r.spawner_single.msg, "not allowed to spawn on host: test:single")
	denied(r.env_secret, "env.get SECRET_TOKEN raises",
		"not allowed to access environment variable: SECRET_TOKEN")
	denied(r.env_secret_set, "env.set SECRET_TOKEN raises",
		"not allowed to set environment variable: SECRET_TOKEN")
	t.eq(r.env_plain.ok, true, "other env keys")
	t.eq(r.env_all_has_greeting, true, "get_all keeps what env.get allows")
	denied(r.register_system, "register system.core", "system.core")
	t.eq(r.register_user.ok, true, "register user name")
	denied(r.unregister_system, "unregister system.core", "not allowed to unregister name: system.core")
	denied(r.register_foreign, "register a name on a test:single pid", "registry.foreign")
	denied(r.exec_single, "exec on test:single", "not allowed to exec on host: test:single")
	t.eq(r.exec_procs.ok, true, "exec on test:procs")
	t.eq(r.can_doc, true)
	t.eq(r.can_send_single, false)
	t.eq(r.actor, "user:42")
	-- The targets are alive: the sandbox could not touch them.
	t.ok(process.send(single, "ping", 1), "unrestricted caller sends to test:single")
	process.terminate(single)
	process.terminate(procs)
end

-- An actor and a scope where nothing matches: undefined is denied.
function T.undefined_is_denied()
	local single, procs = targets()
	local r = run_as(security.new_actor("user:1"), scope_of("allow_read_docs"), "probe", single, procs)
	denied(r.send_procs, "send")
	denied(r.spawn_procs, "spawn", "not allowed to spawn process: test.security:quick")
	denied(r.env_plain, "env.get raises")
	t.eq(r.env_all_has_greeting, false, "get_all leaves out what env.get denies")
	denied(r.register_user, "register")
	t.eq(r.can_doc, true, "the allowed action stays allowed")
	process.terminate(single)
	process.terminate(procs)
end

-- Spawn is judged on the entry, then the host.
function T.spawn_entry_and_host()
	local single, procs = targets()
	local r = run_as(security.new_actor("u"), scope_of("spawn_only_helpers"), "probe", single, procs)
	t.eq(r.spawn_procs.ok, true, "entry and host allowed (meta.pid is the caller's)")
	denied(r.spawn_single, "host test:single not listed", "not allowed to spawn on host")
	denied(r.exec_procs, "exec is its own action", "not allowed to exec process")
	process.terminate(single)
	process.terminate(procs)
end

-- A scope without an actor, or an actor without a scope, is not checked
-- (strict mode off), as in the original.
function T.half_context_is_unchecked()
	local single, procs = targets()
	local r = run_as(security.new_actor("user:1"), nil, "probe", single, procs)
	t.eq(r.send_single.ok, true, "actor only: send")
	t.eq(r.spawn_single.ok, true, "actor only: spawn")
	process.terminate(procs)
	single, procs = targets()
	r = run_as(nil, security.new_scope(), "probe", single, procs)
	t.eq(r.send_single.ok, true, "scope only: send")
	t.eq(r.env_secret.kind ~= errors.PERMISSION_DENIED, true, "scope only: env")
	process.terminate(single)
	process.terminate(procs)
end

-- process.upgrade is stopped only by an explicit deny (the original's
-- IsDenied): undefined lets it through.
function T.upgrade_needs_no_deny()
	local a = security.new_actor("u")
	local r = run_as(a, scope_of("deny_upgrade", "allow_all"), "upgrader")
	t.eq(r.kind, errors.PERMISSION_DENIED)
	t.contains(r.msg, "not allowed to upgrade process: test.security:quick")
	t.eq(run_as(a, scope_of("allow_read_docs"), "upgrader"), true, "undefined: upgraded")
	t.eq(run_as(a, nil, "upgrader"), true, "no scope: upgraded")
end

-- The gates of the security and process modules.
function T.gates_need_permissions()
	local r = run_as(security.new_actor("u"), scope_of("allow_read_docs"), "gates")
	t.eq(r.with_context.ok, false)
	t.contains(r.with_context.msg, "not allowed to spawn processes with custom context")
	t.eq(r.with_options.ok, false)
	t.contains(r.with_options.msg, "custom options")
	t.eq(r.new_actor.ok, false)
	t.contains(r.new_actor.msg, "not allowed to create actor with ID: someone")
	t.eq(r.new_scope.ok, false)
	t.contains(r.new_scope.msg, "not allowed to create custom scopes")
	denied(r.policy, "security.policy", "not allowed to access policy")
	denied(r.named_scope, "security.named_scope", "not allowed to access policy group")
	r = run_as(security.new_actor("u"), scope_of("allow_all"), "gates")
	t.eq(r.with_context.ok, true)
	t.eq(r.new_actor.ok, true)
	t.eq(r.policy.ok, true)
end

-- The unrestricted caller's message reaches a sandboxed child.
function T.sandboxed_child_receives()
	local sb = security.named_scope(NS .. "sandbox")
	local pid = process.with_context({}):with_actor(security.new_actor("user:42"))
		:with_scope(sb):spawn_monitored(NS .. "pinged", "test:single")
	t.ok(pid)
	t.ok(process.send(pid, "ping", "hello"))
	local ev = t.event(time, process.event.EXIT, pid, "5s")
	t.is_nil(ev.result.error)
	t.eq(ev.result.value, "hello")
end

return T
