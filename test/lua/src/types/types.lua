-- test.types: Wippy's typed dialect end to end. This file is itself typed:
-- it loads only because the runtime erases its annotations, and each test
-- checks that what remains behaves as plain Lua, with the type names that
-- the original runtime makes into values (string(x), integer:is(x)).
local t = require("t")

type Point = {x: number, y: number, label: string?}
type Shape = {kind: "circle", r: number} | {kind: "rect", w: number, h: number}
type Handler<T> = (value: T, n: integer) -> (boolean, string?)
type Box<T> = {value: T}
interface Named
    function name(self: Named): string
end

local T = {}

local function area(s: Shape): number
    if s.kind == "circle" then
        return 3 * (s :: {r: number}).r ^ 2
    end
    local rect = s as {w: number, h: number}
    return rect.w * rect.h
end

local function first<V>(xs: {V}): V?
    return xs[1]
end

local function pair<K, V: string>(k: K, v: V): (K, V)
    return k, v
end

local function collect(...: integer): {integer}
    return {...}
end

function T.annotations_erase_to_plain_lua()
    local LIMIT <const>: integer = 3
    local p: Point = {x = 1, y = 2}
    local shapes: {Shape} = {{kind = "circle", r = 1}, {kind = "rect", w = 2, h = 3}}
    local total: number = 0
    for i = 1, #shapes do
        total = total + area(shapes[i])
    end
    t.eq(total, 9)
    t.eq(p.x + p.y, LIMIT)
    t.eq(first({"a", "b"}), "a")
    local k, v = pair(1, "one")
    t.eq(k, 1); t.eq(v, "one")
    t.eq(#collect(1, 2, 3), 3)
    local h: Handler<string> = function(value: string, n: integer): (boolean, string?)
        return #value == n, nil
    end
    t.eq(h("abc", 3), true)
    local b: Box<Box<integer>> = {value = {value = 7}}
    t.eq(b.value.value, 7)
end

function T.casts_and_nonnil()
    local raw: any = {port = 8080}
    local port = (raw :: {port: integer}).port
    t.eq(port, 8080)
    local maybe: string? = "x"
    t.eq(#maybe!, 1)
    local n = -port :: number + 1 as integer
    t.eq(n, -8079)
    -- a label right after a cast is a label
    for i = 1, 2 do
        local v = i :: integer
        if v == 1 then goto continue end
        t.eq(v, 2)
        ::continue::
    end
end

function T.lines_and_columns_are_kept()
    -- The error names this file and the line it is on in the typed source:
    -- annotations were blanked in place, not removed, so no line moved.
    local _, e = pcall(function(): () error("here") end)
    t.match(e, "types%.lua:79: here")
end

function T.type_named_identifiers_stay_lua()
    local type_ = type
    t.eq(type(42), "number")
    t.eq(type_("x"), "string")
    local entry = {type = "tool", as = 1, is = 2}
    entry.type = "func"
    t.eq(entry.type, "func")
    t.eq(entry.as + entry.is, 3)
end

function T.primitive_type_values_validate()
    t.eq(string("x"), "x")
    t.eq(integer(3), 3)
    t.eq(math.type(integer(3.0)), "float") -- returned as given, not converted
    t.eq(number(1.5), 1.5)
    t.eq(boolean(false), false)
    t.eq(any(nil), nil)
    t.eq(unknown("u"), "u")
    t.raises(function() return string(42) end, "expected string, got number")
    t.raises(function() return integer(2.5) end, "expected integer, got number")
    t.raises(function() return integer("3") end, "expected integer, got string")
    t.raises(function() return boolean(nil) end, "expected boolean, got nil")
    t.raises(function() return never(1) end, "expected never, got number")
    t.raises(function() return integer() end, "type integer expects at least 1 argument")
    t.raises(function() return number(1, 2) end, "type number validation expects 1 value, got 2")
end

function T.type_values_answer_is()
    local v, err = integer:is(4)
    t.eq(v, 4); t.is_nil(err)
    v, err = integer:is(2.5)
    t.is_nil(v); t.eq(err, "expected integer, got number")
    v, err = number:is("1")
    t.is_nil(v); t.eq(err, "expected number, got string")
    t.eq(integer:kind(), "integer")
    t.eq(boolean:name(), "boolean")
    t.eq(tostring(number), "number")
end

function T.string_library_stays_the_string_library()
    t.eq(string.upper("a"), "A")
    t.eq(("abc"):upper(), "ABC")
    t.is_nil(("x").is) -- string values see no type methods
    t.is_nil(rawget(string, "is"))
    local names = 0
    for k in pairs(string) do
        t.ok(k ~= "is" and k ~= "kind", "no type fields in string: " .. k)
        names = names + 1
    end
    t.ok(names > 10)
end

function T.upgrade_into_typed_code()
    local time = require("time")
    local pid = process.spawn_monitored("test.types:typed_v1", "test:procs", process.pid(), 1)
    local r = t.msg(time, "typed v1"):payload():data()
    t.eq(r.version, "v1"); t.eq(r.n, 1)
    process.send(pid, "upgrade")
    local m = t.msg(time, "typed v2")
    t.eq(m:from(), pid, "same pid after the upgrade")
    t.eq(m:payload():data().n, 2)
    process.send(pid, "fail")
    local ev = t.event(time, process.event.EXIT, pid)
    -- the upgraded code runs from the cache, erased: its lines are the user's
    t.contains(ev.result.error:message(), "workers.lua:17: v2 fails here")
end

return T
