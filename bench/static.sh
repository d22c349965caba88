#!/usr/bin/env bash
# bench/static.sh: http.static against nginx serving the same files, in the
# same run.
#
# One directory with a small file (13 bytes of text) and a 1 MiB file,
# served by wippy (an http.static at /static over an fs.directory, 2
# shards) and by nginx (worker_processes 2, sendfile on, access_log off,
# etag and Last-Modified on as by default). Each file is measured on both
# with the same wrk settings (a 1 s warm-up, then the timed run), wippy
# first; the last line of each pair is the ratio wippy/nginx of req/s.
# Before timing, both answers are checked to carry the same body.
#
#   bash bench/static.sh
#   STATIC_BENCH_DURATION=2s STATIC_BENCH_CONNS=32 bash bench/static.sh
#
# Exits 77 (skipped) when nginx, wrk, python3 or build/wippy is missing.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
DUR=${STATIC_BENCH_DURATION:-10s}
CONNS=${STATIC_BENCH_CONNS:-64}
THREADS=${STATIC_BENCH_THREADS:-2}

NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
for need in wrk python3 curl; do
	command -v $need >/dev/null || { echo "static: $need is not installed; skipped"; exit 77; }
done
[ -n "$NGINX" ] || { echo "static: nginx is not installed; skipped"; exit 77; }
[ -x "$WIPPY" ] || { echo "static: $WIPPY not built (run make); skipped"; exit 77; }

. "$ROOT/bench/lib/common.sh"
bench_init static

# ---- the files ---------------------------------------------------------------
FILES=$TMP/files
mkdir -p "$FILES"
printf 'hello static\n' >"$FILES/small.txt"
head -c 1048576 /dev/urandom >"$FILES/big.bin"

# ---- wippy -------------------------------------------------------------------------
APP=$TMP/app
mkdir -p "$APP/src"
printf 'directories:\n  modules: .wippy\n  src: ./src\n' >"$APP/wippy.lock"
WPORT=$(free_port)
cat >"$APP/src/_index.yaml" <<EOF
version: "1.0"
namespace: bench
entries:
  - name: gateway
    kind: http.service
    addr: "127.0.0.1:$WPORT"
    lifecycle: {auto_start: true}
  - name: files
    kind: fs.directory
    directory: $FILES
  - name: static
    kind: http.static
    meta: {server: gateway}
    path: /static
    fs: files
EOF
(cd "$APP" && exec "$WIPPY" run --shards 2 </dev/null >"$TMP/wippy.out" 2>"$TMP/wippy.err") &
WPID=$!
PIDS+=("$WPID")
wait_port "$WPORT" "$WPID" || { tail -n 20 "$TMP/wippy.err"; die "wippy did not listen"; }

# ---- nginx -------------------------------------------------------------------------
NPORT=$(free_port)
bench_nginx "$NPORT" ";
        sendfile on;
        tcp_nopush on;
        location /static/ { alias $FILES/; }"

for f in small.txt big.bin; do
	curl -s "http://127.0.0.1:$WPORT/static/$f" | cmp -s - "$FILES/$f" || die "wippy serves $f wrong"
	curl -s "http://127.0.0.1:$NPORT/static/$f" | cmp -s - "$FILES/$f" || die "nginx serves $f wrong"
done

echo "# wrk -t$THREADS -c$CONNS -d$DUR on 127.0.0.1, $(nproc) cpus; wippy --shards 2; nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), worker_processes 2, sendfile on"
for f in small.txt big.bin; do
	echo "$f ($(stat -c %s "$FILES/$f") bytes)"
	measure wippy "http://127.0.0.1:$WPORT/static/$f" "$WPID"
	W=$RPS
	measure nginx "http://127.0.0.1:$NPORT/static/$f" "$NGPID"
	N=$RPS
	echo "  ratio  wippy/nginx $(ratio "$W" "$N")"
done
