#!/usr/bin/env bash
# bench/fairness.sh: how much busy processes delay a request and a timer
# on the same runtime (issue: fairness), against the same runtime quiet.
#
# bench/apps/fairness runs GET /ping and a 100 ms ticker. The busy run adds
# busy.yaml: two processes per shard in `while true do n = n + 1 end` and a
# memory hog on a 256 MB host that fails and restarts every few seconds.
# Each run: 1,000 GETs one at a time on a keep-alive connection (so every
# request meets whatever the shard is doing), their latency percentiles,
# and the ticker's worst distance from 100 ms as it logged it. Printed: p50/p99/max for both runs, the busy/quiet p99 ratio,
# and the worst tick drift. Targets: busy p99 < 5 ms, drift < 5 ms.
# Measures, never asserts. Exit 77 when python3 or build/wippy is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
REQUESTS=${FAIR_REQUESTS:-1000}
[ -x "$WIPPY" ] || { echo "fairness: $WIPPY missing; skipped"; exit 77; }
command -v python3 >/dev/null || { echo "fairness: python3 is missing; skipped"; exit 77; }
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# One keep-alive connection, FAIR_REQUESTS GETs one after another with a
# 2 ms pause between them (so requests meet the shard in every state);
# prints "requests errors p50 p99 max" in ms.
cat >"$TMP/lat.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.settimeout(5)
lat, errors = [], 0
for i in range(n):
    t0 = time.perf_counter()
    try:
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = b""
        while not buf.endswith(b"pong"):
            d = s.recv(4096)
            if not d:
                raise OSError("closed")
            buf += d
    except OSError:
        errors += 1
        s = socket.create_connection(("127.0.0.1", port))
        continue
    lat.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.002)
lat.sort()
k = len(lat)
print("%d %d %.3f %.3f %.3f" % (k, errors, lat[k // 2], lat[min(k - 1, int(k * 0.99))], lat[-1]))
PY

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run LABEL BUSY(0|1): prints "LABEL requests errors p50 p99 max drift_us"
run() {
	local label=$1 busy=$2 app=$TMP/$1 port
	cp -r "$ROOT/bench/apps/fairness" "$app"
	[ "$busy" = 1 ] || rm "$app/src/busy.yaml"
	port=$(free_port)
	sed -i "s/__PORT__/127.0.0.1:$port/" "$app/src/_index.yaml"
	(cd "$app" && exec "$WIPPY" run </dev/null >"$TMP/$label.out" 2>"$TMP/$label.err") &
	PID=$!
	for _ in $(seq 100); do
		curl -s -m 1 "http://127.0.0.1:$port/ping" >/dev/null 2>&1 && break
		sleep 0.1
	done
	sleep 1  # the spinners take the shards, the hog starts filling
	local res
	res=$(python3 "$TMP/lat.py" "$port" "$REQUESTS")
	kill -TERM "$PID"
	wait "$PID" 2>/dev/null
	PID=
	local drift
	drift=$(grep -o 'worst_us[^0-9]*[0-9]*' "$TMP/$label.err" | tail -1 | grep -o '[0-9]*$')
	echo "$label $res ${drift:-?}"
}

quiet=$(run quiet 0)
busy=$(run busy 1)
for r in "$quiet" "$busy"; do
	set -- $r
	echo "fairness $1: $2 requests, $3 errors, latency p50 $4 ms p99 $5 ms max $6 ms; 100 ms ticker worst drift ${7} us"
done
set -- $quiet; qp99=$5
set -- $busy
awk -v b="$5" -v q="$qp99" -v d="$7" 'BEGIN {
	printf "fairness: busy p99 %.3f ms (target < 5 ms), busy/quiet p99 ratio %.1f; worst tick drift %s us (target < 5000)\n", b, (q > 0 ? b / q : 0), d }'
