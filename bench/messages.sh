#!/usr/bin/env bash
# bench/messages.sh: the message path. bench/apps/messages runs a ring of
# MSG_RING members passing one token MSG_LAPS times (1,000 x 1,000: a
# million messages) and MSG_ROUNDS ping-pong round trips (1,000,000), each
# on one shard and on two; messages per second are timed inside the
# runtime, first send to last receive. Baselines in the same run: Erlang
# (bench/erlang/msg.erl, erl from Debian's erlang-base, one scheduler and
# two, +sbwt none as in the issue's figures) when installed, and Lua
# itself (two coroutines handing a counter back and forth in one state:
# the interpreter's floor for a message that crosses no process). Prints
# each figure and its ratio to the Erlang one. Measures, never asserts;
# exit 77 when build/wippy is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
RING=${MSG_RING:-1000}
LAPS=${MSG_LAPS:-1000}
ROUNDS=${MSG_ROUNDS:-1000000}
[ -x "$WIPPY" ] || { echo "messages: $WIPPY missing; skipped"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp -r "$ROOT/bench/apps/messages" "$TMP/app"

# wippy SHARDS ARGS... -> msgs/s
wippy() {
	local sh=$1
	shift
	(cd "$TMP/app" && timeout 300 "$WIPPY" run --shards "$sh" -x app:terminal/app:driver "$@" \
		</dev/null 2>"$TMP/err") | awk '{print $4}'
}

ERL=
if command -v erlc >/dev/null && command -v erl >/dev/null; then
	(cd "$TMP" && erlc "$ROOT/bench/erlang/msg.erl" 2>"$TMP/erlc.err") && ERL=1 || cat "$TMP/erlc.err"
fi
# erlang SCHEDULERS ARGS... -> msgs/s
erlang() {
	local sch=$1
	shift
	(cd "$TMP" && timeout 300 erl -noshell +S "$sch:$sch" +sbwt none -pa "$TMP" \
		-run msg main "$@" 2>/dev/null) | awk '{print $4}'
}

LUA=$(command -v lua5.4 || true)
lua_floor() {
	"$LUA" -e '
	local n = '"$ROUNDS"' * 2
	local co = coroutine.wrap(function(c) while true do c = coroutine.yield(c - 1) end end)
	local c, t0 = n, os.clock()
	while c > 0 do c = co(c) - 1 end
	local s = os.clock() - t0
	print(string.format("%.0f", n / s))'
}

ratio() { # a b -> a/b with two decimals, or "-"
	if [ -n "$2" ] && [ "$2" != 0 ] && [ -n "$1" ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
	else
		echo "-"
	fi
}

printf '%-22s %12s %12s %8s\n' workload "wippy msg/s" "erlang msg/s" ratio
for sh in 1 2; do
	w=$(wippy "$sh" ring "$RING" "$LAPS")
	e=; [ -n "$ERL" ] && e=$(erlang "$sh" ring "$RING" "$LAPS")
	printf '%-22s %12s %12s %8s\n' "ring ${RING}x${LAPS}, $sh shard" "$w" "${e:--}" "$(ratio "$w" "$e")"
	w=$(wippy "$sh" pingpong "$ROUNDS")
	e=; [ -n "$ERL" ] && e=$(erlang "$sh" pingpong "$ROUNDS")
	printf '%-22s %12s %12s %8s\n' "ping-pong $ROUNDS, $sh shard" "$w" "${e:--}" "$(ratio "$w" "$e")"
done
[ -n "$ERL" ] || echo "messages: erl/erlc not installed (erlang-base): no Erlang baseline"
[ -n "$LUA" ] && echo "messages: Lua floor (two coroutines in one state): $(lua_floor) hand-offs/s"
exit 0
