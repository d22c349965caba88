#!/usr/bin/env bash
# test/integration/http_limits.sh: the HTTP server keeps its descriptors
# under control whatever the clients do (issue 11, "Connection limits").
#
# Four runs of the HTTP fixture (test/fixtures/http/app), each with the
# timeouts it needs written into its copy, against a small client
# ($TMP/conns.py, below) that holds many connections at once:
#
#   cap      `ulimit -n 160`, no http.max_connections: the cap derived from
#            the fd limit ((160 - 64 - 10) / 2 shards = 43 per shard) holds.
#            Of 200 held connections at most 2 x 43 stay open, every other
#            one is answered "503" with "Connection: close" and closed (none
#            reset or left unanswered), a curl meanwhile gets the 503, the
#            fd count stays under the cap, and once the clients leave a GET
#            is answered 200 again.
#   emfile   `ulimit -n 96` with http.max_connections: 100000, so the
#            descriptor table does fill: while 200 clients wait, the runtime
#            uses under MAX_TICKS of CPU in 2 s (a re-armed accept failing
#            with EMFILE at once used a third of a core), and once they
#            leave it accepts again.
#   idle     idle timeout 1 s: 4000 connections (half after one keep-alive
#            GET, half having sent nothing) are all closed by the server
#            (EOF at the client) and the fd count comes back to its start.
#   stall    write timeout 1 s: 12 clients ask for a 6 MB body through a
#            4 KB receive window and never read; with the clients still
#            holding their sockets, the server's fds come back to the start.
#
# Clients that leave mid-request or mid-response (fd count and RSS flat over
# tens of thousands of them) are test/integration/http_leak.sh's mix
# (kinds cut, reset, abort and unread of test/tools/httpc.py).
# Bounds are functional (counts, fds, CPU ticks over seconds), not latency.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SHARDS=2
START_WAIT=15
SETTLE_WAIT=15
STOP_WAIT=10
FD_SLACK=2
MAX_TICKS=20   # clock ticks (1/100 s) of CPU in 2 s with the table full

lib_require_wippy
command -v python3 >/dev/null || skip "python3 is not installed"
command -v curl >/dev/null || skip "curl is not installed"
lib_tmpdir
ERR=$TMP/stderr

fail() {
	show "wippy run stderr" "$ERR"
	[ -f "$TMP/conns.out" ] && show "conns.py" "$TMP/conns.out"
	die "$*"
}

cat >"$TMP/conns.py" <<'EOF'
"""conns.py PORT N MODE HOLD: hold N connections to 127.0.0.1:PORT.

MODE idle: connect only. keepalive: one GET /value answered 200, then
idle. mixed: half keepalive, half idle. stall: GET /big?n=6000000 (past the 4 MB a socket may buffer) with a
4 KB receive window, never read. After opening them all (and 0.5 s for
the server to answer), print one line "ready open=A refused=B closed=C
reset=D other=E" (refused: a whole 503 with Connection: close, then EOF),
then: MODE stall or HOLD > 0: sleep HOLD seconds; otherwise wait up to 30 s
for every open connection to see EOF and print "eof K of N".
"""
import selectors, socket, sys, time

port, n, mode, hold = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
socks, data = [], {}
for i in range(n):
    s = socket.socket()
    if mode == "stall":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    socks.append(s)
    data[s] = b""
    if mode == "keepalive" or (mode == "mixed" and i % 2 == 0):
        s.sendall(b"GET /value HTTP/1.1\r\nHost: t\r\n\r\n")
    elif mode == "stall":
        s.sendall(b"GET /big?n=6000000 HTTP/1.1\r\nHost: t\r\n\r\n")
if mode != "stall":
    # Read the answers (200s, or 503s past the cap) for 0.5 s.
    for s in socks:
        s.setblocking(False)
    state = {}
    end = time.monotonic() + 0.5
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    while time.monotonic() < end:
        for key, _ in sel.select(0.05):
            s = key.fileobj
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                state[s] = "reset"
                sel.unregister(s)
                continue
            if not b:
                state[s] = "eof"
                sel.unregister(s)
            else:
                data[s] += b
    count = {"open": 0, "refused": 0, "closed": 0, "reset": 0, "other": 0}
    for s in socks:
        d, st = data[s], state.get(s, "open")
        if st == "eof" and d.startswith(b"HTTP/1.1 503") and b"\r\nConnection: close\r\n" in d:
            count["refused"] += 1
        elif st == "eof":
            count["closed"] += 1
        elif st == "reset":
            count["reset"] += 1
        elif d == b"" or d.startswith(b"HTTP/1.1 200"):
            count["open"] += 1
        else:
            count["other"] += 1
    print("ready " + " ".join("%s=%d" % kv for kv in count.items()), flush=True)
else:
    print("ready open=%d" % n, flush=True)
if mode == "stall" or hold > 0:
    time.sleep(hold)
    sys.exit(0)
left = [s for s in socks if state.get(s, "open") == "open"]
for s in left:
    s.setblocking(True)
    s.settimeout(30)
eof, t0 = 0, time.monotonic()
sel = selectors.DefaultSelector()
for s in left:
    sel.register(s, selectors.EVENT_READ)
pending = len(left)
while pending and time.monotonic() < t0 + 30:
    for key, _ in sel.select(1):
        s = key.fileobj
        try:
            b = s.recv(65536)
        except OSError:
            b = b""
        if not b:
            eof += 1
            pending -= 1
            sel.unregister(s)
print("eof %d of %d in %.1fs" % (eof, len(left), time.monotonic() - t0), flush=True)
EOF

nfds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
fds_back() { [ "$(nfds)" -le $((FD0 + FD_SLACK)) ]; }
ticks() { sed 's/.*) //' "/proc/$PID/stat" | awk '{ print $12 + $13 }'; }
ready() { grep -q '^ready' "$TMP/conns.out"; }

# start NOFILE READ WRITE IDLE [CONF]: run the fixture under `ulimit -n
# NOFILE` with those timeouts (and CONF as its .wippy.yaml); sets PID, PORT,
# FD0, CAP (the per-shard cap it logged).
start() {
	local nofile=$1 rd=$2 wr=$3 idle=$4 conf=${5:-} app=$TMP/app rc=0
	for try in 1 2 3; do
		rm -rf "$app"
		lib_copy_app "$LIB_ROOT/test/fixtures/http/app" "$app"
		PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		sed -i -e "s/__PORT__/$PORT/" -e "s/^\( *read:\) [0-9]*s/\1 $rd/" \
			-e "s/^\( *write:\) [0-9]*s/\1 $wr/" -e "s/^\( *idle:\) [0-9]*s/\1 $idle/" \
			"$app/src/_index.yaml"
		[ -z "$conf" ] || printf '%s\n' "$conf" >"$app/.wippy.yaml"
		(cd "$app" && ulimit -n "$nofile" && exec env --default-signal=INT "$WIPPY" run --shards $SHARDS \
			</dev/null >"$TMP/stdout" 2>"$ERR") &
		PID=$!
		lib_track "$PID"
		rc=0
		wait_for_line "$START_WAIT" "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || rc=$?
		[ "$rc" -eq 0 ] && break
		[ "$rc" -eq 2 ] && grep -q "cannot listen" "$ERR" && continue
		fail "wippy run did not report listening on port $PORT within ${START_WAIT}s"
	done
	[ "$rc" -eq 0 ] || fail "no free port after 3 tries"
	CAP=$(sed -n 's/.*up to \([0-9]*\) connections per shard.*/\1/p' "$ERR" | head -n1)
	[ -n "$CAP" ] || fail "the listening line does not give the connection cap"
	sleep 0.2
	FD0=$(nfds)
}

# conns N MODE HOLD: run conns.py in the background (CPID), wait for "ready".
conns() {
	rm -f "$TMP/conns.out"
	python3 "$TMP/conns.py" "$PORT" "$1" "$2" "$3" >"$TMP/conns.out" 2>&1 &
	CPID=$!
	lib_track "$CPID"
	wait_for 60 "$CPID" "conns.py ready" ready || fail "conns.py did not get its $1 connections open"
}

field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$TMP/conns.out"; }

stop() {
	kill -INT "$PID"
	wait_exit "$STOP_WAIT" "$PID"
	[ "$EXIT_RC" != timeout ] || fail "still running ${STOP_WAIT}s after SIGINT"
	check_no_sanitizer "wippy run stderr" "$ERR"
	check_exit "wippy run stopped by SIGINT" "$EXIT_RC" 0
}

get200() {
	local code
	code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/value") ||
		fail "$1: curl failed"
	[ "$code" = 200 ] || fail "$1: GET /value answered $code, expected 200"
}

# ---- cap: the default derived from the fd limit ----
N=200
start 160 10s 20s 30s
want=$(( (160 - 64 - 160 / 16) / SHARDS ))
[ "$CAP" -eq "$want" ] || fail "cap: $CAP connections per shard under ulimit -n 160, expected $want"
conns $N idle 30
open=$(field open) refused=$(field refused)
note "cap $CAP per shard: $(head -n1 "$TMP/conns.out"); wippy holds $(nfds) fds ($FD0 at the start)"
[ "$open" -le $((SHARDS * CAP)) ] || fail "cap: $open connections open, the cap is $SHARDS x $CAP"
[ "$((open + refused))" -eq $N ] || fail "cap: of $N connections $open open and $refused answered 503; the rest closed, reset or wrong"
[ "$(nfds)" -le $((FD0 + SHARDS * CAP + FD_SLACK)) ] || fail "cap: $(nfds) fds open past the cap"
curl -sS -i --max-time 10 "http://127.0.0.1:$PORT/value" >"$TMP/busy" || fail "cap: curl failed at the cap"
grep -q "^HTTP/1.1 503" "$TMP/busy" && grep -qi "^connection: close" "$TMP/busy" ||
	{ show "answer at the cap" "$TMP/busy"; fail "cap: a GET at the cap was not answered 503 with Connection: close"; }
expect_fixed "wippy run stderr" "$ERR" "its cap (http.max_connections)"
kill "$CPID" 2>/dev/null || true
wait "$CPID" 2>/dev/null || true
wait_for "$SETTLE_WAIT" "$PID" "fds back to $FD0" fds_back || fail "cap: $(nfds) fds after the clients left, $FD0 before"
get200 "cap, after the clients left"
stop
echo "ok: cap $CAP per shard under ulimit -n 160: $open open, $refused answered 503 and closed"

# ---- emfile: a cap above the fd limit, the table fills, accept does not spin ----
start 96 10s 20s 30s "http: {max_connections: 100000}"
conns $N idle 60
sleep 0.5
t0=$(ticks)
sleep 2
used=$(( $(ticks) - t0 ))
note "emfile: $(nfds) fds open (ulimit -n 96), $used ticks of CPU in 2 s"
[ "$(nfds)" -ge 90 ] || fail "emfile: only $(nfds) fds open: the descriptor table did not fill"
[ "$used" -le $MAX_TICKS ] || fail "emfile: $used ticks of CPU in 2 s with the descriptor table full (bound $MAX_TICKS): accept spins"
kill "$CPID" 2>/dev/null || true
wait "$CPID" 2>/dev/null || true
wait_for "$SETTLE_WAIT" "$PID" "fds back to $FD0" fds_back || fail "emfile: $(nfds) fds after the clients left, $FD0 before"
get200 "emfile, after the table emptied"
stop
echo "ok: accept at a full descriptor table: $used ticks of CPU in 2 s, accepting again after"

# ---- idle: thousands of idle connections closed by the idle timeout ----
N=4000
start 20000 10s 20s 1s
conns $N mixed 0
note "idle: $(head -n1 "$TMP/conns.out"); wippy holds $(nfds) fds"
wait "$CPID" || true
tail -n1 "$TMP/conns.out" | grep -q "^eof" || fail "idle: conns.py did not finish"
# Some may be closed before all are open (1 s is short): those count too.
eof=$(sed -n 's/^eof \([0-9]*\) of .*/\1/p' "$TMP/conns.out")
closed=$(field closed)
[ "$(field reset)" -eq 0 ] && [ "$(field other)" -eq 0 ] && [ "$(field refused)" -eq 0 ] ||
	fail "idle: connections reset, refused or wrongly answered: $(head -n1 "$TMP/conns.out")"
[ "$((closed + eof))" -eq $N ] || fail "idle: the server closed $((closed + eof)) of $N idle connections"
wait_for "$SETTLE_WAIT" "$PID" "fds back to $FD0" fds_back || fail "idle: $(nfds) fds after the idle timeout, $FD0 before"
get200 "idle, after the timeout"
stop
echo "ok: $N idle connections closed by the 1 s idle timeout, fds back to $FD0"

# ---- stall: clients that never read are dropped by the write timeout ----
N=12
start 20000 10s 1s 30s
conns $N stall 60
wait_for "$SETTLE_WAIT" "$PID" "fds back to $FD0" fds_back ||
	fail "stall: $(nfds) fds with $N clients not reading, $FD0 before (write timeout 1 s)"
lib_alive "$CPID" || fail "stall: the clients left before the check"
kill "$CPID" 2>/dev/null || true
wait "$CPID" 2>/dev/null || true
get200 "stall, after the write timeouts"
stop
echo "ok: $N clients that never read their answer dropped by the write timeout"
