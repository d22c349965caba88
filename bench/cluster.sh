#!/usr/bin/env bash
# bench/cluster.sh: messages between two nodes on loopback. Node A (wippy
# --node A) runs bench/apps/cluster's echo process; node B runs its driver:
# CL_ROUNDS timed ping-pong round trips (round trips/s, p50 and p99 in
# microseconds) and a one-way stream of CL_STREAM messages (msgs/s), both
# through a nats-server with JetStream started here (free port, temp dir).
# Baseline in the same run: two Erlang nodes connected by distribution
# (erl -sname, bench/erlang/dist.erl) with their own epmd on a free port,
# the same two workloads; and the transport's own floor on the same
# nats-server: build/bench/nats_raw, two bare libnats connections passing
# one message back and forth (from `make bench`; missing: not shown).
# Measures, never asserts; exit 77 when build/wippy or nats-server is
# missing (Erlang missing: wippy figures only).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
ROUNDS=${CL_ROUNDS:-20000}
STREAM=${CL_STREAM:-200000}
[ -x "$WIPPY" ] || { echo "cluster: $WIPPY missing; skipped"; exit 77; }
command -v nats-server >/dev/null || { echo "cluster: nats-server missing; skipped"; exit 77; }
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

PORT=$(free_port)
mkdir -p "$TMP/js"
nats-server -js -sd "$TMP/js" -a 127.0.0.1 -p "$PORT" >"$TMP/nats.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	sleep 0.1
done
cp -r "$ROOT/bench/apps/cluster" "$TMP/app"
(cd "$TMP/app" && exec "$WIPPY" run --node A --cluster "nats://127.0.0.1:$PORT" -x app:echo \
	>"$TMP/a.out" 2>"$TMP/a.err") &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^pid ' "$TMP/a.out" 2>/dev/null && break; sleep 0.1; done
APID=$(sed -n 's/^pid //p' "$TMP/a.out")
[ -n "$APID" ] || { echo "cluster: node A did not start"; cat "$TMP/a.err"; exit 1; }
(cd "$TMP/app" && timeout 300 "$WIPPY" run --node B --cluster "nats://127.0.0.1:$PORT" \
	-x app:driver "$APID" "$ROUNDS" "$STREAM" >"$TMP/b.out" 2>"$TMP/b.err") ||
	{ echo "cluster: the driver failed"; cat "$TMP/b.err"; exit 1; }
RAW=
if [ -x "$BUILD/bench/nats_raw" ]; then
	"$BUILD/bench/nats_raw" "nats://127.0.0.1:$PORT" "$ROUNDS" >"$TMP/raw.out" 2>"$TMP/raw.err" && RAW=1 ||
		{ echo "cluster: nats_raw failed"; cat "$TMP/raw.err"; }
fi

ERL=
if command -v erlc >/dev/null && command -v erl >/dev/null && command -v epmd >/dev/null; then
	if (cd "$TMP" && erlc "$ROOT/bench/erlang/dist.erl" 2>"$TMP/erlc.err"); then
		EPORT=$(free_port)
		export ERL_EPMD_PORT=$EPORT
		epmd -port "$EPORT" >/dev/null 2>&1 &
		PIDS+=($!)
		sleep 0.3
		HOST=$(hostname -s)
		A=wippya$$ B=wippyb$$
		erl -sname "$A" -noshell -start_epmd false -pa "$TMP" -s dist echo >/dev/null 2>&1 &
		PIDS+=($!)
		sleep 1
		timeout 60 erl -sname "$B" -noshell -start_epmd false -pa "$TMP" \
			-run dist main "$A@$HOST" "$ROUNDS" "$STREAM" >"$TMP/erl.out" 2>&1 && ERL=1 ||
			{ echo "cluster: the Erlang baseline failed"; cat "$TMP/erl.out"; }
	else
		cat "$TMP/erlc.err"
	fi
fi

field() { awk -v m="$1" -v f="$2" '$1 == m { print $f }' "$3"; }
printf '%-34s %12s %12s %8s\n' workload wippy erlang ratio
row() { # label mode field
	local w e r=-
	w=$(field "$2" "$3" "$TMP/b.out")
	e=$([ -n "$ERL" ] && field "$2" "$3" "$TMP/erl.out")
	[ -n "$e" ] && [ -n "$w" ] && r=$(awk -v a="$w" -v b="$e" 'BEGIN { printf "%.2fx", a / b }')
	printf '%-34s %12s %12s %8s\n' "$1" "${w:--}" "${e:--}" "$r"
}
row "ping-pong $ROUNDS, round trips/s" pingpong 4
row "ping-pong p50 latency (us)" pingpong 5
row "ping-pong p99 latency (us)" pingpong 6
row "stream $STREAM, msgs/s" stream 4
if [ -n "$RAW" ]; then
	# raw pingpong N SECONDS RATE P50 P99: the floor any node pays per
	# round trip through this server.
	raw=$(awk '$1 == "raw" { print $5, $6, $7 }' "$TMP/raw.out")
	w=$(field pingpong 4 "$TMP/b.out")
	set -- $raw
	printf '%-34s %12s %12s %8s
' "ping-pong vs raw libnats, rt/s" "${w:--}" "$1" \
		"$(awk -v a="${w:-0}" -v b="$1" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')"
	printf '%-34s %12s\n' "raw libnats p50 / p99 (us)" "$2 / $3"
fi
