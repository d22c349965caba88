local http = require("http")
local function handler()
    http.response():write("pong")
end
return { handler = handler }
