-- Spawner: starts NUM_WORKERS monitored workers, counts the "tick" messages
-- they send back, and logs throughput every STATS_INTERVAL until the
-- service is stopped (CANCEL). Workers get their own CANCEL from the
-- runtime on shutdown, so the spawner only reports and returns.
local time = require("time")
local logger = require("logger")
local env = require("env")

-- Returns the string value of an env.variable (its default applies when
-- the OS variable is unset); a missing variable is a configuration error.
local function knob(name: string): string
    local v, err = env.get(name)
    if v == nil then
        error("env " .. name .. ": " .. tostring(err))
    end
    return v
end

-- Returns a duration knob ("500ms", "2s", ...) in whole milliseconds, >= 1:
-- tickers reject a zero duration.
local function knob_ms(name: string): integer
    local d, err = time.parse_duration(knob(name))
    if d == nil then
        error("env " .. name .. ": " .. tostring(err))
    end
    return math.max(1, math.floor(d:milliseconds()))
end

local function main(): integer
    local num_workers: number? = tonumber(knob("NUM_WORKERS"))
    if num_workers == nil or num_workers < 0 then
        error("env NUM_WORKERS: not a non-negative number: " .. knob("NUM_WORKERS"))
    end
    num_workers = math.floor(num_workers)
    local tick_min_ms = knob_ms("TICK_MIN")
    local tick_max_ms = knob_ms("TICK_MAX")
    if tick_max_ms < tick_min_ms then
        tick_min_ms, tick_max_ms = tick_max_ms, tick_min_ms
    end
    local stats_interval_ms = knob_ms("STATS_INTERVAL")

    logger:info("mass spawn starting", {
        num_workers = num_workers,
        tick_min_ms = tick_min_ms,
        tick_max_ms = tick_max_ms,
        stats_interval_ms = stats_interval_ms,
    })

    -- Subscribe first; ticks and EXITs that arrive while spawning wait in
    -- the process queue until the loop below reads them.
    local events = process.events()
    local inbox = process.inbox()
    local me = process.pid()

    local started = time.now()
    local spawned: integer = 0
    for i = 1, num_workers do
        local interval_ms = math.random(tick_min_ms, tick_max_ms)
        local pid, err = process.spawn_monitored("app:worker", "app:processes",
                                                 me, i, interval_ms)
        if pid == nil then
            logger:error("spawn failed", {worker = i, error = err})
            break
        end
        spawned = spawned + 1
    end
    local elapsed_s = time.now():sub(started):seconds()
    logger:info("all workers spawned", {
        count = spawned,
        elapsed_s = math.floor(elapsed_s * 1000 + 0.5) / 1000,
    })

    local ticker = assert(time.ticker(stats_interval_ms * time.MILLISECOND))
    local stats = ticker:response()
    local interval_s = stats_interval_ms / 1000
    local alive: integer = spawned
    local total_ticks: integer, reported_ticks: integer = 0, 0

    -- select takes the first ready case in array order: events come first
    -- so CANCEL is never stuck behind a flood of ticks, and the stats
    -- ticker comes before the inbox so a busy inbox cannot starve it.
    local cases = { events:case_receive(), stats:case_receive(), inbox:case_receive() }
    while true do
        local r = channel.select(cases)
        if r.channel == inbox then
            if r.value:topic() == "tick" then
                total_ticks = total_ticks + 1
            end
        elseif r.channel == stats then
            local new_ticks = total_ticks - reported_ticks
            reported_ticks = total_ticks
            logger:info("stats", {
                alive = alive,
                total_ticks = total_ticks,
                new_ticks = new_ticks,
                tick_rate = math.floor(new_ticks / interval_s + 0.5),
            })
        else
            local ev = r.value :: {kind: string}
            if ev.kind == process.event.EXIT then
                alive = alive - 1
            elseif ev.kind == process.event.CANCEL then
                logger:info("shutting down", {
                    workers_spawned = spawned,
                    still_alive = alive,
                    total_ticks = total_ticks,
                })
                ticker:stop()
                return 0
            end
        end
    end
end

return { main = main }
