local io = require("io")
local time = require("time")

type EchoResponse = {data: string, worker: string}

local reset <const>: string = "\027[0m"
local function dim(s: string): string return "\027[2m" .. s .. reset end
local function green(s: string): string return "\027[32m" .. s .. reset end
local function yellow(s: string): string return "\027[33m" .. s .. reset end
local function cyan(s: string): string return "\027[36m" .. s .. reset end

local function main(): integer
    local inbox = process.inbox()

    -- Wait for relay to register
    time.sleep("200ms")

    io.print(cyan("Echo Client"))
    io.print(dim("Type messages to echo. Ctrl+C to exit.\n"))

    while true do
        io.write(yellow("> "))
        local input: string? = io.readline()

        if not input or #input == 0 then
            break
        end

        local msg = {
            sender = process.pid(),
            data = input
        }
        local ok, err = process.send("relay", "echo", msg)
        if err then
            io.print(dim("  error: relay not available"))
        else
            local timeout = time.after("2s")
            local r = channel.select {
                inbox:case_receive(),
                timeout:case_receive()
            }

            if r.channel == timeout then
                io.print(dim("  timeout"))
            else
                local msg = r.value
                if msg:topic() == "echo_response" then
                    local resp = msg:payload():data() :: EchoResponse
                    io.print(green("  " .. resp.data))
                    io.print(dim("  from worker: " .. resp.worker))
                end
            end
        end
    end

    io.print("\nGoodbye!")
    return 0
end

return { main = main }
