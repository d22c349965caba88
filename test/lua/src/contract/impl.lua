-- The functions the contract tests' bindings map methods to.
local f = {}

function f.greet(name) return "Hello, " .. name end

function f.greet_alt(name) return "Hi, " .. name end

function f.shout(s) return string.upper(s) end

function f.add(a, b) return a + b end

function f.mul(a, b) return a * b end

function f.slow_add(a, b)
	require("time").sleep("10ms")
	return a + b
end

-- Returns the context values the method saw.
function f.values()
	return (require("ctx").all())
end

function f.who()
	local a = require("security").actor()
	return a and a:id() or "nobody"
end

function f.fail()
	return nil, errors.new({message = "taken", kind = errors.CONFLICT})
end

return f
