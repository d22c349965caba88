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

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wippy-static-bench.XXXXXX")
chmod 755 "$TMP"   # nginx workers (nobody when run as root) read the files
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "static: ERROR: $*"; exit 1; }
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
	local i
	for i in $(seq 1 150); do
		kill -0 "$2" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

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
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 1000000;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    server {
        listen 127.0.0.1:$NPORT reuseport;
        location /static/ { alias $FILES/; }
    }
}
EOF
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/out" 2>&1 &
NGPID=$!
PIDS+=("$NGPID")
wait_port "$NPORT" "$NGPID" || { cat "$TMP/nginx/out" "$TMP/nginx/error.log" 2>/dev/null; die "nginx did not listen"; }

for f in small.txt big.bin; do
	curl -s "http://127.0.0.1:$WPORT/static/$f" | cmp -s - "$FILES/$f" || die "wippy serves $f wrong"
	curl -s "http://127.0.0.1:$NPORT/static/$f" | cmp -s - "$FILES/$f" || die "nginx serves $f wrong"
done

cat >"$TMP/done.lua" <<'LUA'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %.1f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.bytes / (summary.duration / 1e6) / 1048576,
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

# measure LABEL URL PID: sets RPS and prints the line.
measure() {
	local label=$1 url=$2 pid=$3 out=$TMP/wrk.$1 r
	timeout 30 wrk -t"$THREADS" -c"$CONNS" -d1s -s "$TMP/done.lua" "$url" >/dev/null 2>&1
	timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$TMP/done.lua" "$url" >"$out" 2>&1
	kill -0 "$pid" 2>/dev/null || { cat "$out"; die "$label: the server died under load"; }
	r=$(grep '^RESULT ' "$out" | tail -n1)
	[ -n "$r" ] || { cat "$out"; die "$label: wrk printed no result"; }
	set -- $r
	RPS=$2
	printf "  %-6s %10.0f req/s  %8.1f MiB/s   p50 %7.3f ms   p99 %7.3f ms   (%d non-2xx, %d socket errors)\n" \
		"$label" "$2" "$5" "$3" "$4" "$6" "$7"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "# wrk -t$THREADS -c$CONNS -d$DUR on 127.0.0.1, $(nproc) cpus; wippy --shards 2; nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), worker_processes 2, sendfile on"
for f in small.txt big.bin; do
	echo "$f ($(stat -c %s "$FILES/$f") bytes)"
	measure wippy "http://127.0.0.1:$WPORT/static/$f" "$WPID"
	W=$RPS
	measure nginx "http://127.0.0.1:$NPORT/static/$f" "$NGPID"
	N=$RPS
	echo "  ratio  wippy/nginx $(ratio "$W" "$N")"
done
