#!/usr/bin/env bash
# test/integration/http_fuzz.sh: the libFuzzer driver of the HTTP/1 request
# parser (test/fuzz/run.sh) for a bounded time as part of `make test`.
#
# test/fuzz/run.sh builds test/fuzz/http1_fuzz.c with clang
# (-fsanitize=fuzzer,address,undefined) and runs it on a copy of the seed
# corpus. Its exit code passes through: 0 no crash, 1 a crash or a build
# error (the crash input is kept in $FUZZ_DIR), 77 clang or libFuzzer
# missing (reported as a skip). HTTP_FUZZ_SECONDS (default 60) sets the
# time; each test run uses its own scratch FUZZ_DIR unless one is given, so
# parallel runs do not share a corpus.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

SECS=${HTTP_FUZZ_SECONDS:-60}
RUN=$LIB_ROOT/test/fuzz/run.sh
[ -f "$RUN" ] || die "missing $RUN"
if [ -z "${FUZZ_DIR:-}" ]; then
	lib_tmpdir
	export FUZZ_DIR=$TMP/fuzz
	# A crash input is worth keeping: copy it out before the cleanup.
	keep_crashes() {
		local f
		for f in "$FUZZ_DIR"/crash-* "$FUZZ_DIR"/leak-* "$FUZZ_DIR"/timeout-* "$FUZZ_DIR"/oom-*; do
			[ -e "$f" ] || continue
			mkdir -p /tmp/wippy-fuzz-http1-crashes
			cp "$f" /tmp/wippy-fuzz-http1-crashes/
			echo "# kept $(basename "$f") in /tmp/wippy-fuzz-http1-crashes/"
		done
		lib_cleanup
	}
	trap keep_crashes EXIT
fi
note "test/fuzz/run.sh $SECS (FUZZ_DIR=$FUZZ_DIR)"
# The fuzzer's own limit plus time to build; bounded independently of it.
timeout -k 10 $((SECS + 180)) bash "$RUN" "$SECS"
rc=$?
case $rc in
0)  echo "ok: HTTP/1 parser fuzzed for ${SECS}s, no crash" ;;
77) echo "SKIP: test/fuzz/run.sh could not run here (clang or libFuzzer missing)" ;;
124) echo "FAIL: test/fuzz/run.sh did not finish within $((SECS + 180))s" ;;
*)  echo "FAIL: test/fuzz/run.sh exited $rc (a crash or a build error, see above)" ;;
esac
exit $rc
