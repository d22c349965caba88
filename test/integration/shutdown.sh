#!/usr/bin/env bash
# test/integration/shutdown.sh: shutdown always ends.
#
# The fixture (test/fixtures/runtime/shutdown) runs one case at a time, as
# a service (stop_timeout 1 s) and as an unsupervised process beside it,
# every case ignoring CANCEL: spinning in a function, spinning inside a
# sort comparator (a C boundary), blocked on a channel, blocked on a
# timer, looping at a chunk's top level (bare, and around a pcall that
# catches each error), and stuck inside one C call that no hook reaches.
# With --stop-timeout 1s, SIGTERM (or SIGINT) must end each run within the
# stop timeout plus STOP_SLACK seconds: the runtime promises 1 s; the bound
# here is functional, for a loaded machine. A loop at a chunk's top level
# must not be left to the 5 s runaway limit. The case stuck in C cannot be
# stopped: it is abandoned, logged by pid and entry, and the exit code is
# 1; every other case exits 0. Then 200,000 ticking workers (mass-spawn)
# stop within the same bound. Last, a second SIGINT exits at once with 130.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

STOP_TIMEOUT=1   # seconds, the runtime's (--stop-timeout) and the services'
STOP_SLACK=3     # seconds past it that each run may take to exit

lib_require_wippy
# ThreadSanitizer delivers a signal only when the thread reaches one of its
# interceptors, and a Lua loop that never yields calls none: the spinners
# could be neither preempted nor terminated (see isolation.sh).
[ "${SANITIZER:-}" = thread ] && skip "preemption signals are deferred under ThreadSanitizer"
lib_tmpdir

# start CASE [ARGS...]: boot the fixture with __CASE__ = CASE, wait until
# the case's processes report ready. Sets PID, ERR.
start() {
	local case=$1 ready=$2
	shift 2
	APP=$TMP/$case
	lib_copy_app "$LIB_ROOT/test/fixtures/runtime/shutdown" "$APP"
	sed -i "s/__CASE__/$case/" "$APP/src/_index.yaml"
	ERR=$TMP/$case.err
	(cd "$APP" && exec "$WIPPY" run --shards 2 "$@" </dev/null >"$TMP/$case.out" 2>"$ERR") &
	PID=$!
	lib_track "$PID"
	wait_for_line 15 "$PID" "$ERR" "case ready .*\"case\": \"$case\"" "$ready" || {
		show stderr "$ERR"
		die "$case: the case's processes did not start"
	}
	sleep 0.3   # let them get into their loops
}

# stop SIGNAL LIMIT: send SIGNAL, wait up to LIMIT seconds. Sets EXIT_RC, MS.
stop() {
	local sig=$1 limit=$2 t0
	t0=$(date +%s%N)
	kill "-$sig" "$PID"
	wait_exit "$limit" "$PID"
	MS=$(( ($(date +%s%N) - t0) / 1000000 ))
	if [ "$EXIT_RC" = timeout ]; then
		show stderr "$ERR"
		kill -KILL "$PID" 2>/dev/null || true
		die "$CASE: still running ${limit}s after SIG$sig"
	fi
}

# run_case CASE READY SIGNAL RC: one case, stopped by SIGNAL, must exit RC
# within the bound. READY is how many "case ready" lines to wait for.
run_case() {
	CASE=$1
	local ready=$2 sig=$3 rc=$4
	start "$CASE" "$ready" --stop-timeout "${STOP_TIMEOUT}s"
	stop "$sig" $((STOP_TIMEOUT + STOP_SLACK))
	[ "$EXIT_RC" -eq "$rc" ] || show stderr "$ERR"
	check_exit "$CASE: wippy run after SIG$sig" "$EXIT_RC" "$rc"
	check_no_sanitizer "$CASE: stderr" "$ERR"
	expect_fixed "$CASE: stderr" "$ERR" "received SIG$sig, stopping"
	# Every case ignores CANCEL: the service is terminated at its own
	# stop_timeout, the other process when the runtime's ends.
	expect_fixed "$CASE: stderr" "$ERR" "service app:svc did not stop within its stop_timeout: terminating"
	expect_regex "$CASE: stderr" "$ERR" "stop timeout: terminating [0-9]+ processes"
	note "ok: $CASE stopped by SIG$sig in $MS ms (exit $EXIT_RC)"
}

# Two ready lines (the service and the child) where the process logs from
# main; top-level cases log from their chunk.
run_case spin_fn 2 TERM 0
run_case spin_c 2 TERM 0
run_case block_chan 2 INT 0
run_case block_timer 2 TERM 0
run_case top_loop 2 TERM 0
reject_fixed "top_loop: stderr" "$ERR" "without a point where it could yield"
run_case top_pcall 2 TERM 0
reject_fixed "top_pcall: stderr" "$ERR" "abandoned process"

# Stuck in C: both are abandoned, by pid and entry, and the exit is 1.
run_case stuck_c 2 TERM 1
[ "$(count_regex "$ERR" 'abandoned process.*"entry": "app:stuck_c"')" -eq 2 ] || {
	show stderr "$ERR"
	die "stuck_c: expected the service and the child logged as abandoned"
}
expect_regex "stuck_c: stderr" "$ERR" 'abandoned process.*"pid": "\{app:procs\|0x[0-9a-f]+\}"'

# {==== at scale ====}

# examples/mass-spawn with SCALE_N ticking, monitored workers: SIGTERM ends
# the run within the same bound (the stop timeout counts from the signal,
# not from after the CANCELs). Workers still ending when the stop timeout
# passes are terminated, not abandoned, while their count keeps falling:
# every worker honours CANCEL, so the exit is 0 and nothing is logged as
# abandoned. A million is the same, in 10.7 s with the default 10 s stop
# timeout (by hand: about 5 GB).
SCALE_N=200000
[ -n "${SANITIZER:-}" ] && SCALE_N=20000
CASE=scale
APP=$TMP/scale
lib_copy_app "$LIB_ROOT/examples/mass-spawn" "$APP"
ERR=$TMP/scale.err
(cd "$APP" && NUM_WORKERS=$SCALE_N exec "$WIPPY" run --shards 2 --stop-timeout "${STOP_TIMEOUT}s" \
	</dev/null >"$TMP/scale.out" 2>"$ERR") &
PID=$!
lib_track "$PID"
wait_for_line 120 "$PID" "$ERR" "all workers spawned" || { show stderr "$ERR"; die "scale: $SCALE_N workers did not start"; }
sleep 1
stop TERM $((STOP_TIMEOUT + STOP_SLACK))
[ "$EXIT_RC" = 0 ] || { show stderr "$ERR"; die "scale: exit $EXIT_RC after SIGTERM, expected 0"; }
expect_fixed "scale: stderr" "$ERR" "received SIGTERM, stopping"
reject_fixed "scale: stderr" "$ERR" "abandoned"
check_no_sanitizer "scale: stderr" "$ERR"
note "ok: $SCALE_N workers stopped on SIGTERM in $MS ms (exit $EXIT_RC)"

# {==== a second SIGINT ====}

# The default stop timeout (10 s) and a process that ignores CANCEL: the
# first SIGINT begins the wait, the second ends it at once.
CASE=block_timer_twice
start block_timer 2
kill -INT "$PID"
wait_for_line 5 "$PID" "$ERR" "received SIGINT, stopping" || {
	show stderr "$ERR"
	die "$CASE: the first SIGINT was not seen"
}
stop INT 2
check_exit "$CASE: wippy run after a second SIGINT" "$EXIT_RC" 130
expect_fixed "$CASE: stderr" "$ERR" "received SIGINT again: exiting now"
check_no_sanitizer "$CASE: stderr" "$ERR"
note "ok: a second SIGINT exits in $MS ms with 130"
echo "ok: shutdown ends whatever the processes do"
