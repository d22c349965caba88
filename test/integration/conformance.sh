#!/usr/bin/env bash
# test/integration/conformance.sh: the Lua conformance suite (test/lua).
#
# Runs `wippy test` in a copy of test/lua: every function.lua entry with
# meta.type "test" (processes, channels, coroutines, time, errors, json,
# env, logger, services). It must exit 0 and end with "N passed, 0 failed",
# and it must have run the whole suite (a registry that lost its tests
# would pass vacuously). Then two behaviours only visible from outside:
# the logger test's record with its fields on stderr, and the supervisor's
# "gave up" line carrying the service's last error.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MIN_TESTS=200   # the suite has more; fewer means entries failed to load

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
note "ok: conformance suite"
