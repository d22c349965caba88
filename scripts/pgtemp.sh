# shellcheck shell=bash
# scripts/pgtemp.sh: a throwaway PostgreSQL server for tests and
# benchmarks, from Debian's postgresql package. Source it, then:
#
#   pgtemp_find || skip-or-exit      # sets PGBIN; fails when not installed
#   pgtemp_start DIR                 # initdb in DIR/pg, start on a free port
#                                    # (127.0.0.1, password "secret" for user
#                                    # postgres over TCP; trust on the unix
#                                    # socket in DIR/sock); sets PG_PORT,
#                                    # PG_SOCK, PG_PID, PG_DATA
#   pgtemp_psql SQL                  # run SQL over the socket, print rows
#   pgtemp_stop                      # fast shutdown, by the postmaster's pid
#
# As root the server runs as the package's `postgres` user (DIR must be
# reachable by it: pgtemp_start opens DIR up). Never touches a server it
# did not start. pgtemp_start returns non-zero with the log on stderr when
# the server does not come up within 30 s.

PGBIN=
PG_PORT=
PG_SOCK=
PG_PID=
PG_DATA=

pgtemp_find() {
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pg_isready" ]
}

pgtemp_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a shell command line as the server's user.
pgtemp_as() {
	if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

pgtemp_start() {
	local dir=$1 i
	PG_DATA=$dir/pg
	PG_SOCK=$dir/sock
	mkdir -p "$PG_DATA" "$PG_SOCK"
	echo secret >"$dir/pgpw"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || { echo "pgtemp: no postgres user" >&2; return 1; }
		chmod 755 "$dir"
		chown postgres "$PG_DATA" "$PG_SOCK" "$dir/pgpw"
	fi
	pgtemp_as "$PGBIN/initdb -D $PG_DATA -U postgres --pwfile=$dir/pgpw --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C" \
		>"$dir/initdb.log" 2>&1 || { tail -n 20 "$dir/initdb.log" >&2; return 1; }
	PG_PORT=$(pgtemp_free_port)
	pgtemp_as "exec $PGBIN/postgres -D $PG_DATA -k $PG_SOCK -p $PG_PORT -c listen_addresses=127.0.0.1 -c timezone=UTC -c max_connections=50 -c fsync=off" \
		>"$dir/pg.log" 2>&1 &
	PG_PID=$!
	for i in $(seq 1 300); do
		"$PGBIN/pg_isready" -q -h "$PG_SOCK" -p "$PG_PORT" -U postgres && return 0
		kill -0 "$PG_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$dir/pg.log" >&2
	return 1
}

pgtemp_psql() {
	"$PGBIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres -Atc "$1"
}

pgtemp_stop() {
	local pm
	[ -n "$PG_DATA" ] || return 0
	pm=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
	if [ -n "$pm" ]; then
		kill -INT "$pm" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pm" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -n "$PG_PID" ]; then
		for _ in $(seq 1 20); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
	fi
	PG_DATA=
}
