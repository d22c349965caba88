#!/usr/bin/env bash
# test/integration/http_leak.sh: thousands of HTTP connections, good and
# bad, leave no file descriptor behind and do not grow the runtime's memory.
#
# Runs the HTTP fixture app (test/fixtures/http/app: read timeout 1 s, idle
# 2 s) on a free port and drives it with `httpc.py churn`, which opens and
# closes connections of ten kinds in turn: keep-alive GETs, pipelined GETs,
# a Content-Length POST, a chunked POST (all answered 200, checked), a
# request cut mid-line / mid-headers / mid-body, a connection that sends
# nothing, a request whose client leaves while the handler sleeps, a
# request ended by RST, a malformed request (400 and close, checked), and
# a client that leaves mid-response with most of a large answer unread.
# (test/integration/http_limits.sh covers a client that stays but never
# reads: the write timeout.)
#
#   fd0        open fds of the runtime before any connection (listeners,
#              rings, eventfds, the log)
#   warm-up    WARM connections: the allocator, the pools of handler states
#              and the shard buffers reach their working size
#   rss_warm   VmRSS after the warm-up
#   rounds     ROUNDS x CONNS more connections; RSS after each round
#
# Then: the fd count must come back to fd0 (+ FD_SLACK) within SETTLE_WAIT
# seconds (the server closes what the clients left open after its timeouts),
# RSS must stay within rss_warm + RSS_SLACK_KB (a leak of even one small
# allocation per connection over ROUNDS x CONNS connections exceeds it),
# the server must still answer, and SIGINT must stop it with exit 0.
# The handler-state pools only grow to the peak number of requests in
# flight at once; the warm-up uses the same mix and concurrency, so the
# rounds do not need more of them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

WARM=${HTTP_LEAK_WARM:-4000}
CONNS=${HTTP_LEAK_CONNS:-5000}
ROUNDS=${HTTP_LEAK_ROUNDS:-6}
CONC=32
FD_SLACK=2
RSS_SLACK_KB=16384
SETTLE_WAIT=15
START_WAIT=15
STOP_WAIT=10

lib_require_wippy
command -v python3 >/dev/null || skip "python3 is not installed"
command -v curl >/dev/null || skip "curl is not installed"
lib_tmpdir
HTTPC=$LIB_ROOT/test/tools/httpc.py
APP=$TMP/app
ERR=$TMP/stderr

fail() {
	show "wippy run stderr" "$ERR"
	die "$*"
}

nfds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
fds_back() { [ "$(nfds)" -le $((FD0 + FD_SLACK)) ]; }

# Start the fixture on a free port (retried if the port is taken meanwhile).
for try in 1 2 3; do
	rm -rf "$APP"
	lib_copy_app "$LIB_ROOT/test/fixtures/http/app" "$APP"
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sed -i "s/__PORT__/$PORT/" "$APP/src/_index.yaml"
	(cd "$APP" && exec env --default-signal=INT "$WIPPY" run </dev/null >"$TMP/stdout" 2>"$ERR") &
	PID=$!
	lib_track "$PID"
	rc=0
	wait_for_line "$START_WAIT" "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || rc=$?
	[ "$rc" -eq 0 ] && break
	[ "$rc" -eq 2 ] && grep -q "cannot listen" "$ERR" && continue
	fail "wippy run did not report listening on port $PORT within ${START_WAIT}s"
done
[ "$rc" -eq 0 ] || fail "no free port after 3 tries"
sleep 0.2
FD0=$(nfds)
note "wippy run (pid $PID) on port $PORT: $FD0 fds, $(rss_kb) KB RSS before any connection"

# churn N SEED: N connections of the mix; fails the test on a wrong answer.
churn() {
	local out=$TMP/churn.$2
	timeout 120 python3 "$HTTPC" churn "$PORT" --conns "$1" --concurrency "$CONC" --seed "$2" >"$out" 2>&1 ||
		{ show "churn" "$out"; fail "churn of $1 connections (seed $2): wrong answers, refused connections or a hang"; }
	lib_alive "$PID" || { show "churn" "$out"; fail "wippy run died during the churn"; }
	head -n1 "$out"
}

churn "$WARM" 0
wait_for "$SETTLE_WAIT" "$PID" "fd count back to $FD0 after the warm-up" fds_back ||
	fail "after the warm-up: $(nfds) fds open, $FD0 before it (leaked connections?)"
RSS_WARM=$(rss_kb)
note "after the warm-up: $(nfds) fds, $RSS_WARM KB RSS"

for r in $(seq 1 "$ROUNDS"); do
	churn "$CONNS" "$r"
	note "round $r: $(nfds) fds open right after, $(rss_kb) KB RSS"
done

if ! wait_for "$SETTLE_WAIT" "$PID" "fd count back to $FD0" fds_back; then
	ls -l "/proc/$PID/fd" >"$TMP/fds" 2>&1 || true
	show "open fds" "$TMP/fds"
	fail "fd count did not come back: $(nfds) open ${SETTLE_WAIT}s after $((ROUNDS * CONNS)) connections, $FD0 before any"
fi
RSS_END=$(rss_kb)
note "settled: $(nfds) fds (baseline $FD0), $RSS_END KB RSS ($((RSS_END - RSS_WARM)) KB over the warm-up, limit $RSS_SLACK_KB)"
# Under a sanitizer RSS measures the sanitizer (ThreadSanitizer keeps
# shadow memory and access history that grow with every access); the
# sanitizer reports leaks itself, and the fd check above still holds.
if [ -n "${SANITIZER:-}" ]; then
	note "RSS bound not checked under SANITIZER=$SANITIZER"
elif [ "$RSS_END" -gt $((RSS_WARM + RSS_SLACK_KB)) ]; then
	fail "RSS grew from $RSS_WARM KB to $RSS_END KB over $((ROUNDS * CONNS)) connections (limit +$RSS_SLACK_KB KB): a per-connection leak"
fi

# Still serving.
code=$(curl -sS --max-time 10 -o "$TMP/last.b" -w '%{http_code}' "http://127.0.0.1:$PORT/echo/last") ||
	fail "curl failed after the churn"
[ "$code" = 200 ] || fail "after the churn GET /echo/last answered $code, expected 200"

kill -INT "$PID"
wait_exit "$STOP_WAIT" "$PID"
[ "$EXIT_RC" != timeout ] || fail "still running ${STOP_WAIT}s after SIGINT"
check_no_sanitizer "wippy run stderr" "$ERR"
[ "$EXIT_RC" -eq 0 ] || show "wippy run stderr" "$ERR"
check_exit "wippy run stopped by SIGINT" "$EXIT_RC" 0
echo "ok: $((WARM + ROUNDS * CONNS)) connections; fds back to $FD0, RSS $RSS_WARM -> $RSS_END KB"
