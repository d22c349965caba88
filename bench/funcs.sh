#!/usr/bin/env bash
# bench/funcs.sh: funcs.call round trips per second, against two baselines
# measured in the same run by the same driver process: a plain Lua function
# call, and a message round trip to another process (send, then receive its
# answer). bench/apps/funcs's driver runs FUNCS_N (default 100000) of each
# and prints the time; this script prints rates and the ratios. A funcs
# call crosses by value twice (arguments in, result out) and runs on a
# pooled state of the function on the caller's shard, so it should cost
# about one message round trip, and far more than a Lua call. No
# assertions; exit 77 when build/wippy is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
N=${FUNCS_N:-100000}
[ -x "$WIPPY" ] || { echo "skip: $WIPPY missing"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp -r "$ROOT/bench/apps/funcs" "$TMP/app"
cd "$TMP/app" || exit 1
if ! "$WIPPY" run -x app:terminal/app:driver "$N" </dev/null >"$TMP/out" 2>"$TMP/err"; then
	echo "funcs: ERROR: the driver failed" >&2
	tail -n 5 "$TMP/err" >&2
	exit 1
fi
# print() goes to the log on stderr: "... INFO  NAME N SECONDS  {...}".
awk '
	{ for (i = 1; i + 2 <= NF; i++)
		if ($i == "lua_call" || $i == "funcs_call" || $i == "send_receive") {
			s[$i] = $(i + 2); n = $(i + 1)
		} }
	END {
		if (!("funcs_call" in s) || !("lua_call" in s) || !("send_receive" in s)) {
			print "funcs: ERROR: missing results" > "/dev/stderr"; exit 1
		}
		for (k in s) if (s[k] <= 0) s[k] = 1e-9
		f = n / s["funcs_call"]; l = n / s["lua_call"]; r = n / s["send_receive"]
		printf "funcs N=%d: funcs.call %.0f calls/s; plain Lua call %.0f calls/s (ratio %.4f); process send/receive %.0f round trips/s (ratio %.2f)\n",
			n, f, l, f / l, r, f / r
	}' "$TMP/err"
