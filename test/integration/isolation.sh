#!/usr/bin/env bash
# test/integration/isolation.sh: one process's misbehaviour stays its own.
#
# The fixture's terminal process starts four processes that never yield
# (on one shard, so they compete with it for the same thread), then checks
# that it and its own coroutines still get turns (preemption), that a Lua
# error ends only the process that raised it (its monitor gets the error),
# and that a process allocating past --proc-memory-limit fails with a memory
# error while the runtime goes on, and that a loop at a chunk's top level
# (where nothing can yield) is ended by the watchdog's runaway limit. The runtime must then exit 0 and stop
# the spinners (they ignore CANCEL, so they are terminated).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
# ThreadSanitizer delivers a signal only when the thread reaches one of its
# interceptors, and a Lua loop that never yields calls none: preemption
# cannot work under it (the other sanitizers are fine).
[ "${SANITIZER:-}" = thread ] && skip "preemption signals are deferred under ThreadSanitizer"
lib_tmpdir
APP=$TMP/app
lib_copy_app "$LIB_ROOT/test/fixtures/runtime/isolation" "$APP"

OUT=$TMP/out ERR=$TMP/err
set +e
(cd "$APP" && timeout -k 5 30 "$WIPPY" run --shards 1 --proc-memory-limit 16M \
	-x app:cli >"$OUT" 2>"$ERR")
RC=$?
set -e
check_no_sanitizer "stderr" "$ERR"
[ "$RC" -eq 0 ] || { show stdout "$OUT"; show stderr "$ERR"; }
check_exit "wippy run (isolation)" "$RC" 0
expect_fixed "stdout" "$OUT" "tick 3"
expect_fixed "stdout" "$OUT" "coroutine ticks ok"
expect_regex "stdout" "$OUT" "^crasher error: .*crasher\.lua:1: boom$"
expect_fixed "stdout" "$OUT" "hog error: not enough memory"
expect_fixed "stdout" "$OUT" "tight error: not enough memory"
expect_regex "stdout" "$OUT" "^stuck error: .*without a point where it could yield"
note "ok: preemption, error isolation and memory limits"
