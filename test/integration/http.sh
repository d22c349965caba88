#!/usr/bin/env bash
# test/integration/http.sh: the HTTP server end to end, with curl and a raw
# socket client (test/tools/httpc.py) for what curl cannot send.
#
# Three apps run in turn, each from a scratch copy on a free port (the
# copies' YAML gets 127.0.0.1:<port> instead of :8080 / __PORT__):
#   hello-http   GET /hello, HEAD, 404, 405 + Allow, keep-alive (one
#                connection for several URLs), HTTP/1.0, Connection: close
#   http-spawn   POST /api/tasks: 202 with pid/name/status/message and the
#                worker's log lines; 400 for invalid JSON, a missing or an
#                empty name; 100-continue; two POSTs pipelined
#   fixture      test/fixtures/http/app: read timeout 1 s, idle 2 s, head
#                limit 1024 bytes, body limit 4096 bytes. Route params and
#                tails, query, headers, host, remote_addr, bodies
#                (Content-Length, chunked, 100-continue), handlers that
#                raise / write nothing / return a value, every bad-input
#                status (400, 413, 414, 431, 501, 505) with the connection
#                closed, 408 for a slow client, idle keep-alive close,
#                pipelining (in order, also behind a sleeping handler)
# Each app must still answer after its cases and exit 0 on SIGINT.
#
# Each case checks the status, the body and, where it matters, whether the
# connection was closed. Waits are bounded: curl --max-time, httpc.py
# --timeout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
lib_tmpdir
HTTPC=$LIB_ROOT/test/tools/httpc.py
START_WAIT=15   # seconds until "listening on"
STOP_WAIT=10    # seconds from SIGINT to exit
PID=
PORT=
ERR=

# {==== helpers ====}

# free_port: print a TCP port that was free a moment ago.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_app NAME SRC PATTERN: copy the app SRC to $TMP/NAME, replace
# PATTERN (the addr in its YAML) with 127.0.0.1:<free port>, run it and
# wait until it listens. Sets PID, PORT, ERR. Retries with another port if
# the first one was taken meanwhile.
start_app() {
	local name=$1 src=$2 pat=$3 try rc
	for try in 1 2 3; do
		rm -rf "${TMP:?}/$name"
		lib_copy_app "$src" "$TMP/$name"
		PORT=$(free_port)
		sed -i "s/$pat/127.0.0.1:$PORT/" "$TMP/$name/src/_index.yaml"
		grep -qF "127.0.0.1:$PORT" "$TMP/$name/src/_index.yaml" ||
			die "$name: could not set the port in $TMP/$name/src/_index.yaml"
		ERR=$TMP/$name.stderr
		(cd "$TMP/$name" && exec env --default-signal=INT "$WIPPY" run \
			</dev/null >"$TMP/$name.stdout" 2>"$ERR") &
		PID=$!
		lib_track "$PID"
		rc=0
		wait_for_line "$START_WAIT" "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || rc=$?
		if [ "$rc" -eq 0 ]; then
			note "$name: wippy run (pid $PID) listening on port $PORT"
			return 0
		fi
		if [ "$rc" -eq 2 ] && grep -q "cannot listen" "$ERR"; then
			note "$name: port $PORT taken, retrying"
			continue
		fi
		show "$name stderr" "$ERR"
		die "$name: wippy run did not report listening on port $PORT within ${START_WAIT}s"
	done
	die "$name: no free port after 3 tries"
}

# stop_app NAME: SIGINT, exit 0 within STOP_WAIT, no sanitizer report.
stop_app() {
	local name=$1
	lib_alive "$PID" || { show "$name stderr" "$ERR"; die "$name: wippy run died during the test"; }
	kill -INT "$PID"
	wait_exit "$STOP_WAIT" "$PID"
	[ "$EXIT_RC" != timeout ] || { show "$name stderr" "$ERR"; die "$name: still running ${STOP_WAIT}s after SIGINT"; }
	check_no_sanitizer "$name stderr" "$ERR"
	[ "$EXIT_RC" -eq 0 ] || show "$name stderr" "$ERR"
	check_exit "$name: wippy run stopped by SIGINT" "$EXIT_RC" 0
	note "$name: stopped, exit 0"
}

# req NAME CURL-ARGS...: run curl; head to $TMP/NAME.h, body to $TMP/NAME.b,
# -w output to $TMP/NAME.w, verbose trace to $TMP/NAME.v. Sets CODE (the
# last transfer's status; 000 if none).
req() {
	local name=$1 rc=0
	shift
	CASE=$name
	timeout 20 curl -sS -v --max-time 15 -D "$TMP/$name.h" -o "$TMP/$name.b" \
		-w '%{http_code} %{num_connects} %{local_port}\n' "$@" \
		>"$TMP/$name.w" 2>"$TMP/$name.v" || rc=$?
	CODE=$(tail -n1 "$TMP/$name.w" | cut -d' ' -f1)
	[ "$rc" -eq 0 ] || { show "curl trace" "$TMP/$name.v"; die "$name: curl $* failed with exit $rc"; }
}

fail_case() {
	show "$CASE response head" "$TMP/$CASE.h"
	show "$CASE response body" "$TMP/$CASE.b"
	show "wippy stderr" "$ERR"
	die "$CASE: $*"
}

want_code() {
	[ "$CODE" = "$1" ] || fail_case "expected status $1, got $CODE"
}

# want_body TEXT: the body is exactly TEXT.
want_body() {
	[ "$(cat "$TMP/$CASE.b")" = "$1" ] || fail_case "expected body '$1', got '$(head -c 300 "$TMP/$CASE.b")'"
}

# want_in_body TEXT: the body contains TEXT (fixed string).
want_in_body() {
	grep -qF -- "$1" "$TMP/$CASE.b" || fail_case "expected '$1' in the body"
}

# want_header 'Name: value': the (last) head has this header with exactly
# this value (name case-insensitive).
want_header() {
	local name=${1%%:*} value=${1#*: } got
	got=$(tr -d '\r' <"$TMP/$CASE.h" | grep -i "^$name: " | tail -n1 | cut -d' ' -f2-) || true
	[ "$got" = "$value" ] || fail_case "expected header '$name: $value', got '${got:-<none>}'"
}

# multi NAME [HEAD] URL...: one curl run, each URL a transfer of its own
# (--next) sharing curl's connection cache; "HEAD" makes the next URL a
# HEAD request. Bodies are discarded; $TMP/NAME.w gets "status connects
# local_port" per transfer.
multi() {
	local name=$1 rc=0 args=() head=
	shift
	CASE=$name
	for u in "$@"; do
		if [ "$u" = HEAD ]; then head=-I; continue; fi
		[ ${#args[@]} -eq 0 ] || args+=(--next)
		args+=(-sS --max-time 15 -o /dev/null -w '%{http_code} %{num_connects} %{local_port}\n')
		[ -z "$head" ] || args+=(-I)
		args+=("$u")
		head=
	done
	: >"$TMP/$name.h"
	: >"$TMP/$name.b"
	timeout 30 curl -v "${args[@]}" >"$TMP/$name.w" 2>"$TMP/$name.v" || rc=$?
	[ "$rc" -eq 0 ] || { show "curl trace" "$TMP/$name.v"; die "$name: curl failed with exit $rc"; }
}

# want_multi CONNS STATUS...: the transfers of the last multi got these
# statuses over CONNS connections in total.
want_multi() {
	local conns=$1 got
	shift
	got=$(cut -d' ' -f1 "$TMP/$CASE.w" | tr '\n' ' ')
	[ "$got" = "$* " ] || { show "curl trace" "$TMP/$CASE.v"; fail_case "statuses $got, expected $*"; }
	got=$(awk '{ s += $2 } END { print s }' "$TMP/$CASE.w")
	[ "$got" = "$conns" ] || { show "curl trace" "$TMP/$CASE.v"; fail_case "expected $# requests on $conns connection(s), curl made $got connections"; }
}

no_header() {
	! tr -d '\r' <"$TMP/$CASE.h" | grep -qiE "^$1:" || fail_case "did not expect a '$1' header"
}

# raw NAME ARGS...: run httpc.py raw on $PORT into $TMP/NAME.raw.
raw() {
	local name=$1
	shift
	CASE=$name
	timeout 30 python3 "$HTTPC" raw "$PORT" "$@" >"$TMP/$name.raw" 2>&1 ||
		{ show "$name" "$TMP/$name.raw"; die "$name: httpc.py failed"; }
}

fail_raw() {
	show "$CASE (raw client)" "$TMP/$CASE.raw"
	show "wippy stderr" "$ERR"
	die "$CASE: $*"
}

# raw_status N CODE: response N has status CODE.
raw_status() {
	local got
	got=$(awk -v n="$1" '$0 == "== response " n { getline; print $2; exit }' "$TMP/$CASE.raw")
	[ "$got" = "$2" ] || fail_raw "expected response $1 to have status $2, got '${got:-none}'"
}

# raw_count N: exactly N final responses.
raw_count() {
	local got
	got=$(count_regex "$TMP/$CASE.raw" '^== response [0-9]+$')
	[ "$got" -eq "$1" ] || fail_raw "expected $1 response(s), got $got"
}

raw_has() {
	grep -qF -- "$1" "$TMP/$CASE.raw" || fail_raw "expected '$1' in the exchange"
}

raw_closed() {
	grep -qx '== closed' "$TMP/$CASE.raw" || fail_raw "expected the server to close the connection"
	! grep -q '^== trailing' "$TMP/$CASE.raw" || fail_raw "bytes after the last complete response"
}

raw_open() {
	grep -qx '== open' "$TMP/$CASE.raw" || fail_raw "expected the connection to stay open"
}

# raw_elapsed_ge SECS: the exchange took at least SECS (a timeout cannot
# have fired before it was due).
raw_elapsed_ge() {
	awk -v m="$1" '/^== elapsed / { exit !($3 >= m) }' "$TMP/$CASE.raw" ||
		fail_raw "answered after $(awk '/^== elapsed / { print $3 }' "$TMP/$CASE.raw")s, before the ${1}s timeout could fire"
}

# head_no_body NAME PATH: a HEAD of PATH answered 200 with a head and no
# body bytes after it, then a GET on the same connection answered normally.
head_no_body() {
	raw "$1" --responses 1 --linger 0.5 --head "send:HEAD $2 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
	raw_status 1 200
	raw_has 'Content-Length: '
	! grep -q '^== trailing' "$TMP/$1.raw" || fail_raw "bytes after the head of a HEAD response"
	raw_open
}

ok_case() {
	note "ok: $CASE"
}

# {==== hello-http ====}

start_app hello "$LIB_ROOT/examples/hello-http" ':8080'
U=http://127.0.0.1:$PORT

req hello_get "$U/hello"
want_code 200
want_body '{"message":"hello world"}'
want_header 'Content-Type: application/json'
want_header 'Content-Length: 25'
ok_case

req hello_head -I "$U/hello"
want_code 200
want_header 'Content-Length: 25'
head_no_body hello_head_raw /hello
ok_case

req hello_post -X POST -d x "$U/hello"
want_code 405
want_header 'Allow: GET, HEAD'
ok_case

req hello_404 "$U/nope"
want_code 404
req hello_404_prefix "$U/hello/more"
want_code 404
ok_case

# One connection for several URLs, HEAD among them (no body to skip).
multi hello_keepalive "$U/hello" "$U/nope" HEAD "$U/hello" "$U/hello" "$U/hello/x" "$U/hello"
want_multi 1 200 404 200 200 404 200
ok_case

req hello_http10 -0 "$U/hello"
want_code 200
want_body '{"message":"hello world"}'
raw hello_http10_raw 'send:GET /hello HTTP/1.0\r\n\r\n'
raw_count 1
raw_status 1 200
raw_has '{"message":"hello world"}'
raw_closed
raw hello_http10_keep --responses 1 --linger 0.5 'send:GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
raw_status 1 200
raw_has 'Connection: keep-alive'
raw_open
ok_case

req hello_close -H 'Connection: close' "$U/hello"
want_code 200
want_header 'Connection: close'
raw hello_close_raw 'send:GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
raw_count 1
raw_status 1 200
raw_closed
ok_case

req hello_alive "$U/hello"
want_code 200
stop_app hello

# {==== http-spawn ====}

start_app spawn "$LIB_ROOT/examples/http-spawn" ':8080'
U=http://127.0.0.1:$PORT/api/tasks
PIDRE='\{app:processes\|0x[0-9a-fA-F]+\}'

req spawn_ok -H 'Content-Type: application/json' -d '{"name": "generate-report", "duration": 0}' "$U"
want_code 202
want_header 'Content-Type: application/json'
want_in_body '"name":"generate-report"'
want_in_body '"status":"spawned"'
grep -qE "\"pid\":\"$PIDRE\"" "$TMP/spawn_ok.b" || fail_case "no pid of the form {app:processes|0x...}"
pid=$(grep -oE "\"pid\":\"$PIDRE\"" "$TMP/spawn_ok.b" | cut -d'"' -f4)
want_in_body "\"message\":\"Process $pid will run for 0 seconds\""
wait_for_line 10 "$PID" "$ERR" 'step 3/3.*generate-report' ||
	fail_case "the worker $pid did not log \"step 3/3\" within 10s"
for s in 1 2 3; do
	grep -qE "step $s/3 .*\"task\": ?\"generate-report\".*$pid" "$ERR" ||
		fail_case "no \"step $s/3\" line from the worker $pid"
done
ok_case

req spawn_default_duration -d '{"name": "d"}' "$U"
want_code 202
want_in_body 'will run for 3 seconds'
ok_case

req spawn_bad_json -H 'Content-Type: application/json' -d '{"name":' "$U"
want_code 400
want_body '{"error":"invalid JSON body"}'
req spawn_not_object -d '"just a string"' "$U"
want_code 400
req spawn_no_body -X POST "$U"
want_code 400
want_body '{"error":"invalid JSON body"}'
req spawn_missing_name -d '{"duration": 1}' "$U"
want_code 400
want_body '{"error":"name is required"}'
req spawn_empty_name -d '{"name": "", "duration": 1}' "$U"
want_code 400
want_body '{"error":"name is required"}'
req spawn_number_name -d '{"name": 5}' "$U"
want_code 400
want_body '{"error":"name is required"}'
ok_case

req spawn_get "$U"
want_code 405
want_header 'Allow: POST'
req spawn_404 -d '{"name":"x"}' "http://127.0.0.1:$PORT/api/other"
want_code 404
ok_case

# Expect: 100-continue asked for explicitly, and a 1.5 MB body for which
# curl asks on its own (curl 7.x above 1 KB, curl 8 above 1 MB).
pad=$(head -c 3000 /dev/zero | tr '\0' 'x')
printf '{"name": "big", "duration": 0, "pad": "%s"}' "$pad" >"$TMP/big.json"
req spawn_continue -H 'Expect: 100-continue' -H 'Content-Type: application/json' \
	--data-binary "@$TMP/big.json" "$U"
want_code 202
want_in_body '"name":"big"'
grep -q '^> Expect: 100-continue' "$TMP/spawn_continue.v" || fail_case "curl did not send Expect: 100-continue"
grep -q '^< HTTP/1.1 100 Continue' "$TMP/spawn_continue.v" || fail_case "no 100 Continue before the body"
ok_case

pad=$(head -c 1500000 /dev/zero | tr '\0' 'x')
printf '{"name": "huge", "duration": 0, "pad": "%s"}' "$pad" >"$TMP/huge.json"
req spawn_continue_auto -H 'Content-Type: application/json' --data-binary "@$TMP/huge.json" "$U"
want_code 202
want_in_body '"name":"huge"'
if grep -q '^> Expect: 100-continue' "$TMP/spawn_continue_auto.v"; then
	grep -q '^< HTTP/1.1 100 Continue' "$TMP/spawn_continue_auto.v" || fail_case "no 100 Continue before the body"
fi
ok_case

b1='{"name":"p1","duration":0}'
b2='{"name":"p2","duration":0}'
raw spawn_pipelined --responses 2 --linger 0.3 \
	"send:POST /api/tasks HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: ${#b1}\\r\\n\\r\\n${b1}POST /api/tasks HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: ${#b2}\\r\\n\\r\\n${b2}"
raw_status 1 202
raw_status 2 202
first=$(grep -n '"name":"p1"' "$TMP/spawn_pipelined.raw" | cut -d: -f1)
second=$(grep -n '"name":"p2"' "$TMP/spawn_pipelined.raw" | cut -d: -f1)
[ -n "$first" ] && [ -n "$second" ] && [ "$first" -lt "$second" ] ||
	fail_raw "expected the p1 response before the p2 response"
raw_open
ok_case

req spawn_alive -d '{"name": "last", "duration": 0}' "$U"
want_code 202
stop_app spawn

# {==== fixture: params, bodies, handlers, limits, timeouts ====}

start_app fx "$LIB_ROOT/test/fixtures/http/app" '127.0.0.1:__PORT__'
U=http://127.0.0.1:$PORT

req fx_params -H 'X-Test: hi there' "$U/echo/42?q=a%20b&flag&x=1+2&x=3"
want_code 200
want_header 'X-Echo-Id: 42'
want_in_body '"id":"42"'
want_in_body '"params":{"id":"42"}'
want_in_body '"method":"GET"'
want_in_body '"path":"/echo/42"'
want_in_body '"q":"a b"'
want_in_body '"x":"1 2,3"'
want_in_body '"x_test":"hi there"'
want_in_body '"x_test_lower":"hi there"'
want_in_body "\"host\":\"127.0.0.1:$PORT\""
want_in_body '"has_body":false'
want_in_body '"body_len":0'
! grep -qF '"missing"' "$TMP/fx_params.b" || fail_case "req:query(\"missing\") was not nil"
lport=$(cut -d' ' -f3 "$TMP/fx_params.w")
want_in_body "\"remote_addr\":\"127.0.0.1:$lport\""
ok_case

req fx_param_decoded "$U/echo/a%20b"
want_code 200
want_in_body '"id":"a b"'
ok_case

req fx_tail "$U/files/img/a/b/c.png"
want_code 200
want_in_body '"kind":"img"'
want_in_body '"params":{"kind":"img"}'
want_in_body '"rest":"<nil>"'
want_in_body '"path":"/files/img/a/b/c.png"'
req fx_tail_one "$U/files/img/x"
want_code 200
req fx_tail_empty "$U/files/img/"
want_code 200
want_in_body '"kind":"img"'
req fx_tail_none "$U/files"
want_code 404
ok_case

req fx_post -H 'Content-Type: application/json' -d '{"a":1}' "$U/echo/7"
want_code 200
want_in_body '"method":"POST"'
want_in_body '"body":"{\"a\":1}"'
want_in_body '"content_length":7'
want_in_body '"content_type":"application/json"'
want_in_body '"has_body":true'
ok_case

printf 'hello chunked world' >"$TMP/small.txt"
req fx_chunked -H 'Transfer-Encoding: chunked' -H 'Content-Type: text/plain' \
	--data-binary "@$TMP/small.txt" "$U/echo/c"
want_code 200
grep -q '^> Transfer-Encoding: chunked' "$TMP/fx_chunked.v" || fail_case "curl did not send a chunked body"
want_in_body '"body":"hello chunked world"'
want_in_body '"body_len":19'
want_in_body '"has_body":true'
raw fx_chunked_raw --responses 1 'send:POST /echo/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n' \
	'sleep:0.2' 'send:7\r\n chunks\r\n0\r\nTrailer: t\r\n\r\n'
raw_status 1 200
raw_has '"body":"hello chunks"'
ok_case

# 4000 decoded bytes (under max_body 4096) in 2000 chunks whose size lines
# carry 60-byte extensions: 138 KB of framing, past the connection's buffer
# cap (max_header + max_body + 64 KiB). Only the decoded bytes are kept,
# so it is answered, and a pipelined GET behind it is too.
python3 - "$TMP/framed.bin" <<'PY'
import sys
ext = ";x=" + "e" * 57
body = b"".join(b"2" + ext.encode() + b"\r\nab\r\n" for _ in range(2000))
req = (b"POST /echo/framed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       + body + b"0\r\n\r\nGET /echo/after HTTP/1.1\r\nHost: x\r\n\r\n")
open(sys.argv[1], "wb").write(req)
PY
raw fx_chunked_framing --responses 2 "sendfile:$TMP/framed.bin"
raw_status 1 200
raw_has '"body_len":4000'
raw_status 2 200
raw_has "\"id\":\"after\""
raw_open
ok_case

# 3000 bytes: under the 4096 limit.
head -c 3000 /dev/zero | tr '\0' 'y' >"$TMP/3k.txt"
req fx_continue -H 'Expect: 100-continue' --data-binary "@$TMP/3k.txt" "$U/echo/big"
want_code 200
grep -q '^< HTTP/1.1 100 Continue' "$TMP/fx_continue.v" || fail_case "no 100 Continue before the body"
want_in_body '"body_len":3000'
raw fx_continue_raw --responses 1 'send:POST /echo/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n' \
	'sleep:0.3' 'send:abcde'
grep -q '^== interim 100$' "$TMP/fx_continue_raw.raw" || fail_raw "no 100 Continue"
raw_status 1 200
raw_has '"body":"abcde"'
ok_case

req fx_raise "$U/raise"
want_code 500
want_in_body 'boom: the handler raised'
expect_regex "wippy stderr" "$ERR" 'ERROR.*boom: the handler raised'
req fx_broken "$U/broken"
want_code 500
want_in_body "module 'json' not found"
req fx_broken2 "$U/broken"
want_code 500
expect_regex "wippy stderr" "$ERR" "ERROR.*handler app:broken failed: .*module 'json' not found"
req fx_silent "$U/silent"
want_code 500
want_body 'no response sent'
req fx_value "$U/value"
want_code 200
want_body '{"returned":true}'
want_header 'Content-Type: application/json'
req fx_status "$U/status/418"
want_code 418
want_header 'X-Custom: yes'
want_body 'status 418'
ok_case

# Date (RFC 9110 6.6.1): one IMF-fixdate field, within a minute of now, on
# handler answers and the server's own; a handler's own Date replaces it.
date_ok() {
	local n d
	n=$(tr -d '\r' <"$TMP/$CASE.h" | grep -ci '^Date: ') || true
	[ "$n" = 1 ] || fail_case "expected one Date header, got $n"
	d=$(tr -d '\r' <"$TMP/$CASE.h" | grep -i '^Date: ' | cut -d' ' -f2-)
	echo "$d" | grep -qE '^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$' ||
		fail_case "Date '$d' is not an IMF-fixdate"
	d=$(( $(date -u -d "$d" +%s) - $(date -u +%s) ))
	[ "${d#-}" -le 60 ] || fail_case "Date is ${d}s away from now"
}
req fx_date "$U/status/201"
want_code 201
date_ok
req fx_date_404 "$U/nowhere"
want_code 404
date_ok
req fx_date_own "$U/status/200?date=Mon,%2001%20Jan%202001%2000:00:00%20GMT"
want_code 200
want_header 'Date: Mon, 01 Jan 2001 00:00:00 GMT'
n=$(tr -d '\r' <"$TMP/fx_date_own.h" | grep -ci '^Date: ') || true
[ "$n" = 1 ] || fail_case "expected only the handler's Date, got $n"
ok_case

req fx_405 -X DELETE "$U/echo/1"
want_code 405
grep -qiE '^Allow: .*GET' "$TMP/fx_405.h" && grep -qiE '^Allow: .*POST' "$TMP/fx_405.h" ||
	fail_case "expected Allow to list GET and POST"
req fx_head -I "$U/echo/1"
want_code 200
want_header 'X-Echo-Id: 1'
head_no_body fx_head_raw /echo/1
req fx_404 "$U/nothing/here"
want_code 404
ok_case

# -- malformed and oversized requests: error status, then the close --

# bad_input NAME STATUS BYTES: BYTES get STATUS and the connection closed.
bad_input() {
	raw "$1" "send:$3"
	raw_count 1
	raw_status 1 "$2"
	raw_has 'Connection: close'
	raw_closed
	ok_case
}
bad_input fx_bad_space 400 'GET  /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n'
bad_input fx_bad_garbage 400 'GARBAGE\r\n\r\n'
bad_input fx_bad_binary 400 '\x00\x01\x02\x03\r\n\r\n'
bad_input fx_bad_version 400 'GET /echo/1 HTTP/x.y\r\nHost: x\r\n\r\n'
bad_input fx_bad_header 400 'GET /echo/1 HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n'
bad_input fx_bad_nohost 400 'GET /echo/1 HTTP/1.1\r\n\r\n'
bad_input fx_bad_length 400 'POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n'
bad_input fx_bad_cl_te 400 'POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
bad_input fx_bad_chunk 400 'POST /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'
bad_input fx_bad_te 400 'POST /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n'
bad_input fx_bad_te_unknown 501 'POST /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'
bad_input fx_bad_http2 505 'GET /echo/1 HTTP/2.0\r\nHost: x\r\n\r\n'

big=$(head -c 1500 /dev/zero | tr '\0' 'h')
bad_input fx_431 431 "GET /echo/1 HTTP/1.1\\r\\nHost: x\\r\\nX-Big: $big\\r\\n\\r\\n"
many=$(for i in $(seq 1 70); do printf 'X-%d: v\\r\\n' "$i"; done)
bad_input fx_431_count 431 "GET /echo/1 HTTP/1.1\\r\\nHost: x\\r\\n$many\\r\\n"
bad_input fx_414 414 "GET /echo/$big HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
bad_input fx_413_length 413 'POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n'
chunk=$(head -c 3000 /dev/zero | tr '\0' 'c')
bad_input fx_413_chunked 413 "POST /echo/1 HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nbb8\\r\\n$chunk\\r\\nbb8\\r\\n$chunk\\r\\n0\\r\\n\\r\\n"

# With curl: a 5000-byte body is refused before it is sent (no 100).
head -c 5000 /dev/zero | tr '\0' 'z' >"$TMP/5k.txt"
req fx_413_curl -H 'Expect: 100-continue' --data-binary "@$TMP/5k.txt" "$U/echo/1"
want_code 413
! grep -q '^< HTTP/1.1 100 Continue' "$TMP/fx_413_curl.v" || fail_case "100 Continue sent for a body over the limit"
ok_case

# -- timeouts (read 1 s, idle 2 s) --

# Half a request head, then silence: 408 after the read timeout, close.
raw fx_408_head --timeout 8 'send:GET /echo/1 HTTP/1.1\r\nHost: x\r\n'
raw_count 1
raw_status 1 408
raw_closed
raw_elapsed_ge 0.5
ok_case

# The head and half the body: the same.
raw fx_408_body --timeout 8 'send:POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc'
raw_count 1
raw_status 1 408
raw_closed
raw_elapsed_ge 0.5
ok_case

# A byte every 0.3 s keeps arriving, but the request is not complete
# within the read timeout: still 408 (the timeout is per request, not per
# read).
drip=()
for ch in G E T ' ' / e c h o / 1 ' ' H T T P; do drip+=("send:$ch" 'sleep:0.3'); done
raw fx_408_drip --timeout 10 "${drip[@]}"
raw_count 1
raw_status 1 408
raw_closed
ok_case

# A complete request, then nothing: the idle keep-alive timeout closes the
# connection without another response.
raw fx_idle --timeout 10 'send:GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n'
raw_count 1
raw_status 1 200
raw_closed
raw_elapsed_ge 1
ok_case

# Connect and send nothing: closed after a timeout, nothing sent.
raw fx_idle_nothing --timeout 10
raw_count 0
raw_closed
ok_case

# -- pipelining and keep-alive --

raw fx_pipelined --responses 3 --linger 0.3 \
	'send:GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'
raw_count 3
for i in 1 2 3; do
	raw_status "$i" 200
	got=$(awk -v n="$i" '$0 == "== response " n { f = 1 } f && /^X-Echo-Id:/ { print $2; exit }' "$TMP/fx_pipelined.raw" | tr -d '\r')
	[ "$got" = "$i" ] || fail_raw "response $i is for X-Echo-Id '$got', expected $i (out of order)"
done
raw_has '"body":"abc"'
raw_open
ok_case

# Behind a sleeping handler: the second answer waits for the first.
raw fx_pipelined_nap --responses 2 --linger 0.3 \
	'send:GET /nap?ms=300 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: x\r\n\r\n'
raw_status 1 200
raw_status 2 200
awk '$0 == "== response 1" { f = 1 } f && /^slept 300/ { ok = 1; exit } END { exit !ok }' "$TMP/fx_pipelined_nap.raw" ||
	fail_raw "the first response is not the nap's"
ok_case

# A good request followed by a bad one in the same write.
raw fx_pipelined_bad 'send:GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\nBAD\r\n\r\n'
raw_count 2
raw_status 1 200
raw_status 2 400
raw_closed
ok_case

# A request split at every boundary in several writes.
raw fx_split --responses 1 'send:GE' 'sleep:0.1' 'send:T /echo/9?q=s HTTP/1.1\r' 'sleep:0.1' \
	'send:\nHost: x\r\nX-Te' 'sleep:0.1' 'send:st: split\r\n' 'sleep:0.1' 'send:\r\n'
raw_status 1 200
raw_has '"x_test":"split"'
raw_has '"q":"s"'
ok_case

# Keep-alive with curl across handlers of every kind.
multi fx_keepalive "$U/echo/1" "$U/raise" "$U/silent" HEAD "$U/echo/2" "$U/value" "$U/nope" "$U/nap?ms=10" "$U/echo/3"
want_multi 1 200 500 500 200 200 404 200 200
ok_case

# A 3 MB response: more than one send takes; the bytes arrive intact.
req fx_big "$U/big?n=3000005"
want_code 200
want_header 'Content-Length: 3000005'
[ "$(wc -c <"$TMP/fx_big.b")" -eq 3000005 ] || fail_case "got $(wc -c <"$TMP/fx_big.b") body bytes, expected 3000005"
expected=$(python3 -c 'import hashlib; print(hashlib.md5(b"0123456789" * 300000 + b"xxxxx").hexdigest())')
[ "$(md5sum <"$TMP/fx_big.b" | cut -d' ' -f1)" = "$expected" ] || fail_case "the body bytes differ from what the handler wrote"
ok_case

# A CRLF in a header value set by the handler: 500, nothing injected.
req fx_inject "$U/inject"
want_code 500
no_header Injected
! grep -qF 'should not be sent' "$TMP/fx_inject.b" || fail_case "the handler's body was sent with a bad header"
ok_case

# Connection: close on the first of two pipelined requests: one answer,
# then the close; the second request is never run.
raw fx_pipelined_close 'send:GET /echo/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: x\r\n\r\n'
raw_count 1
raw_status 1 200
raw_has 'Connection: close'
raw_closed
ok_case

req fx_alive "$U/echo/end"
want_code 200

# Shutdown with an idle keep-alive connection and a request in progress:
# the idle one is closed, the running one gets a complete answer, and the
# runtime exits 0.
CASE=fx_shutdown
python3 "$HTTPC" raw "$PORT" --timeout 20 'send:GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n' >"$TMP/fx_shutdown_idle.raw" 2>&1 &
idle_pid=$!
lib_track "$idle_pid"
python3 "$HTTPC" raw "$PORT" --timeout 20 'send:GET /nap?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n' >"$TMP/fx_shutdown_nap.raw" 2>&1 &
nap_pid=$!
lib_track "$nap_pid"
sleep 0.5   # both requests are in: one answered (idle now), one sleeping
stop_app fx
wait_exit 10 "$idle_pid"
[ "$EXIT_RC" = 0 ] || die "fx_shutdown: the idle client did not see the close within 10 s of the stop ($EXIT_RC)"
wait_exit 10 "$nap_pid"
[ "$EXIT_RC" = 0 ] || die "fx_shutdown: the running request did not end within 10 s of the stop ($EXIT_RC)"
CASE=fx_shutdown_idle
raw_count 1
raw_status 1 200
raw_closed
CASE=fx_shutdown_nap
raw_count 1
raw_closed
grep -qE '^HTTP/1.1 (200|500|503) ' "$TMP/fx_shutdown_nap.raw" || fail_raw "expected 200 (or a 5xx) for the request running at shutdown"
note "ok: fx_shutdown (running request: $(grep -m1 '^HTTP/1.1' "$TMP/fx_shutdown_nap.raw" | tr -d '\r'))"

# {==== fixture again: half-closed clients, pipelined read timeout ====}

start_app fx2 "$LIB_ROOT/test/fixtures/http/app" '127.0.0.1:__PORT__'
# A complete request pipelined with half of the next one: the first is
# answered, the second gets the read timeout (1 s) like any started
# request, not the write timeout (20 s) of the response before it.
raw fx_408_pipelined --timeout 10 'send:GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/2 HTTP/1.1\r\nHo'
raw_status 1 200
grep -q '^== response 2$' "$TMP/fx_408_pipelined.raw" ||
	fail_raw "no 408 within 10 s for the unfinished pipelined request (read timeout 1 s; the write timeout is 20 s)"
raw_status 2 408
raw_closed
ok_case

# The client half-closes (FIN) after its requests, as `nc -N` or a
# `Connection: close` client that is done sending may: the answers still
# come, then the close. The sleeping handler makes the FIN arrive while the
# request is being handled.
raw fx_halfclose 'send:GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n' shut
raw_count 1
raw_status 1 200
raw_closed
ok_case
raw fx_halfclose_nap 'send:GET /nap?ms=300 HTTP/1.0\r\n\r\n' shut
raw_count 1
raw_status 1 200
raw_has 'slept 300'
raw_closed
ok_case
raw fx_halfclose_pipelined 'send:GET /nap?ms=100 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: x\r\n\r\n' shut
raw_count 2
raw_status 1 200
raw_status 2 200
raw_closed
ok_case

stop_app fx2

echo "ok: hello-http, http-spawn and the HTTP fixture (routing, bodies, handlers, limits, timeouts, keep-alive, pipelining)"
