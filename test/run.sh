#!/usr/bin/env bash
# test/run.sh: run every unit test binary and every integration script, each
# in its own process with a timeout, and end with "N passed, N failed".
# Exit code 77 from a test means "skipped" (kernel lacks a feature).
# Logs of failed tests are printed; all logs stay in $BUILD/test-logs/.
set -u
BUILD=${BUILD:-build}
TIMEOUT=${TEST_TIMEOUT:-300}
LOGS=$BUILD/test-logs
mkdir -p "$LOGS"
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export WIPPY=${WIPPY:-$PWD/$BUILD/wippy}
export SANITIZER=${SANITIZER:-}

pass=0; fail=0; skip=0; failed=()
run_one() { # name, command...
	local name=$1; shift
	local log=$LOGS/$(echo "$name" | tr '/' '_').log
	local t0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$@" >"$log" 2>&1
	local rc=$?
	local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	local dt=$((ms / 1000)).$(printf "%02d" $(((ms % 1000) / 10)))
	if [ $rc -eq 0 ]; then
		pass=$((pass+1)); printf "  PASS  %-44s %6ss\n" "$name" "$dt"
	elif [ $rc -eq 77 ]; then
		skip=$((skip+1)); printf "  SKIP  %-44s %s\n" "$name" "$(grep -m1 SKIP "$log")"
	else
		fail=$((fail+1)); failed+=("$name")
		[ $rc -eq 124 ] && echo "# timed out after ${TIMEOUT}s" >>"$log"
		printf "  FAIL  %-44s (exit %d)\n" "$name" "$rc"
		sed 's/^/        | /' "$log" | grep -v '^        | ok ' | tail -40
	fi
}

for t in $(find "$BUILD/test" -type f -executable 2>/dev/null | sort); do
	run_one "unit/${t#$BUILD/test/}" "$t"
done
for t in $(ls test/integration/*.sh 2>/dev/null | grep -v /lib.sh | sort); do
	run_one "integration/$(basename "$t" .sh)" bash "$t"
done

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
[ $skip -gt 0 ] && echo "$skip skipped"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
