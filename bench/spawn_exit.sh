#!/usr/bin/env bash
# bench/spawn_exit.sh: CPU per process that is spawned, runs and ends on
# its own, against a bare lua_newstate + lua_close measured in the same run
# (build/bench/spawn).
#
# bench/apps/spawn-exit's driver spawns SPAWN_EXIT_N processes (default
# 100000) of one entry, 64 at a time, and returns; the runtime then exits.
# Two entries: `seed`, examples/http-spawn's worker (the work behind each
# http-spawn request: two modules, three log lines, to /dev/null here), and
# `empty`, a main that returns at once (the floor of a process). CPU is the
# wippy process's user + system time over the whole run, less a run of the
# driver alone (N = 0), divided by N. No assertions; exit 77 when
# build/wippy is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
N=${SPAWN_EXIT_N:-100000}
[ -x "$WIPPY" ] || { echo "skip: $WIPPY missing"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp -r "$ROOT/bench/apps/spawn-exit" "$TMP/app"
cp "$ROOT/examples/http-spawn/src/worker.lua" "$TMP/app/src/worker.lua"
cp "$ROOT/bench/apps/spawn-floor/worker.lua" "$TMP/app/src/empty.lua"

# cpu ENTRY N -> CPU seconds of one run (user + system), or nothing.
cpu() {
	local rc
	TIMEFORMAT='%U %S'
	cd "$TMP/app" || return 1
	{ time "$WIPPY" run -x app:terminal/app:driver "app:$1" "$2" \
		</dev/null >/dev/null 2>"$TMP/err"; } 2>"$TMP/time"
	rc=$?
	cd "$ROOT" || return 1
	if [ "$rc" -ne 0 ]; then
		echo "spawn_exit: ERROR: $1 x $2 exited $rc" >&2
		tail -n 5 "$TMP/err" >&2
		return 1
	fi
	awk '{ print $1 + $2 }' "$TMP/time"
}

read -r floor_new floor_close < <("$BUILD/bench/spawn" 2>/dev/null |
	awk '/^newstate bare / { for (i = 1; i <= NF; i++) { if ($i == "us/op,") n = $(i - 1); if ($i == "close") c = $(i + 1) } print n, c; exit }')
floor=$(awk -v a="${floor_new:-0}" -v b="${floor_close:-0}" 'BEGIN { printf "%.2f", a + b }')
base=$(cpu empty 0) || exit 1
for entry in empty seed; do
	s=$(cpu "$entry" "$N") || exit 1
	awk -v s="$s" -v b="$base" -v n="$N" -v f="$floor" -v e="$entry" 'BEGIN {
		us = (s - b) * 1e6 / n
		printf "spawn_exit %-5s N=%d: %.2f us CPU per process (ratio vs bare lua_newstate+lua_close %.2f us: %.2f)\n",
			e, n, us, f, (f > 0 ? us / f : 0) }'
done
