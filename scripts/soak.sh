#!/usr/bin/env bash
# scripts/soak.sh: `make soak`, the long run (not in CI), bounded to
# SOAK_SECONDS (600 by default, at most 600).
#
# Three runtimes at once on loopback:
#   - examples/http-spawn under `wrk -t1 -c16` (a process per request);
#   - examples/mass-spawn with SOAK_WORKERS (30,000) ticking workers; at
#     100,000 (57k ticks a second into one spawner) and the other two
#     runtimes on two cores the spawner falls behind, its mailbox grows
#     (the "messages queued" warning) and so does the RSS: overload, not a
#     leak, so the default stays below it;
#   - the chaos app, bench/apps/fairness with busy.yaml: two spinners per
#     shard, a memory hog that fails at its host's 256 MB and is
#     restarted, next to an endpoint and a ticker.
# Every SOAK_SAMPLE seconds (30) each runtime's VmRSS and open fds are
# printed. At the end: wrk's errors and non-2xx count, the ERROR lines of
# http-spawn and mass-spawn (the chaos app's are its own), and whether RSS
# and fds stayed flat after the first third (warm-up): the highest RSS
# after it within 10% (or 20 MB) of the highest during it, and no more
# than 8 fds more. Exit 1 if any of
# that fails, 77 when wrk is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
DUR=${SOAK_SECONDS:-600}
[ "$DUR" -le 600 ] || DUR=600
SAMPLE=${SOAK_SAMPLE:-30}
WORKERS=${SOAK_WORKERS:-30000}
command -v wrk >/dev/null || { echo "soak: wrk is not installed"; exit 77; }
[ -x "$WIPPY" ] || { echo "soak: $WIPPY missing"; exit 1; }

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() { # name dir -> pid in $name.pid
	local name=$1 dir=$2
	(cd "$dir" && exec env NUM_WORKERS="$WORKERS" "$WIPPY" run </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err") &
	echo $! >"$TMP/$name.pid"
	PIDS+=("$!")
}

HTTP_PORT=$(free_port)
cp -r "$ROOT/examples/http-spawn" "$TMP/http"
sed -i "s/addr: \":8080\"/addr: \"127.0.0.1:$HTTP_PORT\"/" "$TMP/http/src/_index.yaml"
cp -r "$ROOT/examples/mass-spawn" "$TMP/mass"
CHAOS_PORT=$(free_port)
cp -r "$ROOT/bench/apps/fairness" "$TMP/chaos"
sed -i "s/__PORT__/127.0.0.1:$CHAOS_PORT/" "$TMP/chaos/src/_index.yaml"

start http "$TMP/http"
start mass "$TMP/mass"
start chaos "$TMP/chaos"
sleep 5
for n in http mass chaos; do
	kill -0 "$(cat "$TMP/$n.pid")" 2>/dev/null || { echo "soak: $n did not start"; cat "$TMP/$n.err"; exit 1; }
done

wrk -t1 -c16 -d"${DUR}s" -s "$ROOT/examples/http-spawn/wrk.lua" "http://127.0.0.1:$HTTP_PORT/api/tasks" >"$TMP/wrk.out" 2>&1 &
WRK=$!
PIDS+=("$WRK")

sample() { # name -> "rss_kb fds"
	local pid
	pid=$(cat "$TMP/$1.pid")
	echo "$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0) $(ls "/proc/$pid/fd" 2>/dev/null | wc -l)"
}

maxs() { # "rss fds" "rss fds" -> the larger rss, the second fds
	local a=${1% *} b=${2% *}
	[ "$a" -gt "$b" ] && b=$a
	echo "$b ${2#* }"
}

t=0
declare -A warm last
while [ "$t" -lt "$DUR" ]; do
	sleep "$SAMPLE"
	t=$((t + SAMPLE))
	line="soak t=${t}s"
	for n in http mass chaos; do
		s=$(sample "$n")
		# The highest RSS (and last fd count) of warm-up and of the rest:
		# the hog's heap comes and goes, so single samples would compare
		# its phases, not the runtime's growth.
		if [ "$t" -le $((DUR / 3)) ]; then
			warm[$n]=$(maxs "${warm[$n]:-0 0}" "$s")
		else
			last[$n]=$(maxs "${last[$n]:-0 0}" "$s")
		fi
		line="$line  $n rss $(( ${s% *} / 1024 )) MB fds ${s#* }"
	done
	echo "$line"
done
wait "$WRK"
for n in http mass chaos; do kill -TERM "$(cat "$TMP/$n.pid")"; done
for n in http mass chaos; do wait "$(cat "$TMP/$n.pid")" 2>/dev/null; done

fail=0
echo "---- wrk"
cat "$TMP/wrk.out"
if grep -qE "Non-2xx|Socket errors" "$TMP/wrk.out"; then
	echo "soak: FAIL: requests failed"
	fail=1
fi
for n in http mass; do
	e=$(grep -c " ERROR " "$TMP/$n.err")
	echo "soak: $n logged $e ERROR lines"
	[ "$e" -eq 0 ] || { grep " ERROR " "$TMP/$n.err" | head -5; fail=1; }
	q=$(grep -c "messages queued" "$TMP/$n.err")
	[ "$q" -eq 0 ] || echo "soak: $n fell behind: $q mailbox warnings (RSS growth is its backlog)"
done
for n in http mass chaos; do
	w=${warm[$n]:-0 0} l=${last[$n]:-0 0}
	wr=${w% *} lr=${l% *} wf=${w#* } lf=${l#* }
	grow=$((lr - wr))
	echo "soak: $n after warm-up rss ${wr} -> ${lr} KB, fds $wf -> $lf"
	if [ "$grow" -gt $((wr / 10)) ] && [ "$grow" -gt 20480 ]; then
		echo "soak: FAIL: $n RSS grew after warm-up"
		fail=1
	fi
	if [ "$lf" -gt $((wf + 8)) ]; then
		echo "soak: FAIL: $n fds grew after warm-up"
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "soak: ok"
exit "$fail"
