#!/usr/bin/env bash
# test/integration/postgres.sh: db.sql.postgres against a real server. A
# PostgreSQL of Debian's postgresql package is initialised in a temp dir
# (password auth on TCP, a unix socket in the temp dir), started on a free
# port, and `wippy test` runs the suite of test/integration/postgres/
# (types, NULL, placeholders, statements, transactions and savepoints,
# errors with their kinds, 100 processes, processes killed with an open
# transaction or a running query, reconnecting, wrong password, closed
# port). Afterwards the server must show no connection of the runtime
# left behind. Skips only when the postgres binaries are not installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
. "$LIB_ROOT/scripts/pgtemp.sh"
pgtemp_find || skip "postgresql server binaries are not installed (scripts/deps.sh)"
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
	skip "no postgres system user (package postgresql)"
fi
lib_tmpdir
trap 'pgtemp_stop; lib_cleanup' EXIT
pgtemp_start "$TMP" || die "postgres did not start"
lib_track "$PG_PID"
PORT=$PG_PORT
CLOSED=$(pgtemp_free_port)
# A server that accepts and never answers: connect_timeout must end the wait.
SILENT=$(pgtemp_free_port)
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$SILENT" &
lib_track $!
disown $!	# killed by the cleanup, quietly
note "postgres $("$PGBIN/postgres" --version | awk '{print $3}') on port $PORT"

APP=$TMP/app
mkdir -p "$APP/src"
cp -R "$LIB_ROOT/test/integration/postgres/." "$APP/"
cp "$LIB_ROOT/test/lua/src/_index.yaml" "$LIB_ROOT/test/lua/src/assert.lua" "$APP/src/"
sed -i "s/@PORT@/$PORT/g; s/@CLOSED@/$CLOSED/g; s/@SILENT@/$SILENT/g" "$APP/src/pg/pg.yaml"
pgtemp_psql "CREATE SCHEMA IF NOT EXISTS wippy_s" >/dev/null

rc=0
(cd "$APP" && WIPPY_PG_PORT=$PORT WIPPY_PG_PASSWORD=secret timeout 120 "$WIPPY" test --filter test.pg) \
	>"$TMP/out" 2>"$TMP/err" || rc=$?
cat "$TMP/out"
if [ "$rc" -ne 0 ]; then
	show stderr "$TMP/err"
	check_exit "wippy test (postgres suite)" "$rc" 0
fi
expect_regex "the suite passes" "$TMP/out" '^23 passed, 0 failed'
check_no_sanitizer "wippy test" "$TMP/err"

# Nothing of the runtime is left in the server once it has exited.
left=$(pgtemp_psql "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'wippy_it%'")
[ "$left" = 0 ] || die "$left connection(s) of the runtime left in the server"
note "no connection left behind"

# Shutdown with a transaction open and a query running in the server: the
# runtime stops within its stop timeout, cleanly, and the server sees its
# connections go.
STOP=$TMP/stop
cp -R "$LIB_ROOT/test/integration/postgres_stop/." "$STOP/"
sed -i "s/@PORT@/$PORT/g" "$STOP/src/_index.yaml"
(cd "$STOP" && exec "$WIPPY" run --stop-timeout 2s </dev/null >"$TMP/stop.out" 2>&1) &
WPID=$!
lib_track "$WPID"
wait_for_line 15 "$WPID" "$TMP/stop.out" "holding a transaction" ||
	{ show output "$TMP/stop.out"; die "the services did not start"; }
wait_for_line 15 "$WPID" "$TMP/stop.out" "sleeping in the server" ||
	{ show output "$TMP/stop.out"; die "the services did not start"; }
busy() { [ "$(pgtemp_psql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wippy_sd' AND state IN ('active', 'idle in transaction')")" = 2 ]; }
wait_for 10 "$WPID" "a transaction and a query in the server" busy ||
	{ show output "$TMP/stop.out"; die "no open transaction and running query seen"; }
kill -INT "$WPID"
wait_exit 15 "$WPID"
[ "$EXIT_RC" != timeout ] || { show output "$TMP/stop.out"; die "the runtime did not stop"; }
check_exit "wippy run stopped with a transaction open" "$EXIT_RC" 0
check_no_sanitizer "wippy run (shutdown)" "$TMP/stop.out"
gone() { [ "$(pgtemp_psql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wippy_sd'")" = 0 ]; }
wait_for 10 "" "the runtime's connections closed" gone || die "connections left after shutdown"
note "shutdown: exit 0, connections closed"
echo "PASS postgres"
