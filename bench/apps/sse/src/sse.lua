local http = require("http")

-- Events until the client leaves (the write after returns an error).
local function sse()
	local res = http.response()
	res:set_transfer(http.TRANSFER.SSE)
	local i = 0
	while true do
		i = i + 1
		if res:write_event({name = "tick", data = i}) then
			return
		end
	end
end

return { sse = sse }
