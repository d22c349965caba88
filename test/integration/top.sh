#!/usr/bin/env bash
# test/integration/top.sh: `wippy top` against a running runtime.
#
# An app with an http.service whose `metrics:` path is /metrics and a
# process that sends itself a message every millisecond. `wippy top URL`
# then runs:
#   - without a terminal, -n 2: two frames, the second with rates: shard
#     rows (with the Lua collector's steps per second), the busiest
#     process by pid and entry with its steps per second;
#   - in a tmux pane (a real terminal: the screen is cleared and redrawn
#     once an interval): the pane shows the frame, and it exits on -n;
#   - against a closed port, a path that is no metrics path, and a URL
#     that is not http://: a message naming what is wrong, exit 1 or 2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v curl >/dev/null || skip "curl is missing"
lib_tmpdir

APP=$TMP/app
mkdir -p "$APP/src"
cp "$LIB_ROOT/examples/hello-http/wippy.lock" "$APP/"
cat >"$APP/src/_index.yaml" <<'YAML'
version: "1.0"
namespace: app
entries:
  - name: gateway
    kind: http.service
    addr: "127.0.0.1:__PORT__"
    metrics: /metrics
    lifecycle: {auto_start: true}
  - name: processes
    kind: process.host
    lifecycle: {auto_start: true}
  - name: pinger
    kind: process.lua
    source: file://app.lua
    method: pinger
    modules: [time]
  - name: main
    kind: process.service
    process: app:pinger
    host: app:processes
    lifecycle: {auto_start: true}
YAML
cat >"$APP/src/app.lua" <<'LUA'
local time = require("time")
local function pinger()
	local me = process.pid()
	while true do
		process.send(me, "t", 1)
		process.inbox():receive()
		time.sleep("1ms")
	end
end
return {pinger = pinger}
LUA
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i "s/__PORT__/$PORT/" "$APP/src/_index.yaml"
ERR=$TMP/err
(cd "$APP" && exec "$WIPPY" run --shards 2 </dev/null >"$TMP/out" 2>"$ERR") &
PID=$!
lib_track "$PID"
wait_for_line 15 "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || { show stderr "$ERR"; die "wippy run did not start"; }
URL=http://127.0.0.1:$PORT/metrics

note "no terminal: two frames"
timeout 20 "$WIPPY" top "$URL" -n 2 --interval 0.5 >"$TMP/frames" 2>"$TMP/top.err" ||
	{ show stderr "$TMP/top.err"; die "wippy top -n 2 failed"; }
[ "$(grep -c '^wippy top ' "$TMP/frames")" -eq 2 ] || { show out "$TMP/frames"; die "expected two frames"; }
expect_regex "frames" "$TMP/frames" '^processes alive 1 '
expect_regex "frames" "$TMP/frames" '^    0 '
expect_regex "frames" "$TMP/frames" '^    1 '
# The second frame has rates: the pinger's ~500 steps a second (a sleep
# and a receive a round), not a total.
line=$(grep 'app:pinger' "$TMP/frames" | tail -1)
[ -n "$line" ] || { show out "$TMP/frames"; die "the busiest process is not listed"; }
rate=$(echo "$line" | awk '{print $3}')
[ "$rate" -gt 50 ] && [ "$rate" -lt 5000 ] || { show out "$TMP/frames"; die "pinger's steps/s: $rate"; }
expect_regex "frames" "$TMP/frames" '^\{app:processes\|0x[0-9a-f]+\} +app:pinger'
# The last column is the collector's steps a second on the shard: a rate
# in the second frame (a dash only from a runtime that does not count).
expect_regex "frames" "$TMP/frames" 'TIMERS +GC/s$'
gc=$(grep -E '^    [01] ' "$TMP/frames" | tail -2 | awk '{print $NF}' | tr '\n' ' ')
[[ "$gc" =~ ^[0-9]+\ [0-9]+\ $ ]] || { show out "$TMP/frames"; die "GC/s of the two shards: '$gc'"; }
grep -q $'\033\[2J' "$TMP/frames" && die "escape codes written to a pipe"

note "bad URLs"
set +e
"$WIPPY" top "http://127.0.0.1:1/metrics" -n 1 >/dev/null 2>"$TMP/e1"; rc1=$?
"$WIPPY" top "http://127.0.0.1:$PORT/nope" -n 1 >/dev/null 2>"$TMP/e2"; rc2=$?
"$WIPPY" top "ftp://x" >/dev/null 2>"$TMP/e3"; rc3=$?
"$WIPPY" top >/dev/null 2>"$TMP/e4"; rc4=$?
set -e
[ "$rc1" -eq 1 ] || die "closed port: exit $rc1, expected 1"
expect_fixed "closed port" "$TMP/e1" "cannot connect to 127.0.0.1:1"
[ "$rc2" -eq 1 ] || die "not a metrics path: exit $rc2, expected 1"
expect_fixed "not a metrics path" "$TMP/e2" "404"
[ "$rc3" -eq 2 ] || die "not http: exit $rc3, expected 2"
expect_fixed "not http" "$TMP/e3" "must start with http://"
[ "$rc4" -eq 2 ] || die "no URL: exit $rc4, expected 2"
expect_fixed "no URL" "$TMP/e4" "usage: wippy top URL"

if command -v tmux >/dev/null; then
	note "in a tmux pane"
	SOCK=$TMP/tmux.sock
	tmux -S "$SOCK" new-session -d -s top -x 120 -y 30 \
		"$WIPPY top $URL -n 4 --interval 0.5; echo TOP-EXIT=\$?; sleep 30"
	ok=0
	for _ in $(seq 1 40); do
		tmux -S "$SOCK" capture-pane -p -t top >"$TMP/pane" 2>/dev/null || true
		if grep -q 'TOP-EXIT=0' "$TMP/pane"; then ok=1; break; fi
		sleep 0.25
	done
	tmux -S "$SOCK" kill-server 2>/dev/null || true
	[ "$ok" -eq 1 ] || { show pane "$TMP/pane"; die "wippy top in tmux did not end with 0"; }
	# The screen was cleared before each frame: one frame is left on it.
	[ "$(grep -c '^wippy top ' "$TMP/pane")" -eq 1 ] || { show pane "$TMP/pane"; die "expected one frame on the screen"; }
	expect_regex "pane" "$TMP/pane" 'SHARD +RUNQ +TASKS/s'
	expect_regex "pane" "$TMP/pane" 'app:pinger'
else
	note "tmux is missing: the terminal case is not run"
fi

kill -INT "$PID"
wait_exit 15 "$PID"
check_exit "wippy run" "$EXIT_RC" 0
check_no_sanitizer stderr "$ERR"
echo "ok: wippy top shows shards and the busiest processes, in a pipe and in a terminal"
