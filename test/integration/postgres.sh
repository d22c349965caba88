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
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/postgres" ] ||
	skip "postgresql server binaries are not installed (scripts/deps.sh)"
lib_tmpdir

# As root the server runs as the package's postgres user.
RUNAS=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || skip "no postgres system user (package postgresql)"
	chmod 755 "$TMP"
	RUNAS=(su postgres -s /bin/sh -c)
fi
pgrun() {
	if [ ${#RUNAS[@]} -gt 0 ]; then "${RUNAS[@]}" "$*"; else sh -c "$*"; fi
}
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PGDATA=$TMP/pg
mkdir -p "$PGDATA" "$TMP/sock"
echo secret >"$TMP/pw"
if [ ${#RUNAS[@]} -gt 0 ]; then chown postgres "$PGDATA" "$TMP/sock" "$TMP/pw"; fi
pgrun "$PGBIN/initdb -D $PGDATA -U postgres --pwfile=$TMP/pw --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C" \
	>"$TMP/initdb.log" 2>&1 || { show initdb "$TMP/initdb.log"; die "initdb failed"; }

PORT=$(free_port)
CLOSED=$(free_port)
pgrun "exec $PGBIN/postgres -D $PGDATA -k $TMP/sock -p $PORT -c listen_addresses=127.0.0.1 -c timezone=UTC -c max_connections=50 -c fsync=off" \
	>"$TMP/pg.log" 2>&1 &
PGPID=$!
lib_track "$PGPID"
# Stop the server by its pid (fast shutdown: SIGINT to the postmaster,
# whose pid postmaster.pid holds; $PGPID may be su's), then the shared
# cleanup.
stop_pg() {
	local pm
	pm=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
	if [ -n "$pm" ]; then
		kill -INT "$pm" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pm" 2>/dev/null || break; sleep 0.1; done
	fi
	for _ in $(seq 1 20); do kill -0 "$PGPID" 2>/dev/null || break; sleep 0.1; done
	lib_cleanup
}
trap stop_pg EXIT
ready() { "$PGBIN/pg_isready" -q -h "$TMP/sock" -p "$PORT" -U postgres; }
wait_for 30 "$PGPID" "postgres accepting connections" ready ||
	{ show postgres "$TMP/pg.log"; die "postgres did not start"; }
note "postgres $("$PGBIN/postgres" --version | awk '{print $3}') on port $PORT"

APP=$TMP/app
mkdir -p "$APP/src"
cp -R "$LIB_ROOT/test/integration/postgres/." "$APP/"
cp "$LIB_ROOT/test/lua/src/_index.yaml" "$LIB_ROOT/test/lua/src/assert.lua" "$APP/src/"
sed -i "s/@PORT@/$PORT/g; s/@CLOSED@/$CLOSED/g" "$APP/src/pg/pg.yaml"
sqlq() { /usr/bin/psql -h "$TMP/sock" -p "$PORT" -U postgres -d postgres -Atc "$1"; }
sqlq "CREATE SCHEMA IF NOT EXISTS wippy_s" >/dev/null

rc=0
(cd "$APP" && WIPPY_PG_PORT=$PORT WIPPY_PG_PASSWORD=secret timeout 120 "$WIPPY" test --filter test.pg) \
	>"$TMP/out" 2>"$TMP/err" || rc=$?
cat "$TMP/out"
if [ "$rc" -ne 0 ]; then
	show stderr "$TMP/err"
	check_exit "wippy test (postgres suite)" "$rc" 0
fi
expect_regex "the suite passes" "$TMP/out" '^21 passed, 0 failed'
check_no_sanitizer "wippy test" "$TMP/err"

# Nothing of the runtime is left in the server once it has exited.
left=$(sqlq "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'wippy_it%'")
[ "$left" = 0 ] || die "$left connection(s) of the runtime left in the server"
note "no connection left behind"
echo "PASS postgres"
