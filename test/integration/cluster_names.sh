#!/usr/bin/env bash
# test/integration/cluster_names.sh: the conflict and consistency rules of
# cluster-wide names, two wippy nodes on one NATS server (JetStream on),
# all on loopback, free ports.
#   - EVENTUAL conflict: A registers "ev", then B registers "ev" (the last
#     writer wins): A's holder gets a CANCEL event (pid.cancel, reason
#     "name revoked: ev"), A's lookup of "ev" gives B's process, and B's
#     holder (the winner) hears nothing.
#   - STRONG: once register("s1", STRONG) on A returns true, B's cache
#     already holds s1 (B's process, asked at once, finds it); with B
#     frozen (SIGSTOP, its presence still live), register("s2", STRONG)
#     gives nil and Unavailable, and s2 is not registered afterwards.
# Skips (77) when nats-server is not installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
lib_tmpdir
lib_nats_start
HB_MS=1000
[ -n "${SANITIZER:-}" ] && HB_MS=2000

APP=$TMP/app
lib_app_base "$APP"
printf 'cluster:\n  heartbeat: %sms\n' "$HB_MS" >"$TMP/hb.yaml"
cat >>"$APP/src/_index.yaml" <<'EOF'
  - name: evholder
    kind: process.lua
    source: file://evholder.lua
    method: main
    modules: [io, process, time, channel]
  - name: peer
    kind: process.lua
    source: file://peer.lua
    method: main
    modules: [io, process, time, channel]
  - name: strong
    kind: process.lua
    source: file://strong.lua
    method: main
    modules: [io, process, time, channel]
EOF
cat >"$APP/src/evholder.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function say(s) io.print(s); io.flush() end
local function main(name, secs)
    local ok, err = process.registry.register(name, nil, process.registry.EVENTUAL)
    say("registered " .. tostring(ok) .. " " .. tostring(err) .. " " .. process.pid())
    local r = channel.select { process.events():case_receive(), time.after(secs .. "s"):case_receive() }
    if type(r.value) == "table" then
        say("event " .. tostring(r.value.kind) .. " " .. tostring(r.value.reason))
        time.sleep("300ms") -- the cache may see the winner's update just after
        say("lookup " .. tostring(process.registry.lookup(name)))
    else
        say("quiet")
    end
    return 0
end
return { main = main }
EOF
cat >"$APP/src/peer.lua" <<'EOF'
local io = require("io")
local function main()
    local ok, err = process.registry.register("peer", nil, process.registry.CONSISTENT)
    if not ok then return nil, tostring(err) end
    io.print("peer up"); io.flush()
    local inbox = process.inbox()
    while true do
        local m = inbox:receive()
        local name = m:payload():data()
        process.send(m:from(), "seen", tostring(process.registry.lookup(name)))
    end
end
return { main = main }
EOF
cat >"$APP/src/strong.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function say(s) io.print(s); io.flush() end
local function main()
    local inbox = process.inbox()
    for _ = 1, 200 do
        if process.send("peer", "check", "nothing") then break end
        time.sleep("50ms")
    end
    inbox:receive() -- B answers: A knows B is up
    local ok, err = process.registry.register("s1", nil, process.registry.STRONG)
    say("s1 " .. tostring(ok) .. " " .. tostring(err))
    process.send("peer", "check", "s1")
    local r = channel.select { inbox:case_receive(), time.after("5s"):case_receive() }
    say("peer sees s1: " .. tostring(r.channel == inbox and r.value:payload():data()))
    say("freeze B")
    time.sleep("500ms")
    ok, err = process.registry.register("s2", nil, process.registry.STRONG)
    say("s2 " .. tostring(ok) .. " kind " .. tostring(err and err:kind()) .. " " .. tostring(err))
    say("s2 lookup " .. tostring(process.registry.lookup("s2")))
    say("self " .. process.pid())
    time.sleep("20s")
    return 0
end
return { main = main }
EOF

node() { # node NAME OUT ARGS...: start a node in the background, set NPID
	local n=$1 out=$2
	shift 2
	(cd "$APP" && exec "$WIPPY" run --node "$n" --cluster "$URL" --config "$TMP/hb.yaml" "$@" \
		>"$TMP/$out.out" 2>"$TMP/$out.err") &
	NPID=$!
	lib_track "$NPID"
}

# {==== EVENTUAL: the loser hears it ====}
note "an EVENTUAL conflict revokes the loser's name"
node A a -x app:evholder ev 20; A_PID=$NPID
wait_for_line 15 "$A_PID" "$TMP/a.out" '^registered true' || { show a.err "$TMP/a.err"; die "A did not register ev"; }
node B b -x app:evholder ev 4; B_PID=$NPID
wait_for_line 15 "$B_PID" "$TMP/b.out" '^registered true' || { show b.err "$TMP/b.err"; die "B did not register ev"; }
BPID=$(sed -n 's/^registered true nil //p' "$TMP/b.out")
wait_for_line 10 "$A_PID" "$TMP/a.out" '^lookup ' ||
	{ show a.out "$TMP/a.out"; show a.err "$TMP/a.err"; die "A's holder was not told it lost ev"; }
expect_fixed "A output" "$TMP/a.out" "event pid.cancel name revoked: ev"
expect_fixed "A output" "$TMP/a.out" "lookup $BPID"
wait_for_line 15 "$B_PID" "$TMP/b.out" '^(quiet|event)' || die "B's holder did not finish"
expect_fixed "B output (the winner)" "$TMP/b.out" "quiet"
for p in "$A_PID" "$B_PID"; do
	set +e; wait_exit 15 "$p"; set -e
	[ "$EXIT_RC" = 0 ] || die "node $p: exit $EXIT_RC"
done
check_no_sanitizer "A stderr" "$TMP/a.err"
check_no_sanitizer "B stderr" "$TMP/b.err"

# {==== STRONG: every live node acknowledges ====}
note "STRONG waits for every live node, and fails when one does not answer"
node B b2 -x app:peer; B_PID=$NPID
wait_for_line 15 "$B_PID" "$TMP/b2.out" '^peer up' || { show b2.err "$TMP/b2.err"; die "B's peer did not start"; }
node A a2 -x app:strong; A_PID=$NPID
wait_for_line 20 "$A_PID" "$TMP/a2.out" '^freeze B' || { show a2.out "$TMP/a2.out"; show a2.err "$TMP/a2.err"; die "A's strong steps did not run"; }
kill -STOP "$B_PID"
wait_for_line 20 "$A_PID" "$TMP/a2.out" '^self ' || { kill -CONT "$B_PID"; show a2.out "$TMP/a2.out"; die "A's STRONG s2 did not return"; }
kill -CONT "$B_PID"
cat "$TMP/a2.out" | sed 's/^/# A: /'
expect_regex "A output" "$TMP/a2.out" '^s1 true nil$'
APID=$(sed -n 's/^self //p' "$TMP/a2.out")
expect_fixed "A output (B's view of s1 right after it returned)" "$TMP/a2.out" "peer sees s1: $APID"
expect_regex "A output" "$TMP/a2.out" '^s2 nil kind Unavailable .*not acknowledged'
expect_regex "A output" "$TMP/a2.out" '^s2 lookup nil'
kill -TERM "$A_PID" "$B_PID"
set +e; wait "$A_PID"; wait "$B_PID"; set -e
check_no_sanitizer "A stderr" "$TMP/a2.err"
check_no_sanitizer "B stderr" "$TMP/b2.err"
note "ok"
