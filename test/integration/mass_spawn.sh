#!/usr/bin/env bash
# test/integration/mass_spawn.sh: the mass-spawn example runs as a service
# and shuts down cleanly on SIGINT.
#
# Runs `wippy run` in a copy of examples/mass-spawn with a small config
# (200 workers ticking every 100-300 ms, stats every second), and requires,
# from the log on stderr:
#   - "mass spawn starting" carrying the env overrides (the env.variable
#     entries read the OS environment, durations parsed to ms),
#   - "all workers spawned" with count 200,
#   - at least two "stats" lines with total_ticks > 0, all with alive 200
#     (no worker exits on its own) and total_ticks never decreasing,
# then sends SIGINT and requires exit code 0 within 5 s, a "shutting down"
# line from the spawner (it got CANCEL) and no ERROR lines.
#
# Log lines look like
#   2026-11-22T10:15:30.123Z INFO  stats                {"alive": 200, "total_ticks": 1234, ...}
# The field order inside {...} is not assumed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=200
SPAWN_WAIT=15   # seconds until "all workers spawned"
STATS_WAIT=15   # seconds until two stats lines with ticks
STOP_WAIT=5     # seconds from SIGINT to exit

lib_require_wippy
lib_tmpdir
APP=$TMP/app
OUT=$TMP/stdout
ERR=$TMP/stderr
lib_copy_app "$LIB_ROOT/examples/mass-spawn" "$APP"

# fail MSG: show what the runtime printed, then die.
fail() {
	show "wippy run stdout" "$OUT"
	show "wippy run stderr" "$ERR"
	die "$*"
}

# why RC: set WHY to explain a failed wait_for (1 = timed out, 2 = wippy
# exited). Not for $(...): only this shell can wait for $PID.
why() {
	WHY="timed out"
	if [ "$1" -eq 2 ]; then
		local st=0
		wait "$PID" || st=$?
		WHY="wippy run exited early with status $st"
	fi
}

# log_lines MSG: the log records whose message is exactly MSG.
log_lines() {
	grep -E "^[^ ]+ +[A-Z]+ +$1( +\{|\$)" "$ERR" || true
}

# field LINE NAME: the integer value of "NAME": <int> in LINE, or "".
field() {
	printf '%s\n' "$1" | grep -oE "\"$2\": ?-?[0-9]+" | head -n1 | grep -oE -- '-?[0-9]+$' || true
}

# stats_with_ticks: how many stats lines report total_ticks > 0.
stats_with_ticks() {
	local line v n=0
	while IFS= read -r line; do
		v=$(field "$line" total_ticks)
		[ -n "$v" ] && [ "$v" -gt 0 ] && n=$((n + 1))
	done < <(log_lines stats)
	echo "$n"
}

stats_ready() {
	[ "$(stats_with_ticks)" -ge 2 ]
}

# check_field WHAT LINE NAME WANT: LINE has "NAME": WANT.
check_field() {
	local v
	v=$(field "$2" "$3")
	[ "$v" = "$4" ] || fail "$1: expected \"$3\": $4, got '${v:-<missing>}' in: $2"
}

note "wippy run: NUM_WORKERS=$N TICK_MIN=100ms TICK_MAX=300ms STATS_INTERVAL=1s"
# env --default-signal: a background job of a script starts with SIGINT
# ignored; the runtime must see Ctrl+C as it would from a terminal.
(cd "$APP" && NUM_WORKERS=$N TICK_MIN=100ms TICK_MAX=300ms STATS_INTERVAL=1s \
	exec env --default-signal=INT "$WIPPY" run </dev/null >"$OUT" 2>"$ERR") &
PID=$!
lib_track "$PID"

rc=0
wait_for "$SPAWN_WAIT" "$PID" "all workers spawned" \
	lib_has_lines "$ERR" "^[^ ]+ +[A-Z]+ +all workers spawned( +\{|\$)" 1 || rc=$?
if [ "$rc" -ne 0 ]; then
	why "$rc"
	fail "no \"all workers spawned\" log line within ${SPAWN_WAIT}s: $WHY"
fi

line=$(log_lines "mass spawn starting" | head -n1)
[ -n "$line" ] || fail "no \"mass spawn starting\" log line"
check_field "mass spawn starting" "$line" num_workers "$N"
check_field "mass spawn starting" "$line" tick_min_ms 100
check_field "mass spawn starting" "$line" tick_max_ms 300
check_field "mass spawn starting" "$line" stats_interval_ms 1000
line=$(log_lines "all workers spawned" | head -n1)
check_field "all workers spawned" "$line" count "$N"
note "all $N workers spawned: $line"

wait_for "$STATS_WAIT" "$PID" "two stats lines with total_ticks > 0" stats_ready || rc=$?
if [ "$rc" -ne 0 ]; then
	why "$rc"
	fail "expected at least 2 \"stats\" lines with total_ticks > 0 within ${STATS_WAIT}s, got $(stats_with_ticks): $WHY"
fi

prev=0
while IFS= read -r line; do
	check_field "stats" "$line" alive "$N"
	v=$(field "$line" total_ticks)
	[ -n "$v" ] || fail "stats line without total_ticks: $line"
	[ "$v" -ge "$prev" ] || fail "total_ticks went down from $prev to $v: $line"
	prev=$v
done < <(log_lines stats)
note "ticking: $(log_lines stats | tail -n1)"

lib_alive "$PID" || fail "wippy run exited before SIGINT"
kill -INT "$PID"
wait_exit "$STOP_WAIT" "$PID"
rc=$EXIT_RC
[ "$rc" != timeout ] || fail "wippy run still running ${STOP_WAIT}s after SIGINT"
check_no_sanitizer "wippy run stderr" "$ERR"
if [ "$rc" -ne 0 ]; then
	show "wippy run stdout" "$OUT"
	show "wippy run stderr" "$ERR"
fi
check_exit "wippy run, stopped by SIGINT" "$rc" 0

line=$(log_lines "shutting down" | head -n1)
[ -n "$line" ] || fail "no \"shutting down\" line: the spawner did not get CANCEL (or its log was lost at exit)"
check_field "shutting down" "$line" workers_spawned "$N"
if grep -qE '^[^ ]+ +ERROR ' "$ERR"; then
	fail "ERROR lines in the log of a clean run: $(grep -m3 -E '^[^ ]+ +ERROR ' "$ERR")"
fi
note "stopped: $line"
echo "ok: mass-spawn with $N workers ran, ticked, and stopped on SIGINT with exit 0"
