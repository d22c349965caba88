#!/usr/bin/env bash
# bench/idle_workers.sh: resident memory per idle process, against a bare
# lua_newstate measured in the same run (build/bench/spawn).
#
# bench/apps/idle-workers starts NUM_WORKERS processes that block on their
# events channel. Bytes per worker = (VmRSS with N workers - VmRSS with 0)
# / N, after the spawn settles. Exit 77 when build/wippy is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
[ -x "$WIPPY" ] || { echo "skip: $WIPPY missing"; exit 77; }
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
cp -r "$ROOT/bench/apps/idle-workers" "$TMP/app"

rss_of() { # N -> KB of VmRSS 3 s after start
	(cd "$TMP/app" && NUM_WORKERS=$1 exec "$WIPPY" run -s) &
	PID=$!
	sleep 3
	local kb
	kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status")
	kill -TERM "$PID"
	wait "$PID" 2>/dev/null
	PID=
	echo "$kb"
}

floor=$("$BUILD/bench/spawn" 2>/dev/null | awk '/^newstate bare /{ for (i = 1; i <= NF; i++) if ($i == "bytes/state") print $(i - 1) }' | head -1)
base=$(rss_of 0)
for n in ${IDLE_NS:-10000 50000}; do
	kb=$(rss_of "$n")
	per=$(( (kb - base) * 1024 / n ))
	if [ -n "$floor" ]; then
		ratio=$(awk -v a="$per" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')
	else
		ratio="?"
	fi
	echo "idle_workers N=$n rss +$(( (kb - base) / 1024 )) MB: $per bytes/worker (ratio vs bare lua_newstate ${floor:-?} B: $ratio)"
done
