-- test.types: typed processes for the upgrade test. Each version reports to
-- its parent; v1 upgrades itself into v2 on request.
type Report = {version: string, n: integer}

local function v1(parent: string, n: integer): ()
    process.send(parent, "typed v1", {version = "v1", n = n} :: Report)
    local msg = process.inbox():receive()
    if msg:topic() == "upgrade" then
        process.upgrade("test.types:typed_v2", parent, n + 1)
    end
end

local function v2(parent: string, n: integer): string
    process.send(parent, "typed v2", {version = "v2", n = n} :: Report)
    local msg = process.inbox():receive()
    if msg:topic() == "fail" then
        error("v2 fails here") -- line 17 of the typed source
    end
    return "v2 done"
end

return { v1 = v1, v2 = v2 }
