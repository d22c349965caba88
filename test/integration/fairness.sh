#!/usr/bin/env bash
# test/integration/fairness.sh: busy processes disturb neither I/O nor
# shutdown.
#
# The fixture (test/fixtures/runtime/spinners) runs four services that spin
# in `while true do n = n + 1 end` (two per shard on this machine's two
# cores) beside an http.service. While they spin:
#   - 200 GET /ping must each be answered, within 1 s each (a functional
#     bound: without completions reaped on busy turns, every one timed out);
#   - SIGTERM must end the runtime well within the services' stop_timeout
#     (1 s) plus the runtime's grace: the signal is seen on a busy shard,
#     the spinners are terminated, exit code 0.
# Latency figures belong to the benchmarks; this only proves liveness.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

REQUESTS=200
STOP_LIMIT=6     # seconds: 1 s stop_timeout, then termination and exit

lib_require_wippy
# ThreadSanitizer holds async signals back until the thread makes an
# intercepted call, which a spinning Lua loop never does: the preemption
# signal never lands, so the spinners cannot be preempted there.
[ "${SANITIZER:-}" = thread ] && skip "preemption signals are deferred under ThreadSanitizer"
lib_tmpdir

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

APP=$TMP/app
lib_copy_app "$LIB_ROOT/test/fixtures/runtime/spinners" "$APP"
PORT=$(free_port)
sed -i "s/__PORT__/127.0.0.1:$PORT/" "$APP/src/_index.yaml"
ERR=$TMP/err
(cd "$APP" && exec "$WIPPY" run </dev/null >"$TMP/out" 2>"$ERR") &
PID=$!
lib_track "$PID"
wait_for_line 15 "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || {
	show stderr "$ERR"
	die "the app did not start listening"
}
sleep 0.5   # let the spinners take the shards

slow=0
for i in $(seq 1 $REQUESTS); do
	body=$(curl -s -m 1 "http://127.0.0.1:$PORT/ping" || true)
	if [ "$body" != pong ]; then
		slow=$((slow + 1))
		note "request $i: no answer within 1 s (got '$body')"
	fi
done
[ $slow -eq 0 ] || { show stderr "$ERR"; die "$slow of $REQUESTS requests were not answered within 1 s next to spinning processes"; }
note "ok: $REQUESTS requests answered next to four spinning processes"

t0=$(date +%s%N)
kill -TERM "$PID"
wait_exit "$STOP_LIMIT" "$PID"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$EXIT_RC" = timeout ]; then
	show stderr "$ERR"
	kill -KILL "$PID" 2>/dev/null || true
	die "SIGTERM: still running after ${STOP_LIMIT}s with spinning processes"
fi
check_exit "wippy run after SIGTERM" "$EXIT_RC" 0
expect_fixed stderr "$ERR" "received SIGTERM"
check_no_sanitizer stderr "$ERR"
echo "ok: GETs answered and SIGTERM handled in ${ms} ms next to spinning processes"
