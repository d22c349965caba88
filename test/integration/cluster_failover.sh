#!/usr/bin/env bash
# test/integration/cluster_failover.sh: two wippy nodes on a cluster of
# three NATS servers (JetStream on, routes on loopback, each on free
# ports, its own store), every node given all three URLs.
#
#   - The KV buckets the nodes make (presence, names, groups) are
#     replicated on 3 servers (the servers' /jsz says so).
#   - Node A runs a process registered "echo" (CONSISTENT) that answers
#     each numbered "ping" with a "pong" and logs what it got; node B
#     pings it every 30 ms, logging each send's outcome. The script stops
#     (SIGTERM) the server B is connected to: B reconnects to another and
#     the pongs flow again; every ping whose send was accepted reaches A
#     (none vanishes), and any send that fails says Unavailable.
#   - After the loss of that server, the names bucket still takes a
#     CONSISTENT register (its Raft group has 2 of 3 servers).
# Skips (77) when nats-server is not installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
lib_tmpdir
command -v nats-server >/dev/null || skip "nats-server is not installed (scripts/deps.sh)"
command -v curl >/dev/null || skip "curl is not installed"
# A node's presence key lives 3 heartbeats: long enough to outlast the
# re-election of the buckets' Raft leaders after a server goes.
HB_MS=1000
[ -n "${SANITIZER:-}" ] && HB_MS=2000

# {==== Three NATS servers, one cluster ====}
declare -a P C M NPID
for i in 0 1 2; do
	P[i]=$(lib_free_port); C[i]=$(lib_free_port); M[i]=$(lib_free_port)
done
start_server() {
	local i=$1 routes="" j
	for j in 0 1 2; do
		[ "$j" = "$i" ] || routes="$routes${routes:+,}nats://127.0.0.1:${C[j]}"
	done
	mkdir -p "$TMP/js$i"
	nats-server -js -sd "$TMP/js$i" -n "s$i" -a 127.0.0.1 -p "${P[i]}" -m "${M[i]}" \
		--cluster_name wippy -cluster "nats://127.0.0.1:${C[i]}" --routes "$routes" \
		>"$TMP/nats$i.log" 2>&1 &
	NPID[i]=$!
	lib_track "${NPID[i]}"
}
for i in 0 1 2; do start_server "$i"; done
# JetStream is ready once every server's health check passes (a meta
# leader is elected and it is current).
for i in 0 1 2; do
	wait_for 30 "${NPID[i]}" "server s$i healthy" \
		curl -sf "http://127.0.0.1:${M[i]}/healthz" -o /dev/null ||
		{ show nats "$TMP/nats$i.log"; die "nats-server s$i did not become healthy"; }
done
URLS="nats://127.0.0.1:${P[0]},nats://127.0.0.1:${P[1]},nats://127.0.0.1:${P[2]}"

# {==== The app ====}
APP=$TMP/app
lib_app_base "$APP"
printf 'cluster:\n  heartbeat: %sms\n' "$HB_MS" >"$TMP/hb.yaml"
cat >>"$APP/src/_index.yaml" <<'EOF'
  - name: echo
    kind: process.lua
    source: file://echo.lua
    method: main
    modules: [io, process]
  - name: pinger
    kind: process.lua
    source: file://pinger.lua
    method: main
    modules: [io, process, time, channel]
EOF
cat >"$APP/src/echo.lua" <<'EOF'
local io = require("io")
local function main()
    local inbox = process.inbox()
    local ok, err = process.registry.register("echo", nil, process.registry.CONSISTENT)
    if not ok then return nil, "register echo: " .. tostring(err) end
    io.print("pid " .. process.pid())
    io.flush()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "ping" then
            local i = msg:payload():data()
            io.print("got " .. i)
            io.flush()
            process.send(msg:from(), "pong", i)
        end
    end
end
return { main = main }
EOF
cat >"$APP/src/pinger.lua" <<'EOF'
local io = require("io")
local time = require("time")
local function say(s) io.print(s); io.flush() end
local function main(secs)
    local inbox = process.inbox()
    -- B's cache learns of "echo" from the KV's watch: until then, NotFound.
    for _ = 1, 200 do
        if process.send("echo", "warm", 0) then break end
        time.sleep("50ms")
    end
    local stop = time.now():unix() + tonumber(secs)
    local i = 0
    while time.now():unix() < stop do
        i = i + 1
        local ok, err = process.send("echo", "ping", i)
        if ok then
            say("sent " .. i)
            local deadline = time.after("300ms")
            while true do
                local r = channel.select { inbox:case_receive(), deadline:case_receive() }
                -- The deadline's value is a Time, a userdata too: tell the cases apart
                -- by channel.
                if r.channel == deadline then say("timeout " .. i) break end
                local j = r.value:payload():data()
                say("pong " .. j)
                if j == i then break end
            end
        else
            say("err " .. i .. " " .. tostring(err and err:kind()) .. " " .. tostring(err))
        end
        time.sleep("30ms")
    end
    local rok, rerr
    for _ = 1, 20 do
        rok, rerr = process.registry.register("after-failover", nil, process.registry.CONSISTENT)
        if rok then break end
        time.sleep("500ms")
    end
    say("register " .. tostring(rok) .. " " .. tostring(rerr))
    return 0
end
return { main = main }
EOF

(cd "$APP" && exec "$WIPPY" run --node A --cluster "$URLS" --config "$TMP/hb.yaml" -x app:echo \
	>"$TMP/a.out" 2>"$TMP/a.err") &
A_PID=$!
lib_track "$A_PID"
wait_for_line 20 "$A_PID" "$TMP/a.out" '^pid ' || { show a.err "$TMP/a.err"; die "node A did not start"; }
SECS=14
(cd "$APP" && exec "$WIPPY" run --node B --cluster "$URLS" --config "$TMP/hb.yaml" -x app:pinger "$SECS" \
	>"$TMP/b.out" 2>"$TMP/b.err") &
B_PID=$!
lib_track "$B_PID"
wait_for_line 20 "$B_PID" "$TMP/b.out" '^pong ' 5 ||
	{ show b.out "$TMP/b.out"; show b.err "$TMP/b.err"; die "B never reached A's echo"; }

# {==== Every bucket on 3 servers ====}
note "the KV buckets are replicated on 3 servers"
JSZ=$(curl -sf "http://127.0.0.1:${M[0]}/jsz?accounts=true&streams=true&config=true")
for b in wippy_nodes wippy_names wippy_groups; do
	r=$(printf '%s' "$JSZ" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for a in d.get("account_details", []):
    for st in a.get("stream_detail", []):
        if st["name"] == "KV_" + sys.argv[1]:
            print(st["config"]["num_replicas"])
' "$b")
	[ "$r" = 3 ] || die "bucket $b has replicas '${r}', expected 3"
done

# {==== The server B uses goes away ====}
server_of() { # the index of the server node $1 is connected to
	local i
	for i in 0 1 2; do
		lib_alive "${NPID[i]}" || continue
		if curl -sf "http://127.0.0.1:${M[i]}/connz" | grep -q "\"wippy-$1\""; then
			echo "$i"; return 0
		fi
	done
	return 1
}
SB=$(server_of B) || die "node B is connected to no server"
SA=$(server_of A) || die "node A is connected to no server"
note "A is on s$SA, B on s$SB: stopping s$SB"
PONGS=$(count_regex "$TMP/b.out" '^pong ')
kill -TERM "${NPID[SB]}"
wait "${NPID[SB]}" 2>/dev/null || true
wait_for_line 15 "$B_PID" "$TMP/b.err" 'reconnected to' ||
	{ show b.err "$TMP/b.err"; die "B did not reconnect"; }
wait_for_line 20 "$B_PID" "$TMP/b.out" '^pong ' $((PONGS + 10)) ||
	{ show b.out "$TMP/b.out"; show b.err "$TMP/b.err"; show a.err "$TMP/a.err"; die "no delivery after B's server went"; }
NB=$(server_of B) || die "node B is connected to no server after the failover"
[ "$NB" != "$SB" ] || die "B is still on the stopped server"
note "B is now on s$NB"

set +e
wait_exit 40 "$B_PID"
set -e
[ "$EXIT_RC" = 0 ] || { show b.out "$TMP/b.out"; show b.err "$TMP/b.err"; die "node B: exit $EXIT_RC"; }
check_no_sanitizer "B stderr" "$TMP/b.err"
expect_regex "B output" "$TMP/b.out" "^register true "

# No accepted send vanished; a refused one says Unavailable.
sed -n 's/^sent //p' "$TMP/b.out" | sort -n >"$TMP/sent"
sed -n 's/^got //p' "$TMP/a.out" | sort -n >"$TMP/got"
LOST=$(comm -23 "$TMP/sent" "$TMP/got" | wc -l)
ERRS=$(count_regex "$TMP/b.out" '^err ')
BAD=$(grep '^err ' "$TMP/b.out" | grep -vc ' Unavailable ' || true)
note "$(wc -l <"$TMP/sent") pings accepted, $(wc -l <"$TMP/got") received, $ERRS refused"
grep '^err ' "$TMP/b.out" | head -3 | sed 's/^/# /' || true
[ "$LOST" = 0 ] || { comm -23 "$TMP/sent" "$TMP/got" | head | sed 's/^/# lost: /'; die "$LOST accepted pings never reached A"; }
[ "$BAD" = 0 ] || { show b.err "$TMP/b.err"; die "a refused send did not say Unavailable"; }

kill -TERM "$A_PID"
set +e
wait "$A_PID"
set -e
check_no_sanitizer "A stderr" "$TMP/a.err"
note "ok"
