#!/usr/bin/env bash
# bench/run.sh: run every benchmark in turn and show everything it prints.
#
# Benchmarks are the programs $BUILD/bench/<name> (built from bench/<name>.c
# by `make bench`) and the scripts bench/<name>.sh other than this one,
# each run from the repository root under a timeout, with a header naming
# it. Benchmarks measure and never assert: slow numbers never fail the run.
# What fails it (exit 1) is a benchmark that crashes, exits non-zero or
# times out; it is reported as ERROR and the others still run.
#
# A benchmark that cannot run here (a tool such as nginx or wrk is missing,
# the kernel lacks a feature) prints why and exits 77: reported as SKIP.
#
#   BUILD=build bash bench/run.sh           every benchmark (what make bench does)
#   bash bench/run.sh wake mass_spawn       only these, by name
#   BENCH_TIMEOUT=600 bash bench/run.sh     per-benchmark limit in seconds
#
# Output also goes to $BUILD/bench-logs/<name>.log.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
TIMEOUT=${BENCH_TIMEOUT:-300}
LOGS=$BUILD/bench-logs
mkdir -p "$LOGS"
# Absolute paths for the scripts, which may change directory.
case $BUILD in /*) ABS_BUILD=$BUILD ;; *) ABS_BUILD=$ROOT/$BUILD ;; esac
export BUILD=$ABS_BUILD
export WIPPY=${WIPPY:-$ABS_BUILD/wippy}

ran=0; skipped=0; errors=(); only=" $* "

wanted() { [ "$only" = "  " ] || [[ $only == *" $1 "* ]]; }

run_one() { # name, command...
	local name=$1; shift
	local log=$LOGS/$name.log t0 ms rc
	wanted "$name" || return 0
	echo
	echo "==== $name ===================================================="
	t0=$(date +%s%N)
	timeout -k 10 "$TIMEOUT" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	case $rc in
	0)   ran=$((ran + 1))
	     echo "---- $name: done in $((ms / 1000)).$(printf %03d $((ms % 1000)))s" ;;
	77)  skipped=$((skipped + 1))
	     echo "---- $name: SKIP" ;;
	124) errors+=("$name")
	     echo "---- $name: ERROR: timed out after ${TIMEOUT}s" ;;
	*)   errors+=("$name")
	     if [ "$rc" -gt 128 ]; then
		echo "---- $name: ERROR: killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
	     else
		echo "---- $name: ERROR: exit code $rc"
	     fi ;;
	esac
}

echo "# benchmarks: $(nproc) cpus, $(uname -sr), build $BUILD"
if [ ! -d "$BUILD/bench" ]; then
	echo "# no $BUILD/bench: run 'make bench' to build the benchmark programs"
fi
# Programs: only those whose source still exists (a stale binary of a
# removed benchmark is not run).
for b in $(find "$BUILD/bench" -maxdepth 1 -type f -executable 2>/dev/null | sort); do
	name=$(basename "$b")
	if [ ! -f "bench/$name.c" ]; then
		wanted "$name" && echo "# $name: no bench/$name.c, stale binary not run"
		continue
	fi
	run_one "$name" "$b"
done
for s in bench/*.sh; do
	[ -f "$s" ] || continue
	name=$(basename "$s" .sh)
	[ "$name" = run ] && continue
	run_one "$name" bash "$s"
done
# Benchmarks named on the command line that do not exist.
for n in "$@"; do
	if [ ! -x "$BUILD/bench/$n" ] && [ ! -f "bench/$n.sh" ]; then
		echo "# $n: no such benchmark (neither $BUILD/bench/$n nor bench/$n.sh)"
		errors+=("$n")
	fi
done

echo
echo "# $ran ran, $skipped skipped, ${#errors[@]} errors${errors:+: ${errors[*]}}"
[ ${#errors[@]} -eq 0 ]
