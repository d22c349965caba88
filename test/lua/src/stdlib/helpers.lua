-- test.stdlib helpers: one process changes its math table, the next one
-- must not see the change.
local h = {}

function h.math_poker()
	math.floor = function() return "mine" end
	math.extra = 1
	math.pi = 3
	return math.floor(2.5) == "mine" and math.extra == 1 and math.pi == 3
end

function h.math_reader()
	return {floor = math.floor(2.5), extra = math.extra, pi = math.pi}
end

return h
