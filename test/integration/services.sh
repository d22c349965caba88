#!/usr/bin/env bash
# test/integration/services.sh: service start order and shutdown order.
#
# The fixture has db <- api <- web (each requires the one before) and
# stubborn (requires db, ignores CANCEL, stop_timeout 300ms). `wippy run`
# must start them in dependency order; on SIGTERM it must stop them in
# reverse order: each service gets its CANCEL (reason "service stopping")
# only after the services requiring it have exited, stubborn is terminated
# after its own 300 ms stop_timeout (not the runtime's 10 s), and db stops
# last. The runtime then exits 0, well before the 10 s stop timeout.
#
# Last, a boot that fails after the engine exists (an http.service whose
# port is taken) exits 1 with the bind error, and under a sanitizer with no
# report: rt_boot frees what it built before it returns.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
lib_tmpdir
APP=$TMP/app
lib_copy_app "$LIB_ROOT/test/fixtures/runtime/services" "$APP"

OUT=$TMP/out ERR=$TMP/err
(cd "$APP" && exec "$WIPPY" run >"$OUT" 2>"$ERR") &
PID=$!
lib_track "$PID"

wait_for_line 15 "$PID" "$ERR" 'service up' 4 || {
	show stderr "$ERR"
	die "the four services did not all start"
}
t0=$(date +%s%N)
kill -TERM "$PID"
wait_exit 15 "$PID"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_no_sanitizer "stderr" "$ERR"
[ "$EXIT_RC" = timeout ] && { show stderr "$ERR"; die "wippy run did not exit after SIGTERM"; }
[ "$EXIT_RC" -eq 0 ] || show stderr "$ERR"
check_exit "wippy run (services)" "$EXIT_RC" 0
note "shutdown took $ms ms"

# line N of the first record matching ERE, or die.
line_of() {
	local n
	n=$(grep -nE -- "$1" "$ERR" | head -n1 | cut -d: -f1)
	[ -n "$n" ] || { show stderr "$ERR"; die "no log line matching /$1/"; }
	echo "$n"
}

# before A B: the first line matching A comes before the first matching B.
before() {
	local a b
	a=$(line_of "$1")
	b=$(line_of "$2")
	[ "$a" -lt "$b" ] && return 0
	show stderr "$ERR"
	die "expected /$1/ (line $a) before /$2/ (line $b)"
}

up='service up .*"service": "'
cancel='service cancel .*"service": "'
down='service down .*"service": "'

# Start order follows requires, not the file order (web is declared first).
before "$up"'db"' "$up"'api"'
before "$up"'api"' "$up"'web"'
before "$up"'db"' "$up"'stubborn"'

# Shutdown: web, then api, then db; stubborn terminated before db stops.
before "$down"'web"' "$cancel"'api"'
before "$down"'api"' "$cancel"'db"'
before 'service app:stubborn did not stop within its stop_timeout' "$cancel"'db"'
expect_regex "stderr" "$ERR" 'service cancel .*"reason": "service stopping"'
expect_fixed "stderr" "$ERR" '"service": "db"'
before "$cancel"'db"' "$down"'db"'
reject_fixed "stderr" "$ERR" "scheduler shutdown"
reject_fixed "stderr" "$ERR" "stop timeout: terminating"

# stubborn's own stop_timeout, not the runtime's 10 s, bounds the wait.
[ "$ms" -lt 8000 ] || die "shutdown took $ms ms: per-service stop_timeout not applied"
note "ok: start order, reverse stop order, per-service stop_timeout"

# {==== a boot that fails after the engine exists ====}

HOLD_PORT=$TMP/held_port
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "$HOLD_PORT" &
HOLD=$!
lib_track "$HOLD"
wait_for 10 "" "the port holder" test -s "$HOLD_PORT" || die "the port holder did not start"
PORT=$(cat "$HOLD_PORT")
BAPP=$TMP/busy
lib_copy_app "$LIB_ROOT/test/fixtures/http/app" "$BAPP"
sed -i "s/__PORT__/$PORT/" "$BAPP/src/_index.yaml"
rc=0
(cd "$BAPP" && exec timeout 20 "$WIPPY" run >"$TMP/busy.out" 2>"$TMP/busy.err") || rc=$?
kill "$HOLD" 2>/dev/null || true
check_no_sanitizer "wippy run (port taken) stderr" "$TMP/busy.err"
check_exit "wippy run (port taken)" "$rc" 1
expect_fixed "wippy run (port taken) stderr" "$TMP/busy.err" "Address already in use"
note "ok: a boot failing on a taken port exits 1 and frees what it built"
