#!/usr/bin/env bash
# bench/mass_spawn.sh: the runtime end to end on examples/mass-spawn.
#
# For each N in $MASS_SPAWN_NS (default "1000 10000") the example app is run
# with `wippy run` from a private copy, with NUM_WORKERS=N, and measured:
#   spawn      the app's own `all workers spawned {"elapsed_s": X}` line
#   bytes      (VmRSS after all spawned + $SETTLE_S s) minus the VmRSS of the
#              same app with NUM_WORKERS=0 at the same point, divided by N
#   cpu        utime+stime of the wippy process over $CPU_S s while ticking,
#              as a percentage of one CPU
#   ticks      the rate of the app's `stats` total_ticks between the last
#              stats line before the cpu window and the last one in it,
#              against the steady-state N * E[1/interval] (for an interval
#              uniform in [a, b], N * ln(b/a) / (b - a): 0.717 per worker
#              per second for the default [0.5 s, 3 s]) and, for the ratio,
#              against the expectation for that exact window: all tickers
#              start together, so ticks come in phase-aligned waves and a
#              few-second window can sit 5% off the steady state; the
#              expected count of a worker with interval x in (A, B] after
#              the start is floor(B/x) - floor(A/x), averaged over x
#   per tick   cpu divided by the tick rate: µs of CPU per tick, timer,
#              the worker's select and send and the spawner's receive;
#              against build/bench/tick_floor at the same N (up to
#              TICK_FLOOR_MAX_N, default 100000: 8.5 KB a state), one
#              resume of a bare state picked at random among N, the least
#              a tick costs with one Lua state per process
#   shutdown   time from SIGINT to exit, and the exit code
# One summary line per N; bytes per worker and spawn time per worker are
# also given as ratios of the bare lua_newstate floor that build/bench/spawn
# measures in the same run.
#
# Numbers never fail the script. It exits non-zero only when the runtime
# misbehaves: it dies, never logs the spawn line, exits non-zero after
# SIGINT, or does not exit within $EXIT_TIMEOUT_S s of it.
#
# Run alone from the repository root after `make bench` (or `make`):
#   bash bench/mass_spawn.sh
#   MASS_SPAWN_NS=10000 SETTLE_S=2 CPU_S=3 bash bench/mass_spawn.sh
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
SPAWN_BENCH=${SPAWN_BENCH:-$BUILD/bench/spawn}
TICK_FLOOR=${TICK_FLOOR:-$BUILD/bench/tick_floor}
TICK_FLOOR_MAX_N=${TICK_FLOOR_MAX_N:-100000}
NS=${MASS_SPAWN_NS:-1000 10000}
SETTLE_S=${SETTLE_S:-5}
CPU_S=${CPU_S:-5}
SPAWN_TIMEOUT_S=${SPAWN_TIMEOUT_S:-60}
EXIT_TIMEOUT_S=${EXIT_TIMEOUT_S:-30}
TICK_MIN_S=0.5 # the example's TICK_MIN / TICK_MAX defaults; kept explicit
TICK_MAX_S=3   # in the environment below so the expectation matches

if [ ! -x "$WIPPY" ]; then
	echo "mass_spawn: $WIPPY not built (run make); skipped"
	exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wippy-mass-spawn.XXXXXX")
PID=
cleanup() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
cp -r "$ROOT/examples/mass-spawn" "$TMP/app"
rm -rf "$TMP/app/.wippy"
CLK_TCK=$(getconf CLK_TCK)
errors=0

# jget KEY: print the value of "KEY": in the JSON object on stdin's line.
jget() { sed -nE "s/.*\"$1\": *\"?([^,\"}]*)\"?.*/\1/p" | head -1; }

# cpu_ticks PID: utime + stime of PID in clock ticks. The command name in
# field 2 may hold spaces, so the fields are counted after its ')'.
cpu_ticks() { sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

fail() { # message: report a runtime failure with the end of its log
	echo "mass_spawn: ERROR: $1"
	[ -f "$LOG" ] && sed 's/^/    | /' "$LOG" | tail -20
	errors=$((errors + 1))
}

# start N: launch the app with NUM_WORKERS=N and wait for its spawn line.
# Sets PID, LOG and SPAWN_LINE; returns 1 on failure.
start() {
	LOG=$TMP/run-$1.log
	(cd "$TMP/app" && NUM_WORKERS=$1 TICK_MIN=500ms TICK_MAX=3s \
		STATS_INTERVAL=2s exec "$WIPPY" run) >"$LOG" 2>&1 &
	PID=$!
	local deadline=$(( $(now_ms) + SPAWN_TIMEOUT_S * 1000 ))
	SPAWN_LINE=
	while [ -z "$SPAWN_LINE" ]; do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID"; local rc=$?; PID=
			fail "NUM_WORKERS=$1: wippy exited (code $rc) before spawning"
			return 1
		fi
		if [ "$(now_ms)" -gt "$deadline" ]; then
			fail "NUM_WORKERS=$1: no 'all workers spawned' line in ${SPAWN_TIMEOUT_S}s"
			stop_app
			return 1
		fi
		sleep 0.05
		SPAWN_LINE=$(grep -m1 'all workers spawned' "$LOG")
	done
}

# stop_app: SIGINT, wait for the exit. Sets EXIT_MS (SIGINT to exit) and
# EXIT_RC (124 when it had to be killed). Runs in this shell, never in a
# subshell: only the parent can wait for the child.
stop_app() {
	local t0 deadline
	t0=$(now_ms)
	deadline=$(( t0 + EXIT_TIMEOUT_S * 1000 ))
	kill -INT "$PID" 2>/dev/null
	# kill -0 succeeds on a zombie, so also look at its state.
	while kill -0 "$PID" 2>/dev/null && [ -z "$(zombie "$PID")" ]; do
		if [ "$(now_ms)" -gt "$deadline" ]; then
			kill -KILL "$PID" 2>/dev/null
			wait "$PID" 2>/dev/null; PID=
			EXIT_MS=$(( $(now_ms) - t0 )) EXIT_RC=124
			return
		fi
		sleep 0.005
	done
	EXIT_MS=$(( $(now_ms) - t0 ))
	wait "$PID"; EXIT_RC=$?
	PID=
}

# zombie PID: non-empty once PID has exited but is not yet reaped.
zombie() { sed -nE 's/^.*\) Z .*/Z/p' "/proc/$1/stat" 2>/dev/null; }

# {==== the floor from bench/spawn ====}

BARE_BYTES='' BARE_US=''
if [ -x "$SPAWN_BENCH" ]; then
	line=$("$SPAWN_BENCH" | grep -m1 '^newstate bare ')
	BARE_US=$(echo "$line" | sed -nE 's/^newstate bare ([0-9.]+) us\/op.*/\1/p')
	BARE_BYTES=$(echo "$line" | sed -nE 's/.* ([0-9]+) bytes\/state.*/\1/p')
	echo "# floor (bench/spawn): $line"
else
	echo "# $SPAWN_BENCH not built: no ratio against the bare lua_newstate"
fi

# {==== baseline: the same app with no workers ====}

BASE_KB=
if start 0; then
	sleep "$SETTLE_S"
	BASE_KB=$(rss_kb "$PID")
	stop_app
	echo "# NUM_WORKERS=0: VmRSS ${BASE_KB} kB after ${SETTLE_S}s; SIGINT->exit ${EXIT_MS} ms, exit code $EXIT_RC"
	if [ "$EXIT_RC" != 0 ]; then
		fail "NUM_WORKERS=0: exit code $EXIT_RC after SIGINT"
	fi
fi

# {==== N workers ====}

for N in $NS; do
	FLOOR_US=
	if [ -x "$TICK_FLOOR" ] && [ "$N" -le "$TICK_FLOOR_MAX_N" ] && [ "$N" -gt 0 ]; then
		line=$("$TICK_FLOOR" "$N" | grep -m1 '^tick floor ')
		FLOOR_US=$(echo "$line" | sed -nE 's/.*: ([0-9.]+) us per resume.*/\1/p')
		echo "# $line"
	fi
	start "$N" || continue
	count=$(echo "$SPAWN_LINE" | jget count)
	elapsed=$(echo "$SPAWN_LINE" | jget elapsed_s)
	if [ "$count" != "$N" ]; then
		fail "NUM_WORKERS=$N: only $count workers spawned"
	fi
	sleep "$SETTLE_S"
	rss=$(rss_kb "$PID")
	t0=$(cpu_ticks "$PID"); w0=$(now_ms)
	stats_from=$(grep -c ' stats ' "$LOG")
	sleep "$CPU_S"
	t1=$(cpu_ticks "$PID"); w1=$(now_ms)
	# The stats lines logged during the cpu window: every worker is past
	# its first tick by then (the settle time exceeds TICK_MAX).
	# "timestamp=total_ticks" of the stats lines from the last one
	# before the window on.
	points=$(grep ' stats ' "$LOG" | tail -n +"$((stats_from > 0 ? stats_from : 1))" |
		while read -r l; do
			echo "${l%% *}=$(echo "$l" | jget total_ticks)"
		done | tr '\n' ' ')
	spawned_at=${SPAWN_LINE%% *}
	alive=$(grep ' stats ' "$LOG" | tail -1 | jget alive)
	stop_app
	exit_ms=$EXIT_MS rc=$EXIT_RC

	awk -v n="$N" -v el="$elapsed" -v rss="$rss" -v base="${BASE_KB:-}" \
	    -v bb="${BARE_BYTES:-}" -v bus="${BARE_US:-}" -v fus="${FLOOR_US:-}" \
	    -v dt="$((t1 - t0))" -v hz="$CLK_TCK" -v wall="$((w1 - w0))" \
	    -v points="$points" -v t0="$spawned_at" -v alive="$alive" \
	    -v a="$TICK_MIN_S" -v b="$TICK_MAX_S" \
	    -v exit_ms="$exit_ms" -v rc="$rc" '
	# ISO-8601 log timestamp to milliseconds of its day.
	function ms(ts,   d, t) {
		split(ts, d, "T"); split(d[2], t, ":")
		return (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
	}
	BEGIN {
		us = el * 1e6 / n
		line = sprintf("mass_spawn N=%d spawn %.3f s (%.2f us/worker", n, el, us)
		if (bus != "") line = line sprintf(", ratio vs bare lua_newstate %.1f", us / bus)
		line = line ")"
		if (base != "") {
			per = (rss - base) * 1024 / n
			line = line sprintf(", rss +%.1f MB (%.0f bytes/worker", (rss - base) / 1024, per)
			if (bb != "") line = line sprintf(", ratio vs bare lua_newstate %.2f", per / bb)
			line = line ")"
		} else {
			line = line sprintf(", rss %.1f MB (no baseline)", rss / 1024)
		}
		line = line sprintf(", cpu %.1f%% ticking", 100 * dt / hz / (wall / 1000))
		expect = n * log(b / a) / (b - a)
		k = split(points, pt, " ")
		if (k >= 2) {
			split(pt[1], p1, "="); split(pt[k], p2, "=")
			# Workers started while the spawner ran: take the middle.
			start = ms(t0) - el * 1000 / 2
			A = ms(p1[1]) - start; B = ms(p2[1]) - start
			if (A < 0) A += 86400000          # across midnight
			if (B < A) B += 86400000
			rate = (p2[2] - p1[2]) / ((B - A) / 1000)
			lo = int(a * 1000 + 0.5); hi = int(b * 1000 + 0.5); w = 0
			for (x = lo; x <= hi; x++)
				w += int(B / x) - int(A / x)
			wexp = n * w / (hi - lo + 1) / ((B - A) / 1000)
			line = line sprintf(", tick rate %.0f/s over %.1f s (expected %.0f steady, %.0f for this window; ratio %.2f; alive %s)", rate, (B - A) / 1000, expect, wexp, rate / wexp, alive)
			# CPU per tick: the timer, the select and send of the
			# worker and the receive of the spawner.
			if (rate > 0) {
				pt_us = 1e6 * dt / hz / (wall / 1000) / rate
				line = line sprintf(", %.2f us CPU per tick", pt_us)
				if (fus != "" && fus > 0)
					line = line sprintf(" (%.1fx the tick floor, %.2f us)", pt_us / fus, fus)
			}
		} else {
			line = line sprintf(", tick rate: fewer than 2 stats lines (expected %.0f)", expect)
		}
		line = line sprintf(", SIGINT->exit %d ms, exit code %d", exit_ms, rc)
		print line
	}'
	if [ "$rc" = 124 ]; then
		fail "NUM_WORKERS=$N: still running ${EXIT_TIMEOUT_S}s after SIGINT (killed)"
	elif [ "$rc" != 0 ]; then
		fail "NUM_WORKERS=$N: exit code $rc after SIGINT"
	fi
	if grep -qE ' (ERROR|FATAL|PANIC) ' "$LOG"; then
		echo "# NUM_WORKERS=$N: the run logged errors:"
		grep -m5 -E ' (ERROR|FATAL|PANIC) ' "$LOG" | sed 's/^/    | /'
	fi
done

[ "$errors" -eq 0 ]
