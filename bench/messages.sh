#!/usr/bin/env bash
# bench/messages.sh: the message path. bench/apps/messages runs a ring of
# MSG_RING members passing one token MSG_LAPS times (1,000 x 1,000: a
# million messages) and MSG_ROUNDS ping-pong round trips (1,000,000), each
# on one shard and on two; messages per second are timed inside the
# runtime, first send to last receive. Baselines in the same run: Erlang
# (bench/erlang/msg.erl, erl from Debian's erlang-base, one scheduler and
# two, +sbwt none as in the issue's figures) when installed, and Lua
# itself, twice: two coroutines handing a counter back and forth in one
# state (the interpreter's floor for a switch that carries no message),
# and the API floor: the same ring and ping-pong as coroutines of one
# state, where each hop makes what the API hands a receiver (a message
# object and, from its :payload(), a payload object, each a table with a
# metatable) and calls :payload():data() on it, with no mailbox, no
# scheduler, no copy and no per-process heap. No runtime that gives each
# received message to Lua as an object can pass that floor, so wippy's
# figures are also given as a fraction of it. Prints each figure and its
# ratio to the Erlang one. Measures, never asserts; exit 77 when
# build/wippy is missing.
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

# api_floor ring N LAPS | api_floor pingpong ROUNDS -> msgs/s
api_floor() {
	"$LUA" - "$@" <<'LUA'
local mode, a, b = ...
local n, total
if mode == "ring" then
	n, total = tonumber(a), tonumber(a) * tonumber(b)
else
	n, total = 2, 2 * tonumber(a)
end
local Pl = {}
Pl.__index = { data = function(p) return p.v end }
local Msg = {}
Msg.__index = {
	payload = function(m) return setmetatable({ v = m.d }, Pl) end,
	topic = function(m) return m.t end,
}
local cos = {}
for i = 1, n do
	cos[i] = coroutine.create(function()
		while true do
			local m = coroutine.yield()
			if m:payload():data() <= 0 then return end
		end
	end)
	coroutine.resume(cos[i])
end
local c, i, t0 = total, 1, os.clock()
while c > 0 do
	c = c - 1
	coroutine.resume(cos[i], setmetatable({ t = "t", f = i, d = c }, Msg))
	i = i % n + 1
end
print(string.format("%.0f", total / (os.clock() - t0)))
LUA
}

ratio() { # a b -> a/b with two decimals, or "-"
	if [ -n "$2" ] && [ "$2" != 0 ] && [ -n "$1" ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
	else
		echo "-"
	fi
}

FR=; FP=; ER1=
if [ -n "$LUA" ]; then
	FR=$(api_floor ring "$RING" "$LAPS")
	FP=$(api_floor pingpong "$ROUNDS")
fi
printf '%-26s %12s %12s %8s %12s %9s\n' workload "wippy msg/s" "erlang msg/s" ratio \
	"floor msg/s" "of floor"
for sh in 1 2; do
	w=$(wippy "$sh" ring "$RING" "$LAPS")
	e=; [ -n "$ERL" ] && e=$(erlang "$sh" ring "$RING" "$LAPS")
	[ "$sh" = 1 ] && ER1=$e
	printf '%-26s %12s %12s %8s %12s %9s\n' "ring ${RING}x${LAPS}, $sh shard" "$w" "${e:--}" \
		"$(ratio "$w" "$e")" "${FR:--}" "$(ratio "$w" "$FR")"
	w=$(wippy "$sh" pingpong "$ROUNDS")
	e=; [ -n "$ERL" ] && e=$(erlang "$sh" pingpong "$ROUNDS")
	printf '%-26s %12s %12s %8s %12s %9s\n' "ping-pong $ROUNDS, $sh shard" "$w" "${e:--}" \
		"$(ratio "$w" "$e")" "${FP:--}" "$(ratio "$w" "$FP")"
done
[ -n "$FR" ] && echo "messages: API floor (coroutines of one state, a message and a payload object per hop): ring $FR, ping-pong $FP msgs/s; erlang/floor ring (1 scheduler) $(ratio "${ER1:-}" "$FR")"
[ -n "$ERL" ] || echo "messages: erl/erlc not installed (erlang-base): no Erlang baseline"
[ -n "$LUA" ] && echo "messages: Lua floor (two coroutines in one state): $(lua_floor) hand-offs/s"
exit 0
