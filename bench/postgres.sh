#!/usr/bin/env bash
# bench/postgres.sh: statements per second through require("sql") on a
# db.sql.postgres against the same statements from C with raw libpq
# (build/bench/pg_raw) in the same run, on a throwaway server of Debian's
# postgresql (scripts/pgtemp.sh) in a temp directory.
#
# Modes, N statements each (PG_N, default 2000): "query" (a one-row
# SELECT with a parameter), "insert" (an INSERT per statement, autocommit)
# and "tx" (a prepared INSERT N times in one transaction); the ratio
# printed is Lua's rate over C's. "conc" runs the query from 8 coroutines
# at once, printed against C's sequential "query" (the pool overlaps round
# trips that one blocking connection cannot). Lua's side parks the process
# on each call while the shard serves the connection from its ring. No
# assertions; exit 77 when build/wippy, the baseline or postgres is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
N=${PG_N:-2000}
[ -x "$WIPPY" ] || { echo "skip: $WIPPY missing"; exit 77; }
[ -x "$BUILD/bench/pg_raw" ] || { echo "skip: $BUILD/bench/pg_raw missing (make bench)"; exit 77; }
. "$ROOT/scripts/pgtemp.sh"
pgtemp_find || { echo "skip: postgresql is not installed"; exit 77; }
TMP=$(mktemp -d)
trap 'pgtemp_stop; rm -rf "$TMP"' EXIT
pgtemp_start "$TMP" || { echo "postgres: ERROR: the server did not start"; exit 1; }

cp -r "$ROOT/bench/apps/postgres" "$TMP/app"
cat > "$TMP/app/src/_index.yaml" <<YAML
version: "1.0"
namespace: app
entries:
  - {name: terminal, kind: terminal.host, lifecycle: {auto_start: true}}
  - {name: db, kind: db.sql.postgres, host: 127.0.0.1, port: $PG_PORT, database: postgres, username: postgres, password: secret}
  - {name: bench, kind: process.lua, source: file://bench.lua, method: main, modules: [sql, time, io]}
YAML

raw=$("$BUILD/bench/pg_raw" "host=127.0.0.1 port=$PG_PORT user=postgres password=secret dbname=postgres" "$N") ||
	{ echo "postgres: ERROR: pg_raw failed"; exit 1; }
echo "$raw"
for mode in query insert tx conc; do
	line=$(cd "$TMP/app" && "$WIPPY" run -x app:terminal/app:bench "$mode" "$N" </dev/null 2>"$TMP/err") || {
		echo "postgres: ERROR: wippy $mode failed"; tail -n 5 "$TMP/err"; exit 1; }
	echo "$line"
	base=$mode
	[ "$mode" = conc ] && base=query
	c=$(echo "$raw" | awk -v m="$base" '$2 == m { print $(NF - 1) }')
	l=$(echo "$line" | awk '{ print $(NF - 1) }')
	awk -v l="$l" -v c="$c" -v m="$mode" -v b="$base" -v n="$N" 'BEGIN {
		printf "postgres %-7s N=%d: lua %.0f/s, C %s %.0f/s, ratio %.2f\n", m, n, l, b, c, (c > 0 ? l / c : 0) }'
done
