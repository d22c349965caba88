#!/usr/bin/env bash
# bench/sql.sh: SQLite inserts per second through require("sql") against
# the same SQLite work from C (build/bench/sqlite_raw) in the same run, on
# a database file in a fresh temp directory.
#
# Two modes, N rows each (SQL_N, default 2000): "tx", a prepared INSERT
# executed N times inside one transaction, and "autocommit", N single
# INSERTs each its own transaction. bench/apps/sql's process does the Lua
# side (each call parks the process while the database's worker thread
# runs it); the ratio printed is Lua's rate over C's (target >= 0.7). No
# assertions; exit 77 when build/wippy or the C baseline is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
N=${SQL_N:-2000}
[ -x "$WIPPY" ] || { echo "skip: $WIPPY missing"; exit 77; }
[ -x "$BUILD/bench/sqlite_raw" ] || { echo "skip: $BUILD/bench/sqlite_raw missing (make bench)"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cp -r "$ROOT/bench/apps/sql" "$TMP/app"
cat > "$TMP/app/src/_index.yaml" <<YAML
version: "1.0"
namespace: app
entries:
  - {name: terminal, kind: terminal.host, lifecycle: {auto_start: true}}
  - {name: db, kind: db.sql.sqlite, file: "$TMP/lua.db"}
  - {name: bench, kind: process.lua, source: file://bench.lua, method: main, modules: [sql, time, io]}
YAML

raw=$("$BUILD/bench/sqlite_raw" "$TMP/raw.db" "$N") || { echo "sql: ERROR: sqlite_raw failed"; exit 1; }
echo "$raw"
for mode in tx autocommit; do
	line=$(cd "$TMP/app" && "$WIPPY" run -x app:terminal/app:bench "$mode" "$N" </dev/null 2>"$TMP/err") || {
		echo "sql: ERROR: wippy $mode failed"; tail -n 5 "$TMP/err"; exit 1; }
	echo "$line"
	c=$(echo "$raw" | awk -v m="$mode" '$2 == m { print $(NF - 1) }')
	l=$(echo "$line" | awk '{ print $(NF - 1) }')
	awk -v l="$l" -v c="$c" -v m="$mode" -v n="$N" 'BEGIN {
		printf "sql %-10s N=%d: lua %.0f/s, C %.0f/s, ratio %.2f (target >= 0.7)\n", m, n, l, c, (c > 0 ? l / c : 0) }'
done
