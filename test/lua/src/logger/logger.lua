-- test.logger: logger calls, child loggers and fields (spec 8). The
-- output itself is checked by test/integration/conformance.sh, which
-- looks for the "conformance marker" record on stderr.
local t = require("t")
local logger = require("logger")

local T = {}

local function count(...) return select("#", ...) end

function T.levels_return_nothing()
	t.eq(count(logger:debug("d")), 0, "debug")
	t.eq(count(logger:info("i")), 0, "info")
	t.eq(count(logger:warn("w", {k = 1})), 0, "warn")
	t.eq(count(logger:error("e", {k = 2})), 0, "error")
end

function T.dot_syntax_fails()
	t.raises(function() logger.info("no self") end, "")
end

function T.with_returns_logger()
	local child = logger:with({component = "tests"})
	t.ok(child ~= logger, "a new logger")
	for _, m in ipairs({"debug", "info", "warn", "error", "with", "named"}) do
		t.eq(type(child[m]), "function", "child has " .. m)
	end
	t.eq(count(child:info("from child")), 0)
	local grandchild = child:with({depth = 2})
	t.eq(count(grandchild:info("from grandchild", {extra = true})), 0)
end

function T.named_returns_logger()
	local n = logger:named("conformance")
	t.eq(type(n.info), "function")
	t.eq(count(n:warn("named warn")), 0)
	t.eq(type(n:named("inner").info), "function", "names nest")
end

function T.named_empty_raises()
	t.raises(function() logger:named("") end, "name cannot be empty")
end

function T.fields_output_marker()
	logger:named("conf"):with({suite = "logger"}):info("conformance marker",
		{n = 7, error = errors.new("bad thing"), s = "text"})
end

function T.print_goes_to_log()
	t.eq(count(print("printed from a test", 1)), 0)
end

-- The original's print: single spaces between the parts, strings and
-- numbers as themselves, errors as their message, anything else as "".
-- conformance.sh reads the record from stderr.
function T.print_marker()
	print("print marker", 7, nil, true, {}, errors.new("as message"), "end")
end

return T
