-- test.io: outside a terminal host every io call fails with
-- "no terminal context" (kind UNAVAILABLE) instead of touching stdio.
local t = require("t")
local io = require("io")

local T = {}

local function no_terminal(v, err)
	t.err(v, err, errors.UNAVAILABLE)
	t.eq(err:message(), "no terminal context")
end

function T.print_needs_terminal()
	no_terminal(io.print("x"))
	no_terminal(io.write("x"))
end

function T.args_need_terminal()
	no_terminal(io.args())
end

function T.readline_needs_terminal()
	no_terminal(io.readline())
end

return T
