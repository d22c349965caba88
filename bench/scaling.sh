#!/usr/bin/env bash
# bench/scaling.sh: spawn at scale. bench/apps/scaling's spawner starts N
# monitored workers, each arming a ticker of its own interval in
# [SCALING_MIN_MS, SCALING_MAX_MS] (60-120 s by default, so that no tick
# lands while the start is measured) and telling the spawner it runs.
# For each N in $SCALING_NS and each shard count in $SCALING_SHARDS:
#   spawn     the spawner's loop, first spawn to last
#   running   first spawn to the last worker's "up" (every worker has run
#             its first step: state, code, ticker, select cases)
#   cpu       utime+stime of the runtime when the last "up" arrived, less
#             that of the same run with N = 0, per worker
#   bytes     VmRSS at that moment less that of N = 0, per worker
# and whether the cost per worker stays flat: running and cpu per worker
# at each N as a ratio to the smallest N.
#
# Baseline in the same run: Erlang (bench/erlang/scaling.erl, the same
# workload with erlang:send_after timers; `+S K:K +sbwt none` for K
# shards) when erl is installed, with the same figures; each wippy line
# gives its ratio to Erlang's running time (< 1: faster). SCALING_ERLANG=0
# leaves it out (an A/B of two wippy builds: WIPPY=path).
#
# 1,000,000 workers need about 14 GB of memory; the default stops at
# 100,000:   SCALING_NS="10000 100000 1000000" bash bench/scaling.sh
# The run's stop timeout is 60 s: a million workers take longer than the
# command line's default grace of 1 s to end on their CANCEL.
# Measures, never asserts; exits non-zero only when a run fails (no
# "running" line within SCALING_TIMEOUT_S, or a non-zero exit); 77 when
# build/wippy is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
case $WIPPY in /*) ;; *) WIPPY=$PWD/$WIPPY ;; esac
NS=${SCALING_NS:-10000 100000}
SHARDS=${SCALING_SHARDS:-1 2}
LO=${SCALING_MIN_MS:-60000}
HI=${SCALING_MAX_MS:-120000}
TIMEOUT_S=${SCALING_TIMEOUT_S:-120}
[ -x "$WIPPY" ] || { echo "scaling: $WIPPY missing; skipped"; exit 77; }
TMP=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
cp -r "$ROOT/bench/apps/scaling" "$TMP/app"
rm -rf "$TMP/app/.wippy"
CLK_TCK=$(getconf CLK_TCK)
errors=0

ERL=
if [ "${SCALING_ERLANG:-1}" != 0 ] && command -v erlc >/dev/null && command -v erl >/dev/null; then
	(cd "$TMP" && erlc "$ROOT/bench/erlang/scaling.erl" 2>"$TMP/erlc.err") && ERL=1 ||
		cat "$TMP/erlc.err"
fi

cpu_ticks() { sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# measure IMPL SHARDS N: runs one, prints "SPAWN_S RUNNING_S CPU_TICKS
# RSS_KB", read when the "running" line appears (the app then holds 2 s).
measure() {
	local impl=$1 sh=$2 n=$3 out=$TMP/out err=$TMP/err
	: >"$out"
	if [ "$impl" = wippy ]; then
		(cd "$TMP/app" && exec "$WIPPY" run --shards "$sh" --stop-timeout 60s -x app:terminal/app:spawner \
			"$n" "$LO" "$HI" 2 </dev/null >"$out" 2>"$err") &
	else
		(cd "$TMP" && exec erl -noshell +S "$sh:$sh" +sbwt none +P 2000000 -pa "$TMP" \
			-run scaling main "$n" "$LO" "$HI" 2 </dev/null >"$out" 2>"$err") &
	fi
	PID=$!
	local deadline=$(( $(date +%s) + TIMEOUT_S )) cpu= rss=
	while ! grep -q '^running ' "$out"; do
		if ! kill -0 "$PID" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
			echo "scaling: ERROR: $impl N=$n shards=$sh: no running line" >&2
			sed 's/^/    | /' "$out" "$err" | tail -5 >&2
			kill -KILL "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
			return 1
		fi
		sleep 0.01
	done
	cpu=$(cpu_ticks "$PID"); rss=$(rss_kb "$PID")
	wait "$PID"; local rc=$?; PID=
	if [ "$rc" != 0 ]; then
		echo "scaling: ERROR: $impl N=$n shards=$sh: exit code $rc" >&2
		sed 's/^/    | /' "$out" "$err" | tail -5 >&2
		return 1
	fi
	echo "$(awk '/^spawned /{print $3}' "$out") $(awk '/^running /{print $3}' "$out") $cpu $rss"
}

# report IMPL SHARDS N "BASE" "M" "FIRST" ["ERL_RUNNING"]: one line.
report() {
	awk -v impl="$1" -v sh="$2" -v n="$3" -v base="$4" -v m="$5" -v first="$6" \
	    -v erl="${7:-}" -v hz="$CLK_TCK" 'BEGIN {
		split(base, b, " "); split(m, v, " "); split(first, f, " ")
		cpu = (v[3] - b[3]) / hz * 1e6 / n; bytes = (v[4] - b[4]) * 1024 / n
		line = sprintf("scaling %-6s N=%-7d shards=%d spawn %.3f s (%.2f us/proc) running %.3f s (%.2f us/proc) cpu %.2f us/proc rss %.0f bytes/proc",
			impl, n, sh, v[1], v[1] * 1e6 / n, v[2], v[2] * 1e6 / n, cpu, bytes)
		if (f[1] != "") {
			split(f[1], g, ",")  # the first N: running s, cpu us/proc, N
			line = line sprintf(" | vs N=%d: running/proc %.2fx cpu/proc %.2fx",
				g[3], (v[2] / n) / (g[1] / g[3]), g[2] > 0 ? cpu / g[2] : 0)
		}
		if (erl != "" && erl > 0)
			line = line sprintf(" | running vs erlang %.2fx", v[2] / erl)
		print line
		printf "%s,%s,%s\n", v[2], cpu, n > "/dev/stderr"
	}'
}

for sh in $SHARDS; do
	for impl in ${ERL:+erlang} wippy; do
		base=$(measure "$impl" "$sh" 0) || { errors=$((errors + 1)); continue; }
		first=
		for n in $NS; do
			m=$(measure "$impl" "$sh" "$n") || { errors=$((errors + 1)); continue; }
			erl_run=
			[ "$impl" = wippy ] && erl_run=$(cat "$TMP/erl.$sh.$n" 2>/dev/null)
			[ "$impl" = erlang ] && echo "$m" | awk '{print $2}' >"$TMP/erl.$sh.$n"
			line=$(report "$impl" "$sh" "$n" "$base" "$m" "$first" "$erl_run" 2>"$TMP/first")
			echo "$line"
			[ -z "$first" ] && first=$(cat "$TMP/first")
		done
	done
done
[ "$errors" -eq 0 ]
