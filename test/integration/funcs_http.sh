#!/usr/bin/env bash
# test/integration/funcs_http.sh: funcs, contract and queue under `wippy
# run`, from HTTP handlers (pooled function states calling other pooled
# states): GET /sum calls a function, GET /hello a contract method with
# values given to open, POST /jobs publishes to a queue whose consumer calls
# a function and logs the result. The app is test/fixtures/runtime/funcs-http,
# on a free port.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
lib_tmpdir
APP=$TMP/app
ERR=$TMP/stderr

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PID=
for try in 1 2 3; do
	rm -rf "$APP"
	lib_copy_app "$LIB_ROOT/test/fixtures/runtime/funcs-http" "$APP"
	PORT=$(free_port)
	sed -i "s/ADDR/127.0.0.1:$PORT/" "$APP/src/_index.yaml"
	(cd "$APP" && exec env --default-signal=INT "$WIPPY" run </dev/null >"$TMP/stdout" 2>"$ERR") &
	PID=$!
	lib_track "$PID"
	rc=0
	wait_for_line 15 "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || rc=$?
	[ "$rc" -eq 0 ] && break
	if [ "$rc" -eq 2 ] && grep -q "cannot listen" "$ERR"; then continue; fi
	show stderr "$ERR"
	die "wippy run did not start listening"
done
note "listening on $PORT (pid $PID)"
BASE=http://127.0.0.1:$PORT

get() { timeout 20 curl -sS --max-time 15 "$@"; }

out=$(get "$BASE/sum?a=20&b=22")
[ "$out" = '{"sum":42}' ] || { show stderr "$ERR"; die "GET /sum: $out"; }
note "GET /sum: $out"

out=$(get "$BASE/sum?a=1")
case $out in *"attempt to perform arithmetic"*) ;; *) show stderr "$ERR"; die "GET /sum without b: $out" ;; esac
note "GET /sum with a bad argument: the callee's error comes back"

out=$(get "$BASE/hello?name=ann")
[ "$out" = '{"text":"hello ann from web"}' ] || { show stderr "$ERR"; die "GET /hello: $out"; }
note "GET /hello: $out"

for i in 1 2 3; do
	code=$(get -o /dev/null -w '%{http_code}' -X POST -d "{\"n\":$i,\"a\":$i,\"b\":100}" "$BASE/jobs")
	[ "$code" = 202 ] || { show stderr "$ERR"; die "POST /jobs: $code"; }
done
for i in 1 2 3; do
	wait_for_line 10 "$PID" "$ERR" "job done.*\"sum\": $((i + 100))[,}]" ||
		{ show stderr "$ERR"; die "job $i was not processed"; }
done
note "three jobs published over HTTP were consumed"

kill -INT "$PID"
wait_exit 10 "$PID"
[ "$EXIT_RC" != timeout ] || { show stderr "$ERR"; die "still running 10s after SIGINT"; }
check_no_sanitizer stderr "$ERR"
check_exit "wippy run stopped by SIGINT" "$EXIT_RC" 0
note "ok: funcs, contract and queue from HTTP handlers"
