-- Small tables until the host's max_memory ends the process.
local function main(): integer
    local keep, n = {}, 0
    while true do
        n = n + 1
        keep[n] = { n, n + 1, tostring(n), false }
    end
end
return { main = main }
