#!/usr/bin/env bash
# test/integration/conformance.sh: the Lua conformance suite (test/lua).
#
# Runs `wippy test` in a copy of test/lua: every function.lua entry with
# meta.type "test" (processes, channels, coroutines, time, errors, json,
# env, logger, services). It must exit 0 and end with "N passed, 0 failed",
# and it must have run the whole suite (a registry that lost its tests
# would pass vacuously). Then two behaviours only visible from outside:
# the logger test's record with its fields on stderr, and the supervisor's
# "gave up" line carrying the service's last error. Last, `wippy test`
# itself on test/fixtures/runtime/testrun, whose tests pass and fail in
# every way a test can: the outcome lines, the summary, the exit code,
# meta.timeout and --filter.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MIN_TESTS=520   # the suite has more; fewer means entries failed to load

lib_require_wippy
lib_tmpdir
APP=$TMP/app
lib_copy_app "$LIB_ROOT/test/lua" "$APP"

OUT=$TMP/out ERR=$TMP/err
set +e
(cd "$APP" && timeout -k 5 100 "$WIPPY" test >"$OUT" 2>"$ERR")
RC=$?
set -e
check_no_sanitizer "stderr" "$ERR"
if [ "$RC" -ne 0 ]; then
	grep -A3 '^  FAIL' "$OUT" >&2 || true
	show stdout "$OUT"
	show stderr "$ERR"
fi
check_exit "wippy test (test/lua)" "$RC" 0
expect_regex "stdout" "$OUT" '^[0-9]+ passed, 0 failed$'
n=$(sed -n 's/^running \([0-9]*\) tests$/\1/p' "$OUT")
[ -n "$n" ] && [ "$n" -ge "$MIN_TESTS" ] ||
	die "ran ${n:-no} tests, expected at least $MIN_TESTS"
passed=$(count_regex "$OUT" '^  PASS  ')
[ "$passed" -eq "$n" ] || die "$passed PASS lines for $n tests"
note "$n tests passed"

# logger: message, fields, child fields, the logger name, an error field
# formatted as its message, and the automatic pid and location.
expect_regex "stderr" "$ERR" 'INFO  conformance marker .*"n": 7'
expect_regex "stderr" "$ERR" 'INFO  print marker 7    as message end '
marker=$(grep -F 'conformance marker' "$ERR")
for f in '"error": "bad thing"' '"suite": "logger"' '"logger": "conf"' \
	'"s": "text"' '"pid": "{wippy:tests|0x' '"location": "logger.lua:'; do
	case $marker in
	*"$f"*) ;;
	*) die "logger record lacks $f: $marker" ;;
	esac
done

# supervisor: giving up names the service, the attempts and the last error.
expect_fixed "stderr" "$ERR" "service test.service:giveup gave up after 2 attempts: giveup failure 3"

# wippy test's own outcomes.
TR=$TMP/testrun
lib_copy_app "$LIB_ROOT/test/fixtures/runtime/testrun" "$TR"
set +e
(cd "$TR" && timeout -k 5 30 "$WIPPY" test >"$OUT" 2>"$ERR")
RC=$?
set -e
check_no_sanitizer "testrun stderr" "$ERR"
check_exit "wippy test (failing tests)" "$RC" 1
expect_fixed "testrun" "$OUT" "running 7 tests"
for t in pass_nothing pass_true pass_spawn; do
	expect_regex "testrun" "$OUT" "^  PASS  app:$t "
done
for t in fail_false fail_nil_err fail_raise fail_timeout; do
	expect_regex "testrun" "$OUT" "^  FAIL  app:$t "
done
expect_fixed "testrun" "$OUT" "returned false"
expect_fixed "testrun" "$OUT" "bad result"
expect_regex "testrun" "$OUT" 'cases\.lua:[0-9]+: raised here'
expect_fixed "testrun" "$OUT" "timed out"
reject_fixed "testrun" "$OUT" "not_a_test"
expect_regex "testrun" "$OUT" '^3 passed, 4 failed$'
# the 300 ms meta.timeout ended the 10 s sleep
ms=$(sed -n 's/^  FAIL  app:fail_timeout  *\([0-9.]*\) ms$/\1/p' "$OUT")
[ -n "$ms" ] && [ "${ms%.*}" -lt 5000 ] || die "fail_timeout took '${ms:-?}' ms, meta.timeout is 300ms"

(cd "$TR" && timeout -k 5 30 "$WIPPY" test --filter suite_b >"$OUT" 2>"$ERR") || true
expect_regex "testrun --filter suite_b" "$OUT" '^1 passed, 2 failed$'
set +e
(cd "$TR" && timeout -k 5 30 "$WIPPY" test --filter pass_ >"$OUT" 2>"$ERR")
RC=$?
set -e
check_exit "wippy test --filter pass_" "$RC" 0
expect_regex "testrun --filter pass_" "$OUT" '^3 passed, 0 failed$'
note "ok: conformance suite"
