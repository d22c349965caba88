#!/usr/bin/env bash
# test/integration/cluster_groups.sh: system.node / system.cluster,
# process groups (require("pg")) and system.lock across two wippy nodes on
# one NATS server (JetStream on), all on loopback, in a temp dir with a
# free port.
#
# Node A runs app:a: a member m1 that joins group "g" and prints every
# "hello" it gets; a locker that takes lock "L1" and holds it until told
# to go; and, joined to "g2" and holding "L2" itself, a loop that answers
# B's commands. Node B runs app:b, given A's pid:
#   - system.node.id / role / addr and system.cluster.members / size /
#     leader as B sees them (local first, then A);
#   - its member m2 and itself join "g"; pg.members("g") on B and (asked
#     for) on A both list the same three members;
#   - pg.broadcast("g") reaches m1 on A, m2 and B itself, each exactly once;
#   - m1 exits (told by A): it leaves "g" on both nodes;
#   - lock "L1": B's acquire gives false + AlreadyExists while A's locker
#     holds it, B's release of it gives false; once the locker exits, B
#     acquires it; release, acquire again;
#   - the script SIGKILLs node A: "g2" empties and B acquires "L2";
#   - the error paths (bad group, a pid of another node, a process gone,
#     bad lock name).
# Then strict mode on a receiving node (C) refuses a remote sender with
# no context, where a node without it (D) takes the same sends. Then a
# node without --cluster: system.node.id is its host name, members
# is itself, pg gives Unavailable, lock gives Internal. Skips (77) when
# nats-server is not installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
lib_tmpdir
lib_nats_start
HB_MS=300
[ -n "${SANITIZER:-}" ] && HB_MS=1000

APP=$TMP/app
mkdir -p "$APP/src"
printf 'src: ./src\nmodules: .wippy\n' >"$APP/wippy.lock"
cat >"$APP/src/_index.yaml" <<'EOF'
version: "1.0"
namespace: app
entries:
  - name: terminal
    kind: terminal.host
    lifecycle:
      auto_start: true
  - name: processes
    kind: process.host
    lifecycle:
      auto_start: true
  - name: a
    kind: process.lua
    source: file://a.lua
    method: main
    modules: [io, process, time, channel, system, pg, security]
  - name: send_rule
    kind: security.policy
    policy: {actions: process.send, resources: '{B@app:terminal|*', effect: allow}
  - name: send_rest
    kind: security.policy
    policy: {actions: '*', resources: '*', effect: allow}
  - name: secsender
    kind: process.lua
    source: file://secsender.lua
    method: main
    modules: [process]
  - name: sink
    kind: process.lua
    source: file://sink.lua
    method: main
    modules: [process]
  - name: b
    kind: process.lua
    source: file://b.lua
    method: main
    modules: [io, process, time, channel, system, pg]
  - name: member
    kind: process.lua
    source: file://member.lua
    method: main
    modules: [process, pg]
  - name: locker
    kind: process.lua
    source: file://locker.lua
    method: main
    modules: [process, system]
EOF
cat >"$APP/src/member.lua" <<'EOF'
local pg = require("pg")
-- Reports go to the parent, which prints them (a process host has no
-- terminal).
local function main(tag, group, parent)
    local ok, err = pg.join(group)
    process.send(parent, "report", tag .. " joined " .. tostring(ok) .. " " .. tostring(err))
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "quit" then return 0 end
        process.send(parent, "report", tag .. " got " .. msg:topic() .. " " ..
            tostring(msg:payload():data()) .. " from " .. msg:from())
    end
end
return { main = main }
EOF
cat >"$APP/src/secsender.lua" <<'EOF'
-- Runs with an actor and a scope (send_rule, send_rest): sends to a
-- process of B's on app:processes and to B's main on app:terminal.
local function main(sink, bmain, parent)
    local ok1, e1 = process.send(sink, "sec", 1)
    local ok2, e2 = process.send(bmain, "sec", 2)
    process.send(parent, "report", "secsender sent " .. tostring(ok1) .. " " .. tostring(ok2))
    return 0
end
return { main = main }
EOF
cat >"$APP/src/sink.lua" <<'EOF'
local function main(parent)
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        process.send(parent, "report", "sink got " .. msg:topic() .. " " ..
            tostring(msg:payload():data()))
    end
end
return { main = main }
EOF
cat >"$APP/src/locker.lua" <<'EOF'
local system = require("system")
local function main(name, parent)
    local ok, err = system.lock.acquire(name)
    process.send(parent, "report", "locker " .. name .. " " .. tostring(ok) .. " " .. tostring(err))
    process.inbox():receive()
    return 0
end
return { main = main }
EOF
cat >"$APP/src/a.lua" <<'EOF'
local io = require("io")
local time = require("time")
local system = require("system")
local pg = require("pg")
local function say(s) io.print(s); io.flush() end
local function main()
    local reps = process.listen("report")
    local m1 = process.spawn("app:member", "app:processes", "A-m1", "g", process.pid())
    local locker = process.spawn("app:locker", "app:processes", "L1", process.pid())
    for _ = 1, 2 do say(reps:receive()) end
    say("g2 join " .. tostring(pg.join("g2")))
    say("L2 " .. tostring(system.lock.acquire("L2")))
    say("node " .. tostring(system.node.id()))
    time.sleep("200ms")
    say("pid " .. process.pid())
    local inbox = process.inbox()
    while true do
        local r = channel.select { inbox:case_receive(), reps:case_receive() }
        if r.channel == reps then say(r.value) end
        local msg = r.channel == inbox and r.value
        local t = msg and msg:topic()
        if t == "count" then
            local want = msg:payload():data()
            local got
            for _ = 1, 200 do
                got = pg.members("g")
                if #got == want then break end
                time.sleep("25ms")
            end
            process.send(msg:from(), "count", table.concat(got, ","))
        elseif t == "kill_m1" then
            process.send(m1, "quit")
            process.send(msg:from(), "done")
        elseif t == "secsend" then
            local security = require("security")
            local d = msg:payload():data()
            local sc = security.new_scope({security.policy("app:send_rule"),
                                           security.policy("app:send_rest")})
            local _, serr = process.with_context({}):with_actor(security.new_actor("alice"))
                :with_scope(sc):spawn("app:secsender", "app:processes", d.sink, d.b, process.pid())
            process.send(msg:from(), "done", tostring(serr))
        elseif t == "free_lock" then
            process.send(locker, "quit")
            process.send(msg:from(), "done")
        end
    end
end
return { main = main }
EOF
cat >"$APP/src/b.lua" <<'EOF'
local io = require("io")
local time = require("time")
local system = require("system")
local pg = require("pg")
local function say(s) io.print(s); io.flush() end
local function wait_members(group, n)
    local got
    for _ = 1, 400 do
        got = pg.members(group)
        if #got == n then return got end
        time.sleep("25ms")
    end
    return got
end
local function main(apid)
    local inbox = process.inbox()
    local function ask(topic, arg)
        process.send(apid, topic, arg)
        local r = channel.select { inbox:case_receive(), time.after("15s"):case_receive() }
        if r.channel ~= inbox then error("no answer to " .. topic) end
        local pl = r.value:payload()
        return pl and pl:data()
    end
    local ok, err
    for _ = 1, 200 do
        ok, err = process.send(apid, "nothing")
        if ok then break end
        time.sleep("50ms")
    end
    if not ok then return nil, "A never became reachable: " .. tostring(err) end

    -- system.node / system.cluster
    say("node.id " .. tostring(system.node.id()))
    say("node.role " .. tostring(system.node.role()))
    local a, aerr = system.node.addr()
    say("node.addr " .. tostring(a) .. " " .. tostring(aerr and aerr:kind()))
    local ms
    for _ = 1, 200 do
        ms = system.cluster.members()
        if #ms == 2 then break end
        time.sleep("25ms")
    end
    local parts = {}
    for _, m in ipairs(ms) do parts[#parts + 1] = m.id .. ":" .. tostring(m.is_local) end
    say("members " .. table.concat(parts, ","))
    say("size " .. tostring(system.cluster.size()) .. " leader '" ..
        tostring(system.cluster.leader()) .. "'")

    -- groups
    local reps = process.listen("report")
    local m2 = process.spawn("app:member", "app:processes", "B-m2", "g", process.pid())
    say(reps:receive())
    say("self join " .. tostring(pg.join("g")))
    say("again join " .. tostring(pg.join("g")))
    local got = wait_members("g", 3)
    say("B sees " .. #got)
    local mine = {}
    for _, p in ipairs(got) do mine[#mine + 1] = p end
    local theirs = ask("count", 3)
    say("A sees same " .. tostring(theirs == table.concat(mine, ",")))
    say("A list " .. theirs)
    say("self listed " .. tostring(string.find(theirs, process.pid(), 1, true) ~= nil))
    local n, berr = pg.broadcast("g", "hello", 1)
    say("broadcast " .. tostring(n) .. " " .. tostring(berr))
    local hellos = 0
    while true do
        local r = channel.select { inbox:case_receive(), time.after("500ms"):case_receive() }
        if r.channel ~= inbox then break end
        if r.value:topic() == "hello" then hellos = hellos + 1 end
    end
    say("B self got hello x" .. hellos)
    say("leave " .. tostring(pg.leave("g")) .. " again " .. tostring(pg.leave("g")))
    say("after leave " .. #wait_members("g", 2))
    ask("kill_m1")
    local left = wait_members("g", 1)
    say("after m1 exit " .. #left .. " " .. tostring(left[1]))

    -- locks
    local lok, lerr
    for _ = 1, 200 do
        lok, lerr = system.lock.acquire("L1")
        if lok == false then break end
        time.sleep("25ms")
    end
    say("L1 held by A: " .. tostring(lok) .. " " .. tostring(lerr and lerr:kind()))
    say("L1 release by B: " .. tostring(system.lock.release("L1")))
    ask("free_lock")
    for _ = 1, 400 do
        lok, lerr = system.lock.acquire("L1")
        if lok then break end
        time.sleep("25ms")
    end
    say("L1 after A's holder exit: " .. tostring(lok) .. " " .. tostring(lerr))
    say("L1 release " .. tostring(system.lock.release("L1")) .. " then " ..
        tostring(system.lock.release("L1")))
    local again, aerr = system.lock.acquire("L1")
    say("L1 again " .. tostring(again) .. (again and "" or " " .. tostring(aerr)))
    say("L1 by its holder " .. tostring(system.lock.acquire("L1")))
    local l2 = system.lock.acquire("L2")
    say("L2 while A lives " .. tostring(l2))
    say("g2 while A lives " .. #pg.members("g2"))

    -- security: B's send_rule denies sends to its terminal host
    local sink = process.spawn("app:sink", "app:processes", process.pid())
    say("secsend " .. tostring(ask("secsend", {sink = sink, b = process.pid()})))
    local sunk = channel.select { reps:case_receive(), time.after("10s"):case_receive() }
    say(tostring(sunk.channel == reps and sunk.value))
    local direct = 0
    while true do
        local r = channel.select { inbox:case_receive(), time.after("1s"):case_receive() }
        if r.channel ~= inbox then break end
        if r.value:topic() == "sec" then direct = direct + 1 end
    end
    say("sec direct x" .. direct)

    -- error paths
    local e1, x1 = pg.join("")
    say("bad group " .. tostring(e1) .. " " .. tostring(x1 and x1:kind()))
    local e2, x2 = pg.join("g", apid)
    say("remote pid " .. tostring(e2) .. " " .. tostring(x2 and x2:kind()))
    local e3, x3 = pg.join("g", "{app:processes|0xfffff}")
    say("gone pid " .. tostring(e3) .. " " .. tostring(x3 and x3:kind()))
    local e4, x4 = pg.broadcast("g", "@x")
    say("bad topic " .. tostring(e4) .. " " .. tostring(x4 and x4:kind()))
    say("empty group members " .. #pg.members("nobody"))
    local e5 = pcall(system.lock.acquire)
    say("lock no name raises " .. tostring(not e5))

    while true do
        local r = channel.select { reps:case_receive(), time.after("300ms"):case_receive() }
        if r.channel ~= reps then break end
        say(r.value)
    end
    say("ready for kill")
    local g2 = wait_members("g2", 0)
    say("g2 after A died " .. #g2)
    for _ = 1, 400 do
        lok, lerr = system.lock.acquire("L2")
        if lok then break end
        time.sleep("25ms")
    end
    say("L2 after A died " .. tostring(lok) .. " " .. tostring(lerr))
    say("members after A died " .. #system.cluster.members())
    process.send(m2, "quit")
    return 0
end
return { main = main }
EOF

printf 'cluster:\n  heartbeat: %sms\n' "$HB_MS" >"$TMP/hb.yaml"
# B runs its own copy of the app, where send_rule denies: a send that A's
# policies let out must still be refused by B's.
cp -r "$APP" "$TMP/appb"
APPB=$TMP/appb
sed -i "s/resources: '{B@app:terminal|\*', effect: allow}/resources: '{B@app:terminal|*', effect: deny}/" "$APPB/src/_index.yaml"
grep -q "terminal|\*', effect: deny" "$APPB/src/_index.yaml" || die "B's copy of send_rule was not changed"
note "node A"
(cd "$APP" && exec "$WIPPY" run --node A --cluster "$URL" --config "$TMP/hb.yaml" -x app:a \
	>"$TMP/a.out" 2>"$TMP/a.err") &
A_PID=$!
lib_track "$A_PID"
wait_for_line 20 "$A_PID" "$TMP/a.out" '^pid ' || { show a.out "$TMP/a.out"; show a.err "$TMP/a.err"; die "node A did not start"; }
APID=$(sed -n 's/^pid //p' "$TMP/a.out")
expect_fixed "A" "$TMP/a.out" "node A"
expect_fixed "A" "$TMP/a.out" "g2 join true"
expect_fixed "A" "$TMP/a.out" "L2 true"
expect_fixed "A" "$TMP/a.out" "A-m1 joined true nil"
expect_fixed "A" "$TMP/a.out" "locker L1 true nil"

note "node B"
(cd "$APPB" && exec "$WIPPY" run -v --node B --cluster "$URL" --config "$TMP/hb.yaml" -x app:b "$APID" \
	>"$TMP/b.out" 2>"$TMP/b.err") &
B_PID=$!
lib_track "$B_PID"
wait_for_line 60 "$B_PID" "$TMP/b.out" '^ready for kill' || { show b.out "$TMP/b.out"; show b.err "$TMP/b.err"; show a.out "$TMP/a.out"; die "B did not get to the kill"; }
sed "s/^/# B: /" "$TMP/b.out"
BPID=$(sed -n 's/^self join //p' "$TMP/b.out")
expect_fixed "B" "$TMP/b.out" "node.id B"
expect_fixed "B" "$TMP/b.out" "node.role non-member"
expect_fixed "B" "$TMP/b.out" "node.addr nil Internal"
expect_fixed "B" "$TMP/b.out" "members B:true,A:false"
expect_fixed "B" "$TMP/b.out" "size 2 leader ''"
expect_fixed "B" "$TMP/b.out" "self join true"
expect_fixed "B" "$TMP/b.out" "again join true"
expect_fixed "B" "$TMP/b.out" "B-m2 joined true nil"
expect_fixed "B" "$TMP/b.out" "B sees 3"
expect_fixed "B" "$TMP/b.out" "A sees same true"
expect_fixed "B" "$TMP/b.out" "self listed true"
expect_regex "B" "$TMP/b.out" '^A list \{[AB]@app:processes\|0x[0-9a-f]+\},\{[AB]@app:(processes|terminal)\|0x[0-9a-f]+\},'
expect_fixed "B" "$TMP/b.out" "broadcast 3 nil"
expect_fixed "B" "$TMP/b.out" "B self got hello x1"
[ "$(count_regex "$TMP/b.out" '^B-m2 got hello 1 from \{B@app:terminal')" = 1 ] || die "m2 (on B) should get the broadcast exactly once"
[ "$(count_regex "$TMP/a.out" '^A-m1 got hello 1 from \{B@app:terminal')" = 1 ] || { show a.out "$TMP/a.out"; die "m1 (on A) should get the broadcast exactly once"; }
expect_fixed "B" "$TMP/b.out" "leave true again false"
expect_fixed "B" "$TMP/b.out" "after leave 2"
expect_regex "B" "$TMP/b.out" '^after m1 exit 1 \{B@app:processes\|0x[0-9a-f]+\}$'
expect_fixed "B" "$TMP/b.out" "L1 held by A: false AlreadyExists"
expect_fixed "B" "$TMP/b.out" "L1 release by B: false"
expect_fixed "B" "$TMP/b.out" "L1 after A's holder exit: true nil"
expect_fixed "B" "$TMP/b.out" "L1 release true then false"
expect_fixed "B" "$TMP/b.out" "L1 again true"
expect_fixed "B" "$TMP/b.out" "L1 by its holder true"
expect_fixed "B" "$TMP/b.out" "L2 while A lives false"
expect_fixed "B" "$TMP/b.out" "g2 while A lives 1"
expect_fixed "B" "$TMP/b.out" "secsend nil"
expect_fixed "B" "$TMP/b.out" "sink got sec 1"
expect_fixed "B" "$TMP/b.out" "sec direct x0"
expect_fixed "A" "$TMP/a.out" "secsender sent true true"
expect_fixed "B" "$TMP/b.out" "bad group nil Invalid"
expect_fixed "B" "$TMP/b.out" "remote pid nil Invalid"
expect_fixed "B" "$TMP/b.out" "gone pid nil NotFound"
expect_fixed "B" "$TMP/b.out" "bad topic nil Invalid"
expect_fixed "B" "$TMP/b.out" "empty group members 0"
expect_fixed "B" "$TMP/b.out" "lock no name raises true"

note "SIGKILL node A"
kill -KILL "$A_PID"
wait_for_line 30 "$B_PID" "$TMP/b.out" '^members after A died' || { show b.out "$TMP/b.out"; show b.err "$TMP/b.err"; die "B did not see A die"; }
expect_fixed "B" "$TMP/b.out" "g2 after A died 0"
expect_fixed "B" "$TMP/b.out" "L2 after A died true nil"
expect_fixed "B" "$TMP/b.out" "members after A died 1"
set +e
timeout 20 tail --pid="$B_PID" -f /dev/null
wait "$B_PID"
RC=$?
set -e
check_no_sanitizer "B stderr" "$TMP/b.err"
check_no_sanitizer "A stderr" "$TMP/a.err"
check_exit "node B" "$RC" 0
expect_regex "B err" "$TMP/b.err" 'DEBUG.*a send from \{A@app:processes\|0x[0-9a-f]+\} to local pid 0x1 dropped: process.send not allowed here'
[ "$(count_regex "$TMP/b.err" 'dropped: process.send not allowed')" = 1 ] || die "exactly one send should be refused by B"

note "strict mode on the receiving node: a remote sender with no security context is refused"
cat >"$APP/src/rx.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function main(secs)
    io.print("pid " .. process.pid()); io.flush()
    local inbox, n = process.inbox(), 0
    local stop = time.after(secs)
    while true do
        local r = channel.select { inbox:case_receive(), stop:case_receive() }
        if r.channel ~= inbox then break end
        n = n + 1
    end
    io.print("rx got " .. n); io.flush()
    return 0
end
return { main = main }
EOF
cat >"$APP/src/tx.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function main(strict, plain)
    for _, to in ipairs({strict, plain}) do
        local ok, err
        for _ = 1, 200 do
            ok, err = process.send(to, "ping", 0)
            if ok then break end
            time.sleep("25ms")
        end
        for i = 1, 3 do process.send(to, "ping", i) end
        io.print("tx " .. tostring(ok) .. " " .. tostring(err)); io.flush()
    end
    return 0
end
return { main = main }
EOF
cat >>"$APP/src/_index.yaml" <<'EOF'
  - {name: rx, kind: process.lua, source: file://rx.lua, method: main, modules: [io, process, time, channel]}
  - {name: tx, kind: process.lua, source: file://tx.lua, method: main, modules: [io, process, time]}
EOF
printf 'cluster:\n  heartbeat: %sms\nsecurity:\n  strict_mode: true\n' "$HB_MS" >"$TMP/strict.yaml"
(cd "$APP" && exec timeout 60 "$WIPPY" run --node C --cluster "$URL" --config "$TMP/strict.yaml" -x app:rx 6s \
	>"$TMP/c.out" 2>"$TMP/c.err") &
C_PID=$!
lib_track "$C_PID"
(cd "$APP" && exec timeout 60 "$WIPPY" run --node D --cluster "$URL" --config "$TMP/hb.yaml" -x app:rx 6s \
	>"$TMP/d.out" 2>"$TMP/d.err") &
D_PID=$!
lib_track "$D_PID"
wait_for_line 20 "$C_PID" "$TMP/c.out" '^pid ' || { show c.err "$TMP/c.err"; die "node C did not start"; }
wait_for_line 20 "$D_PID" "$TMP/d.out" '^pid ' || { show d.err "$TMP/d.err"; die "node D did not start"; }
(cd "$APP" && timeout 30 "$WIPPY" run --node E --cluster "$URL" --config "$TMP/hb.yaml" -x app:tx \
	"$(sed -n 's/^pid //p' "$TMP/c.out")" "$(sed -n 's/^pid //p' "$TMP/d.out")" >"$TMP/e.out" 2>"$TMP/e.err") ||
	{ show e.err "$TMP/e.err"; die "node E failed"; }
[ "$(count_regex "$TMP/e.out" '^tx true nil$')" = 2 ] || { show e.out "$TMP/e.out"; die "E's sends should be accepted on its side"; }
set +e
wait "$C_PID"; RC1=$?
wait "$D_PID"; RC2=$?
set -e
check_no_sanitizer "C stderr" "$TMP/c.err"
check_no_sanitizer "D stderr" "$TMP/d.err"
check_exit "node C" "$RC1" 0
check_exit "node D" "$RC2" 0
expect_fixed "C (strict)" "$TMP/c.out" "rx got 0"
expect_fixed "D (not strict)" "$TMP/d.out" "rx got 4"

note "a node without --cluster"
cat >"$APP/src/solo.lua" <<'EOF'
local io = require("io")
local system = require("system")
local pg = require("pg")
local function main()
    io.print("id " .. tostring(system.node.id()))
    local ms = system.cluster.members()
    io.print("members " .. #ms .. " " .. ms[1].id .. " " .. tostring(ms[1].is_local))
    io.print("size " .. tostring(system.cluster.size()))
    local ok, err = pg.join("g")
    io.print("pg " .. tostring(ok) .. " " .. tostring(err and err:kind()))
    local m, merr = pg.members("g")
    io.print("pg members " .. tostring(m) .. " " .. tostring(merr and merr:kind()))
    local l, lerr = system.lock.acquire("L")
    io.print("lock " .. tostring(l) .. " " .. tostring(lerr and lerr:kind()))
    return 0
end
return { main = main }
EOF
cat >>"$APP/src/_index.yaml" <<'EOF'
  - name: solo
    kind: process.lua
    source: file://solo.lua
    method: main
    modules: [io, system, pg]
EOF
(cd "$APP" && timeout 20 "$WIPPY" run --node S -x app:solo >"$TMP/s.out" 2>"$TMP/s.err") ||
	{ show s.err "$TMP/s.err"; die "the node without --cluster failed"; }
check_no_sanitizer "S stderr" "$TMP/s.err"
expect_fixed "S" "$TMP/s.out" "id S"
expect_fixed "S" "$TMP/s.out" "members 1 S true"
expect_fixed "S" "$TMP/s.out" "size 1"
expect_fixed "S" "$TMP/s.out" "pg nil Unavailable"
expect_fixed "S" "$TMP/s.out" "pg members nil Unavailable"
expect_fixed "S" "$TMP/s.out" "lock nil Internal"
note "ok: system.node/cluster, process groups, locks across nodes and node death"
