-- test.sandbox helpers: one process changes what it shares by name with
-- every other (the string metatable, the library tables, _G); the next
-- process, on the same shard, must see none of it.
local h = {}

function h.string_meta_poker()
	local mt = getmetatable("")
	mt.__index = {upper = function() return "pwned" end}
	mt.__add = function() return "added" end
	mt.__len = function() return -1 end
	return ("abc"):upper() == "pwned" and ("a" + {}) == "added"
end

function h.string_meta_reader()
	local upper = ("abc"):upper()
	local ok = pcall(function() return "a" + {} end)
	return {upper = upper, add_raises = not ok, index_is_string = getmetatable("").__index == string}
end

function h.library_writer()
	string.x = "from the writer"
	string.upper = function() return "writer's upper" end
	table.foo = {1, 2, 3}
	table.insert = nil
	math.pi = 3
	os.platform = "writer"
	errors.INVALID = "writer's kind"
	coroutine.spawn = nil
	_G.y = "global from the writer"
	rawset(_G, "z", 1)
	setmetatable(_G, nil)
	return string.x ~= nil and math.pi == 3 and y ~= nil
end

function h.library_reader()
	return {
		string_x = string.x,
		upper = ("abc"):upper(),
		table_foo = table.foo,
		insert = type(table.insert),
		pi = math.pi,
		platform = os.platform,
		invalid = errors.INVALID,
		spawn = type(coroutine.spawn),
		y = y,
		z = rawget(_G, "z"),
		lazy_globals = type(json_never_defined) == "nil" and type(process) == "table",
	}
end

return h
