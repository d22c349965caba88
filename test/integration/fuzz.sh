#!/usr/bin/env bash
# test/integration/fuzz.sh: the libFuzzer drivers (test/fuzz/run.sh) for a
# bounded time each as part of `make test`, one after the other: the
# HTTP/1 request parser (HTTP_FUZZ_SECONDS, default 45), the typed-Lua
# eraser (ERASE_FUZZ_SECONDS, 20), the payload codec (PAYLOAD_FUZZ_SECONDS,
# 20), the JSON codec (JSON_FUZZ_SECONDS, 20) and the registry loader
# (REGISTRY_FUZZ_SECONDS, 20): 125 s of fuzzing plus the builds, so the
# whole of `make test` stays under three minutes of it. `make fuzz` runs
# each longer (FUZZ_SECONDS).
#
# test/fuzz/run.sh builds each driver with clang
# (-fsanitize=fuzzer,address,undefined) and runs it on a copy of its seed
# corpus. Its exit code passes through: 0 no crash, 1 a crash or a build
# error (the crash input is kept, see below), 77 clang or libFuzzer missing
# (reported as a skip). Each test run uses its own scratch FUZZ_DIR per
# target, so parallel runs do not share a corpus.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

RUN=$LIB_ROOT/test/fuzz/run.sh
[ -f "$RUN" ] || die "missing $RUN"
lib_tmpdir
# A fixed seed: this run replays the mutations the last one made, so a
# green suite stays green until the code changes; new ground is for
# `make fuzz`, which leaves the seed random.
export FUZZ_SEED=${FUZZ_SEED:-1}

# A crash input is worth keeping: copy it out before the cleanup.
keep_crashes() {
	local f t
	for t in http1 erase payload json registry; do
		for f in "$TMP/$t"/crash-* "$TMP/$t"/leak-* "$TMP/$t"/timeout-* "$TMP/$t"/oom-*; do
			[ -e "$f" ] || continue
			mkdir -p "/tmp/wippy-fuzz-$t-crashes"
			cp "$f" "/tmp/wippy-fuzz-$t-crashes/"
			echo "# kept $(basename "$f") in /tmp/wippy-fuzz-$t-crashes/"
		done
	done
	lib_cleanup
}
trap keep_crashes EXIT

rc=0
for spec in "http1:${HTTP_FUZZ_SECONDS:-45}:HTTP/1 parser" \
	"erase:${ERASE_FUZZ_SECONDS:-20}:typed-Lua eraser" \
	"payload:${PAYLOAD_FUZZ_SECONDS:-20}:payload codec" \
	"json:${JSON_FUZZ_SECONDS:-20}:JSON codec" \
	"registry:${REGISTRY_FUZZ_SECONDS:-20}:registry loader"; do
	target=${spec%%:*} rest=${spec#*:}
	secs=${rest%%:*} what=${rest#*:}
	note "test/fuzz/run.sh $secs $target (FUZZ_DIR=$TMP/$target)"
	# The fuzzer's own limit plus time to build; bounded independently of it.
	FUZZ_DIR=$TMP/$target timeout -k 10 $((secs + 180)) bash "$RUN" "$secs" "$target"
	r=$?
	case $r in
	0)   echo "ok: $what fuzzed for ${secs}s, no crash" ;;
	77)  echo "SKIP: test/fuzz/run.sh could not run here (clang or libFuzzer missing)"; exit 77 ;;
	124) echo "FAIL: test/fuzz/run.sh $target did not finish within $((secs + 180))s"; rc=1 ;;
	*)   echo "FAIL: test/fuzz/run.sh $target exited $r (a crash or a build error, see above)"; rc=1 ;;
	esac
done
exit $rc
