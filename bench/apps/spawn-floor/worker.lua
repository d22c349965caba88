-- A process that only starts and exits: what a spawn costs at least.
local function main()
    return 0
end

return { main = main }
