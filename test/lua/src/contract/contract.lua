-- Conformance tests for require("contract") (the original's
-- runtime/lua/modules/contract): definitions, bindings, default bindings,
-- instances whose methods run the bound functions through funcs, context
-- values from the binding id's query, with_context and open.
local t = require("t")
local contract = require("contract")
local time = require("time")
local security = require("security")
local T = {}

local NS = "test.contract:"

function T.get_and_introspect()
	local c, err = contract.get(NS .. "greeter")
	t.is_nil(err, "err")
	t.eq(c:id(), NS .. "greeter", "id")
	local ms = c:methods()
	t.eq(#ms, 3, "three methods")
	t.eq(ms[1].name, "greet", "file order")
	t.eq(ms[1].description, "Greet someone", "description")
	t.is_nil(ms[1].input_schemas, "no schemas")
	local m = c:method("shout")
	t.eq(m.name, "shout", "method()")
	t.eq(m.description, "", "no description is empty")
	t.eq(m.input_schemas[1].format, "application/schema+json", "input schema format")
	t.eq(m.input_schemas[1].definition.type, "string", "input schema definition")
	t.eq(m.output_schemas[1].definition.type, "string", "output schema")
	local none, merr = c:method("nope")
	t.err(none, merr, errors.NOT_FOUND, "nope")
	t.match(tostring(c), "^contract.Contract", "tostring")
end

function T.get_errors()
	t.err(nil, select(2, contract.get(NS .. "missing")), errors.NOT_FOUND, "contract not found")
	t.err(nil, select(2, contract.get(NS .. "greet")), errors.INVALID, "not a contract.definition")
	t.raises(function() contract.get() end, "string expected")
end

function T.open_binding_and_call()
	local inst, err = contract.open(NS .. "greeter_impl")
	t.is_nil(err, "err")
	local v, cerr = inst:greet("Ann")
	t.is_nil(cerr, "call err")
	t.eq(v, "Hello, Ann", "the bound function ran")
	t.eq(inst:shout("hey"), "HEY", "second method")
	t.match(tostring(inst), "greeter_impl", "tostring names the binding")
end

function T.default_binding()
	local inst, err = contract.get(NS .. "greeter"):open()
	t.is_nil(err, "err")
	t.eq(inst:greet("Bo"), "Hello, Bo", "the default binding")
	local calc = contract.get(NS .. "calc")
	local none, derr = calc:open()
	t.err(none, derr, errors.NOT_FOUND, "no default binding")
	t.eq(select(2, calc:open(nil, {})) ~= nil, true, "nil id with values: still the default")
end

function T.specific_binding_from_contract()
	local inst = contract.get(NS .. "greeter"):open(NS .. "greeter_alt")
	t.eq(inst:greet("Cy"), "Hi, Cy", "the binding asked for")
end

function T.open_errors()
	t.err(nil, select(2, contract.open(NS .. "missing")), errors.NOT_FOUND, "binding not found")
	t.err(nil, select(2, contract.open(NS .. "greeter")), errors.INVALID, "not a contract.binding")
	t.err(nil, select(2, contract.open(NS .. "greeter_impl?x=%zz")), errors.INVALID, "parse binding ID")
	t.err(nil, select(2, contract.get(NS .. "greeter"):open(NS .. "missing")), errors.NOT_FOUND)
	t.raises(function() contract.open() end, "string expected")
	t.raises(function() contract.open(NS .. "greeter_impl", 5) end, "table expected")
end

function T.find_implementations()
	local ids, err = contract.find_implementations(NS .. "greeter")
	t.is_nil(err, "err")
	t.deq(ids, {NS .. "greeter_impl", NS .. "greeter_alt"}, "greeter")
	t.deq(contract.find_implementations(NS .. "calc"), {NS .. "math_audit", NS .. "tenant_calc"}, "calc")
	t.deq(contract.get(NS .. "audit"):implementations(), {NS .. "math_audit"}, "method form")
	t.deq(contract.find_implementations(NS .. "lonely"), {}, "none")
	t.err(nil, select(2, contract.find_implementations(NS .. "missing")), errors.NOT_FOUND)
end

function T.is_checks_implemented_contracts()
	local inst = contract.open(NS .. "math_audit")
	t.eq(contract.is(inst, NS .. "calc"), true, "calc")
	t.eq(contract.is(inst, NS .. "audit"), true, "audit")
	t.eq(contract.is(inst, NS .. "greeter"), false, "not greeter")
	t.eq(contract.is(contract.get(NS .. "calc"), NS .. "calc"), false, "a Contract is no instance")
	t.raises(function() contract.is("x", NS .. "calc") end, "userdata expected")
	t.raises(function() contract.is(inst) end, "string expected")
end

function T.methods_dispatch_and_chain()
	local m = contract.open(NS .. "math_audit")
	local a = m:add(2, 3)
	t.eq(m:mul(a, 4), 20, "(2 + 3) * 4")
	t.is_nil(m.nonexistent, "no such method")
	t.is_nil(m.nonexistent_async, "nor its async form")
	t.eq(type(m.add), "function", "a method")
	t.raises(function() m.add(5, 6) end, "contract.Instance expected")
end

function T.defined_but_unbound_method()
	local inst = contract.open(NS .. "greeter_impl")
	local v, err = inst:wave()
	t.err(v, err, errors.NOT_FOUND, "not implemented")
end

function T.method_errors_keep_kind()
	local inst = contract.open(NS .. "math_audit")
	local v, err = inst:fail()
	t.err(v, err, errors.CONFLICT, "taken")
end

function T.async_methods()
	local inst = contract.open(NS .. "math_audit")
	local f = inst:slow_add_async(20, 22)
	t.eq(f:is_complete(), false, "not yet")
	local p = t.recv(time, f:response())
	t.eq(p:data(), 42, "the result on the channel")
	t.eq(f:result():data(), 42, "and from result()")
end

function T.context_required()
	local none, err = contract.open(NS .. "tenant_calc")
	t.err(none, err, errors.INVALID, "tenant")
	local inst, oerr = contract.open(NS .. "tenant_calc", {tenant = "t1"})
	t.is_nil(oerr, "err")
	t.deq(inst:values(), {tenant = "t1"}, "the method saw the value")
	inst = contract.get(NS .. "calc"):with_context({tenant = "t2"}):open(NS .. "tenant_calc")
	t.eq(inst:values().tenant, "t2", "from with_context")
end

function T.query_arguments_and_priorities()
	local inst = contract.open(NS .. "tenant_calc?tenant=q&n=5&f=1.5&flag=true&off=false&s=a+b%21")
	local v = inst:values()
	t.eq(v.tenant, "q", "string")
	t.eq(v.n, 5, "integer")
	t.eq(math.type(v.n), "integer", "an integer")
	t.eq(v.f, 1.5, "float")
	t.eq(v.flag, true, "true")
	t.eq(v.off, false, "false")
	t.eq(v.s, "a b!", "unescaped")
	local c = contract.get(NS .. "calc"):with_context({tenant = "ctx", only_ctx = 1})
	v = c:open(NS .. "tenant_calc?tenant=query&only_query=1", {extra = true}):values()
	t.eq(v.tenant, "ctx", "with_context over the query")
	t.eq(v.only_query, 1, "query kept")
	t.eq(v.only_ctx, 1, "context kept")
	t.eq(v.extra, true, "open's table kept")
	v = c:open(NS .. "tenant_calc?tenant=query", {tenant = "table"}):values()
	t.eq(v.tenant, "table", "open's table over everything")
end

function T.with_context_is_immutable()
	local base = contract.get(NS .. "calc"):with_context({tenant = "a"})
	local derived = base:with_context({tenant = "b", more = 1})
	t.deq(base:open(NS .. "tenant_calc"):values(), {tenant = "a"}, "base")
	t.deq(derived:open(NS .. "tenant_calc"):values(), {tenant = "b", more = 1}, "derived")
	t.raises(function() base:with_context(1) end, "table expected")
end

function T.actor_and_scope_reach_methods()
	local c = contract.get(NS .. "audit"):with_actor(security.new_actor("auditor"))
	t.eq(c:open(NS .. "math_audit"):who(), "auditor", "with_actor")
	t.eq(contract.open(NS .. "math_audit"):who(), "nobody", "plain open")
	local s = contract.get(NS .. "audit"):with_scope(security.new_scope()):with_options({retry = {}})
	t.eq(s:open(NS .. "math_audit"):who(), "nobody", "scope and options keep the call working")
	t.raises(function() c:with_actor(nil) end, "actor cannot be nil")
	t.raises(function() c:with_actor("x") end, "Actor expected")
	t.raises(function() c:with_scope(nil) end, "scope cannot be nil")
	t.raises(function() c:with_scope({}) end, "Scope expected")
end

return T
