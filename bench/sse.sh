#!/usr/bin/env bash
# bench/sse.sh: server-sent events to many connected clients.
#
# wippy (bench/apps/sse, 2 shards) runs one handler per client: each
# holds its stream open and writes events (res:write_event) as fast as its
# client takes them, parked by the stream's back-pressure otherwise. One
# client process (bench/sse_client.py, python3 selectors) opens CLIENTS
# keep-alive connections, waits until each has its first event, then
# counts the events all of them receive in DURATION seconds. The baseline,
# in the same run and with the same client: a Python asyncio server
# writing the same chunked event stream (bench/sse_baseline.py). Each line
# gives events/s in total and the server's CPU seconds per million events.
#
#   bash bench/sse.sh
#   SSE_BENCH_CLIENTS=1000 SSE_BENCH_DURATION=3 bash bench/sse.sh
#
# Exits 77 (skipped) when python3 or build/wippy is missing.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
CLIENTS=${SSE_BENCH_CLIENTS:-1000}
DUR=${SSE_BENCH_DURATION:-5}

command -v python3 >/dev/null || { echo "sse: python3 is not installed; skipped"; exit 77; }
[ -x "$WIPPY" ] || { echo "sse: $WIPPY not built (run make); skipped"; exit 77; }
ulimit -n $((CLIENTS * 2 + 512)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

. "$ROOT/bench/lib/common.sh"
bench_init sse
# cpu_of PID: user+system CPU seconds of a process so far.
cpu_of() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}
# measure NAME PID PORT: run the client against PORT, print the figures.
measure() {
	local name=$1 pid=$2 port=$3 c0 c1 line ev
	c0=$(cpu_of "$pid")
	line=$(python3 "$ROOT/bench/sse_client.py" "$port" "$CLIENTS" "$DUR") || die "$name: client failed"
	c1=$(cpu_of "$pid")
	ev=$(echo "$line" | awk '{ print $4 }')
	# The server's CPU covers the connecting phase too: an upper bound.
	awk -v n="$name" -v l="$line" -v c0="$c0" -v c1="$c1" -v ev="$ev" 'BEGIN {
		printf "%-8s %s server_cpu %.2f s (%.2f s per million events)\n", n, l, c1 - c0,
			(c1 - c0) * 1000000 / (ev + 1) }'
	echo "$line" | awk '{ print $8 }' >"$TMP/$name.rate"
}

APP=$TMP/app
cp -r "$ROOT/bench/apps/sse" "$APP"
PORT=$(free_port)
sed -i "s/__PORT__/$PORT/" "$APP/src/_index.yaml"
(cd "$APP" && exec "$WIPPY" run --shards 2 </dev/null >"$TMP/wippy.out" 2>"$TMP/wippy.err") &
WPID=$!
PIDS+=("$WPID")
wait_port "$PORT" "$WPID" || { cat "$TMP/wippy.err"; die "wippy did not start"; }
measure wippy "$WPID" "$PORT"
kill -TERM "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null

BPORT=$(free_port)
python3 "$ROOT/bench/sse_baseline.py" "$BPORT" &
BPID=$!
PIDS+=("$BPID")
wait_port "$BPORT" "$BPID" || die "the baseline did not start"
measure asyncio "$BPID" "$BPORT"

awk -v a="$(cat "$TMP/wippy.rate")" -v b="$(cat "$TMP/asyncio.rate")" \
	'BEGIN { printf "ratio wippy/asyncio events/s: %.2f\n", a / (b > 0 ? b : 1) }'
