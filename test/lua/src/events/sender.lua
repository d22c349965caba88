-- test.events:sender: sends one event for its spawner, then ends.
local events = require("events")

local function main(system, kind, path, data)
	local ok, err = events.send(system, kind, path, data)
	return ok and 0 or 1
end

return {main = main}
