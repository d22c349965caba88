#!/usr/bin/env bash
# test/integration/cluster.sh: two wippy nodes on one NATS server (JetStream
# on), all on loopback, in a temp dir with a free port.
#
# Node A (`--node A`) runs a server process that registers the name "echo"
# cluster-wide (CONSISTENT), prints its pid, answers "ping" with "pong" to
# the sender's pid, and counts the "seq" messages it gets, checking that
# they arrive in the order sent. Node B (`--node B`) runs a client that,
# given A's pid:
#   - pings it (retrying until B has heard A's presence) and checks that the
#     reply's from() is A's pid, printed {A@host|0x...};
#   - sends to "echo" by name and gets A's reply; registering "echo"
#     CONSISTENT itself gives AlreadyExists; an EVENTUAL name is its own;
#   - sends to a node that does not exist and gets kind Unavailable;
#   - sends 100,000 numbered messages and gets A's count and order;
#   - monitors a pid A does not have and gets its EXIT "process not found";
#   - monitors and links (trap_links) A's process; the script SIGKILLs node
#     A, and B's EXIT and LINK_DOWN must come with an Unavailable error
#     naming node A within 3 heartbeats plus a margin, and "echo" is free
#     again: B's CONSISTENT register wins.
# Then: two nodes race for one CONSISTENT name (one wins, one gets
# AlreadyExists); a name is released when its holder exits; the server is
# restarted under two nodes (sends fail with Unavailable while it is gone
# and flow again once it is back); a node without cluster.enabled makes no
# connection (the server's monitoring endpoint, connz) and a remote pid
# gives it Unavailable; and the error paths (no server, a bad node name,
# enabled without a URL) stop the boot. Skips (77) when nats-server is not
# installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
lib_tmpdir
lib_nats_start
N=100000
# Heartbeat: a node silent for 3 of them is down. Under a sanitizer the
# nodes are so slow that a loaded one can miss 0.9 s of heartbeats.
HB_MS=300
[ -n "${SANITIZER:-}" ] && HB_MS=1000
HB=${HB_MS}ms

conns() { curl -sf "http://127.0.0.1:$MPORT/connz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_connections"])'; }

# {==== The app: one registry for both nodes ====}
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
  - name: server
    kind: process.lua
    source: file://server.lua
    method: main
    modules: [io, process, time, channel]
  - name: client
    kind: process.lua
    source: file://client.lua
    method: main
    modules: [io, process, time, channel]
EOF
cat >"$APP/src/server.lua" <<'EOF'
local io = require("io")
local function main(name)
    local inbox = process.inbox()
    local rok, rerr = process.registry.register(name or "echo", nil, process.registry.CONSISTENT)
    if not rok then return nil, "register echo: " .. tostring(rerr) end
    io.print("pid " .. process.pid())
    io.flush()
    local next_seq, count, in_order = 1, 0, true
    while true do
        local msg = inbox:receive()
        local topic = msg:topic()
        if topic == "ping" then
            process.send(msg:from(), "pong", msg:payload():data())
        elseif topic == "seq" then
            local i = msg:payload():data()
            if i ~= next_seq then in_order = false end
            next_seq = i + 1
            count = count + 1
        elseif topic == "done" then
            process.send(msg:from(), "summary", {count = count, in_order = in_order})
        end
    end
end
return { main = main }
EOF
cat >"$APP/src/client.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function say(s) io.print(s); io.flush() end
local function main(apid, n)
    n = tonumber(n)
    local inbox = process.inbox()
    -- B learns of A from its first heartbeat: until then A is unknown.
    local ok, err
    for _ = 1, 200 do
        ok, err = process.send(apid, "ping", 7)
        if ok then break end
        time.sleep("50ms")
    end
    if not ok then return nil, "A never became reachable: " .. tostring(err) end
    say("early error kind " .. tostring(err and err:kind()))
    local r = channel.select { inbox:case_receive(), time.after("5s"):case_receive() }
    if r.channel ~= inbox then return nil, "no pong" end
    local msg = r.value
    say("pong " .. tostring(msg:payload():data()) .. " from " .. msg:from())
    say("self " .. process.pid())

    -- The name A registered (CONSISTENT), from B's cache of the KV.
    local nok, nerr
    for _ = 1, 100 do
        nok, nerr = process.send("echo", "ping", 8)
        if nok then break end
        time.sleep("20ms")
    end
    local r2 = channel.select { inbox:case_receive(), time.after("5s"):case_receive() }
    if r2.channel ~= inbox then return nil, "no pong by name: " .. tostring(nerr) end
    say("by name: pong " .. tostring(r2.value:payload():data()) .. " from " .. r2.value:from())
    say("lookup echo " .. tostring(process.registry.lookup("echo")))
    local cok, cerr = process.registry.register("echo", nil, process.registry.CONSISTENT)
    say("taken: " .. tostring(cok) .. " kind " .. tostring(cerr and cerr:kind()))
    local eok = process.registry.register("mine", nil, process.registry.EVENTUAL)
    say("eventual: " .. tostring(eok) .. " lookup " .. tostring(process.registry.lookup("mine")))

    local ok2, err2 = process.send("{nosuch@app:processes|0x00001}", "x", 1)
    say("unknown node: " .. tostring(ok2) .. " kind " .. tostring(err2 and err2:kind()) ..
        " message " .. tostring(err2))

    local t0 = time.now()
    for i = 1, n do
        local sok, serr = process.send(apid, "seq", i)
        if not sok then return nil, "send " .. i .. " failed: " .. tostring(serr) end
    end
    process.send(apid, "done")
    local s = channel.select { inbox:case_receive(), time.after("60s"):case_receive() }
    if s.channel ~= inbox then return nil, "no summary" end
    local sum = s.value:payload():data()
    say(string.format("summary count %d in_order %s in %.2fs", sum.count, tostring(sum.in_order),
        time.now():sub(t0):seconds()))

    local events = process.events()
    -- A pid of A's that does not exist: its EXIT comes back from A.
    local gone = "{A@app:terminal|0x00fff}"
    local gok = process.monitor(gone)
    local g = channel.select { events:case_receive(), time.after("5s"):case_receive() }
    local gev = g.value
    if type(gev) ~= "table" then return nil, "no EXIT for a missing remote pid" end
    say("missing: " .. tostring(gok) .. " " .. tostring(gev.kind) .. " from " .. tostring(gev.from) ..
        " error " .. tostring(gev.result and gev.result.error))
    local mok, merr = process.monitor(apid)
    process.set_options({trap_links = true})
    local lok, lerr = process.link(apid)
    say("linked " .. tostring(lok) .. " " .. tostring(lerr))
    say("monitoring " .. tostring(mok) .. " " .. tostring(merr))
    for _ = 1, 2 do
        local e = channel.select { events:case_receive(), time.after("30s"):case_receive() }
        local ev = e.value
        if type(ev) ~= "table" then return nil, "no EXIT or LINK_DOWN event" end
        local er = ev.result and ev.result.error
        say("event " .. tostring(ev.kind) .. " from " .. tostring(ev.from) .. " kind " ..
            tostring(er and er:kind()) .. " error " .. tostring(er))
    end
    local ok3, err3 = process.send(apid, "ping", 1)
    say("after down: " .. tostring(ok3) .. " kind " .. tostring(err3 and err3:kind()))
    local fok, ferr = process.registry.register("echo", nil, process.registry.CONSISTENT)
    say("free again: " .. tostring(fok) .. " " .. tostring(ferr) .. " lookup " ..
        tostring(process.registry.lookup("echo")))
    return 0
end
return { main = main }
EOF

# {==== Two nodes ====}
# Every node of a cluster has the same heartbeat (the bucket's TTL is the
# first node's).
printf 'cluster:\n  heartbeat: %s\n' "$HB" >"$TMP/hb.yaml"
note "node A"
(cd "$APP" && exec "$WIPPY" run --node A --cluster "$URL" --config "$TMP/hb.yaml" -x app:server \
	>"$TMP/a.out" 2>"$TMP/a.err") &
A_PID=$!
lib_track "$A_PID"
wait_for_line 10 "$A_PID" "$TMP/a.out" '^pid ' || { show a.err "$TMP/a.err"; die "node A did not start"; }
APID=$(sed -n 's/^pid //p' "$TMP/a.out")
note "A's pid: $APID"
case $APID in "{A@app:terminal|0x"*"}") ;; *) die "A's own pid should name node A when clustered: $APID" ;; esac

note "node B"
(cd "$APP" && exec "$WIPPY" run --node B --cluster "$URL" --config "$TMP/hb.yaml" \
	-x app:client "$APID" "$N" >"$TMP/b.out" 2>"$TMP/b.err") &
B_PID=$!
lib_track "$B_PID"
wait_for_line 60 "$B_PID" "$TMP/b.out" '^monitoring ' || { show b.out "$TMP/b.out"; show b.err "$TMP/b.err"; die "B did not get to its monitor"; }
expect_fixed "B" "$TMP/b.out" "pong 7 from $APID"
expect_regex "B" "$TMP/b.out" '^self \{B@app:terminal\|0x[0-9a-f]{5,}\}$'
expect_regex "B" "$TMP/b.out" '^unknown node: nil kind Unavailable message .*nosuch'
expect_regex "B" "$TMP/b.out" "^summary count $N in_order true "
expect_fixed "B" "$TMP/b.out" "monitoring true nil"
expect_fixed "B" "$TMP/b.out" "linked true nil"
expect_fixed "B" "$TMP/b.out" "missing: true pid.exit from {A@app:terminal|0x00fff} error process not found"
expect_fixed "B" "$TMP/b.out" "by name: pong 8 from $APID"
expect_fixed "B" "$TMP/b.out" "lookup echo $APID"
expect_fixed "B" "$TMP/b.out" "taken: nil kind AlreadyExists"
BPID=$(sed -n 's/^self //p' "$TMP/b.out")
expect_fixed "B" "$TMP/b.out" "eventual: true lookup $BPID"
[ "$(conns)" = 2 ] || die "expected 2 client connections on the server, got $(conns)"

note "SIGKILL node A"
T0=$(date +%s%N)
kill -KILL "$A_PID"
wait_for_line 10 "$B_PID" "$TMP/b.out" '^event ' || { show b.out "$TMP/b.out"; show b.err "$TMP/b.err"; die "B's monitor did not fire"; }
T1=$(date +%s%N)
MS=$(((T1 - T0) / 1000000))
note "EXIT after ${MS} ms (3 heartbeats: $((3 * HB_MS)) ms)"
[ "$MS" -le $((3 * HB_MS + 2000)) ] || die "the node-down EXIT took ${MS} ms, over 3 heartbeats plus 2 s"
expect_regex "B" "$TMP/b.out" "^event pid.exit from \\{A@app:terminal\\|0x[0-9a-f]+\\} kind Unavailable error .*node A"
expect_regex "B" "$TMP/b.out" "^event pid.link.down from \\{A@app:terminal\\|0x[0-9a-f]+\\} kind Unavailable error .*node A"
expect_fixed "B" "$TMP/b.out" "after down: nil kind Unavailable"
expect_fixed "B" "$TMP/b.out" "free again: true nil lookup $BPID"
set +e
timeout 20 tail --pid="$B_PID" -f /dev/null
wait "$B_PID"
RC=$?
set -e
check_no_sanitizer "B stderr" "$TMP/b.err"
check_no_sanitizer "A stderr" "$TMP/a.err"
check_exit "node B" "$RC" 0

# {==== Two nodes racing one CONSISTENT name; release at exit ====}
note "two nodes race for a CONSISTENT name"
cat >"$APP/src/racer.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function main(hold, mode)
    if mode == "child" then
        -- A process that takes "tmp" and exits while its node lives on.
        local events = process.events()
        process.spawn_monitored("app:holder", "app:processes")
        local ev = events:receive()
        io.print("holder exited " .. tostring(ev.result and ev.result.value))
        io.print("lookup tmp " .. tostring(process.registry.lookup("tmp")))
        io.flush()
        time.sleep(hold)
        return 0
    end
    local ok, err = process.registry.register(mode or "race", nil, process.registry.CONSISTENT)
    io.print("race " .. tostring(ok) .. " kind " .. tostring(err and err:kind()))
    io.flush()
    time.sleep(hold)
    return 0
end
return { main = main }
EOF
cat >"$APP/src/holder.lua" <<'EOF'
local function main()
    return process.registry.register("tmp", nil, process.registry.CONSISTENT)
end
return { main = main }
EOF
cat >>"$APP/src/_index.yaml" <<'EOF'
  - name: holder
    kind: process.lua
    source: file://holder.lua
    method: main
    modules: [process]
  - name: racer
    kind: process.lua
    source: file://racer.lua
    method: main
    modules: [io, process, time]
EOF
for r in R1 R2; do
	(cd "$APP" && exec timeout 30 "$WIPPY" run --node "$r" --cluster "$URL" --config "$TMP/hb.yaml" \
		-x app:racer 1s >"$TMP/$r.out" 2>"$TMP/$r.err") &
	eval "${r}_PID=\$!"
	lib_track "$!"
done
set +e
wait "$R1_PID"; RC1=$?
wait "$R2_PID"; RC2=$?
set -e
check_no_sanitizer "R1 stderr" "$TMP/R1.err"
check_no_sanitizer "R2 stderr" "$TMP/R2.err"
check_exit "racer R1" "$RC1" 0
check_exit "racer R2" "$RC2" 0
WON=$(cat "$TMP/R1.out" "$TMP/R2.out" | grep -c '^race true kind nil$' || true)
LOST=$(cat "$TMP/R1.out" "$TMP/R2.out" | grep -c '^race nil kind AlreadyExists$' || true)
[ "$WON" = 1 ] && [ "$LOST" = 1 ] || { show R1 "$TMP/R1.out"; show R2 "$TMP/R2.out"; die "expected one winner and one AlreadyExists, got $WON and $LOST"; }
note "the winner exited: the name is released"
(cd "$APP" && timeout 30 "$WIPPY" run --node R3 --cluster "$URL" --config "$TMP/hb.yaml" \
	-x app:racer 0s >"$TMP/R3.out" 2>"$TMP/R3.err") || { show R3 "$TMP/R3.err"; die "racer R3 failed"; }
expect_fixed "R3" "$TMP/R3.out" "race true kind nil"
note "a holder exits while its node lives: another node takes the name"
(cd "$APP" && exec timeout 30 "$WIPPY" run --node R4 --cluster "$URL" --config "$TMP/hb.yaml" \
	-x app:racer 3s child >"$TMP/R4.out" 2>"$TMP/R4.err") &
R4_PID=$!
lib_track "$R4_PID"
wait_for_line 10 "$R4_PID" "$TMP/R4.out" '^lookup tmp' || { show R4 "$TMP/R4.err"; die "R4's holder did not run"; }
expect_fixed "R4" "$TMP/R4.out" "holder exited true"
expect_fixed "R4" "$TMP/R4.out" "lookup tmp nil"
sleep 0.3 # the release is a KV update on R4's names thread
(cd "$APP" && timeout 30 "$WIPPY" run --node R5 --cluster "$URL" --config "$TMP/hb.yaml" \
	-x app:racer 0s tmp >"$TMP/R5.out" 2>"$TMP/R5.err") || { show R5 "$TMP/R5.err"; die "racer R5 failed"; }
kill -0 "$R4_PID" 2>/dev/null || die "R4 ended before R5 registered: the test proves nothing"
expect_fixed "R5" "$TMP/R5.out" "race true kind nil"
set +e
wait "$R4_PID"
RC=$?
set -e
check_no_sanitizer "R4 stderr" "$TMP/R4.err"
check_exit "node R4" "$RC" 0

# {==== The server goes away and comes back ====}
note "the NATS server restarts: sends fail while it is gone, then flow again"
cat >"$APP/src/pinger.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function main(gpid, secs)
    local inbox = process.inbox()
    local stop = time.now():unix() + tonumber(secs)
    while time.now():unix() < stop do
        local ok, err = process.send(gpid, "ping", 1)
        if not ok then
            io.print("err " .. tostring(err:kind()) .. " " .. tostring(err))
        else
            local r = channel.select { inbox:case_receive(), time.after("300ms"):case_receive() }
            io.print(r.channel == inbox and "ok" or "timeout")
        end
        io.flush()
        time.sleep("100ms")
    end
    return 0
end
return { main = main }
EOF
cat >>"$APP/src/_index.yaml" <<'EOF'
  - name: pinger
    kind: process.lua
    source: file://pinger.lua
    method: main
    modules: [io, process, time, channel]
EOF
(cd "$APP" && exec "$WIPPY" run --node G --cluster "$URL" --config "$TMP/hb.yaml" --stop-timeout 1s -x app:server echo2 \
	>"$TMP/g.out" 2>"$TMP/g.err") &
G_PID=$!
lib_track "$G_PID"
wait_for_line 10 "$G_PID" "$TMP/g.out" '^pid ' || { show g.err "$TMP/g.err"; die "node G did not start"; }
GPID=$(sed -n 's/^pid //p' "$TMP/g.out")
(cd "$APP" && exec "$WIPPY" run --node H --cluster "$URL" --config "$TMP/hb.yaml" -x app:pinger "$GPID" 14 \
	>"$TMP/h.out" 2>"$TMP/h.err") &
H_PID=$!
lib_track "$H_PID"
wait_for_line 10 "$H_PID" "$TMP/h.out" '^ok$' || { show h.out "$TMP/h.out"; show h.err "$TMP/h.err"; die "H never reached G"; }
kill -TERM "$NATS_PID"
wait "$NATS_PID" 2>/dev/null || true
wait_for_line 10 "$H_PID" "$TMP/h.out" '^err Unavailable .*not connected' ||
	{ show h.out "$TMP/h.out"; die "a send with the server gone did not fail with Unavailable"; }
OKS=$(count_regex "$TMP/h.out" '^ok$')
nats-server -js -sd "$TMP/js" -a 127.0.0.1 -p "$PORT" -m "$MPORT" >>"$TMP/nats.log" 2>&1 &
NATS_PID=$!
lib_track "$NATS_PID"
wait_for_line 12 "$H_PID" "$TMP/h.out" '^ok$' $((OKS + 1)) ||
	{ show h.out "$TMP/h.out"; show h.err "$TMP/h.err"; show g.err "$TMP/g.err"; die "no delivery after the server came back"; }
set +e
wait "$H_PID"
RC=$?
set -e
check_no_sanitizer "H stderr" "$TMP/h.err"
check_exit "node H" "$RC" 0
sed "s/^/# H: /" "$TMP/h.out" | uniq -c | head -20
kill -TERM "$G_PID"
set +e
wait "$G_PID"
set -e
check_no_sanitizer "G stderr" "$TMP/g.err"
[ -n "${CLUSTER_DEBUG:-}" ] && { show g.err "$TMP/g.err"; show h.err "$TMP/h.err"; }
# Both nodes are gone: the no-cluster check below counts connections.
wait_for 10 "" "no client connection left" test "$(conns)" = 0

# {==== No --cluster: no connection ====}
note "a node without --cluster"
cat >"$APP/src/client.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function main()
    io.print("self " .. process.pid())
    local ok, err = process.send("{A@app:processes|0x00001}", "x", 1)
    io.print("remote: " .. tostring(ok) .. " kind " .. tostring(err and err:kind()))
    io.flush()
    time.sleep("1s")
    return 0
end
return { main = main }
EOF
# The server's URL is configured, but cluster.enabled is not set.
printf 'cluster:\n  nats: "%s"\n' "$URL" >"$TMP/nojoin.yaml"
before=$(conns)
[ "$before" = 0 ] || die "expected no connection left after both nodes ended, got $before"
(cd "$APP" && exec timeout 20 "$WIPPY" run --node C --config "$TMP/nojoin.yaml" -x app:client \
	>"$TMP/c.out" 2>"$TMP/c.err") &
C_PID=$!
lib_track "$C_PID"
wait_for_line 10 "$C_PID" "$TMP/c.out" '^remote: ' || { show c.err "$TMP/c.err"; die "node C did not run"; }
during=$(conns)
set +e
wait "$C_PID"
RC=$?
set -e
[ "$during" = 0 ] || die "a node without cluster.enabled connected to NATS ($during connections)"
check_no_sanitizer "C stderr" "$TMP/c.err"
check_exit "node without --cluster" "$RC" 0
expect_regex "C" "$TMP/c.out" '^self \{app:terminal\|0x[0-9a-f]{5,}\}$'
expect_fixed "C" "$TMP/c.out" "remote: nil kind Unavailable"
reject_fixed "C" "$TMP/c.err" "cluster"
sed "s/^/# B: /" "$TMP/b.out"
note "error paths: no server, a bad node name, enabled without a URL"
DEAD=$(lib_free_port)
set +e
(cd "$APP" && timeout 20 "$WIPPY" run --node D --cluster "nats://127.0.0.1:$DEAD" -x app:client \
	>"$TMP/d.out" 2>"$TMP/d.err")
RC=$?
set -e
check_failed "a node whose server is not there" "$RC"
expect_fixed "D" "$TMP/d.err" "cluster: cannot connect at nats://127.0.0.1:$DEAD"
reject_fixed "D" "$TMP/d.out" "self "
set +e
(cd "$APP" && timeout 20 "$WIPPY" run --node 'x@y' --cluster "$URL" -x app:client >"$TMP/e.out" 2>"$TMP/e.err")
RC=$?
set -e
check_failed "a node name with @" "$RC"
expect_fixed "E" "$TMP/e.err" "node name 'x@y': may not contain"
printf 'cluster:\n  enabled: true\n' >"$TMP/nourl.yaml"
set +e
(cd "$APP" && timeout 20 "$WIPPY" run --node F --config "$TMP/nourl.yaml" -x app:client >"$TMP/f.out" 2>"$TMP/f.err")
RC=$?
set -e
check_failed "cluster.enabled without cluster.nats" "$RC"
expect_fixed "F" "$TMP/f.err" "cluster.enabled without cluster.nats"
note "ok: cluster routing, order, pids, Unavailable, node-down monitors, no cluster no connection"
