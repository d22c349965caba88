#!/usr/bin/env bash
# bench/tls.sh: http.service over TLS against nginx over TLS, in the same
# run, with the same certificate and the same tiny body.
#
# One self-signed ECDSA P-256 certificate (openssl req) serves both: wippy
# (test/fixtures/http/tls, GET /hello answers "hello" from a function.lua,
# 2 shards) and nginx (worker_processes 2, `return 200 "hello"`, access_log
# off, TLS 1.2 and 1.3, its default session tickets). Two loads, each with
# the same wrk settings (a 1 s warm-up, then the timed run), wippy first:
#   keep-alive   requests on open connections: record encryption per
#                request, the handshake amortised away;
#   handshake    Connection: close on every request: one full TLS 1.3
#                handshake per request (wrk does not resume sessions).
# The last line of each pair is the ratio wippy/nginx of req/s. Both
# answers are checked to be "hello" over https first.
#
#   bash bench/tls.sh
#   TLS_BENCH_DURATION=2s TLS_BENCH_CONNS=32 bash bench/tls.sh
#
# Exits 77 (skipped) when nginx, wrk, openssl, python3, curl or
# build/wippy is missing.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
DUR=${TLS_BENCH_DURATION:-10s}
CONNS=${TLS_BENCH_CONNS:-64}
THREADS=${TLS_BENCH_THREADS:-2}

NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
for need in wrk python3 curl openssl; do
	command -v $need >/dev/null || { echo "tls: $need is not installed; skipped"; exit 77; }
done
[ -n "$NGINX" ] || { echo "tls: nginx is not installed; skipped"; exit 77; }
[ -x "$WIPPY" ] || { echo "tls: $WIPPY not built (run make); skipped"; exit 77; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wippy-tls-bench.XXXXXX")
chmod 755 "$TMP"
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

die() { echo "tls: ERROR: $*"; exit 1; }
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

# ---- the certificate ---------------------------------------------------------
PKI=$TMP/pki
mkdir -p "$PKI"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout "$PKI/key.pem" -out "$PKI/cert.pem" 2>/dev/null || die "openssl req failed"
chmod 644 "$PKI/key.pem"

# ---- wippy -------------------------------------------------------------------------
APP=$TMP/app
mkdir -p "$APP"
cp "$ROOT/test/fixtures/http/tls/wippy.lock" "$APP/"
cp -r "$ROOT/test/fixtures/http/tls/src" "$APP/"
mkdir -p "$APP/certs"
cp "$PKI/cert.pem" "$PKI/key.pem" "$APP/certs/"
WPORT=$(free_port)
sed -i "s/__PORT__/$WPORT/" "$APP/src/_index.yaml"
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
    server_tokens off;
    default_type text/plain;
    server {
        listen 127.0.0.1:$NPORT ssl reuseport;
        ssl_certificate $PKI/cert.pem;
        ssl_certificate_key $PKI/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /hello { return 200 "hello"; }
    }
}
EOF
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/out" 2>&1 &
NGPID=$!
PIDS+=("$NGPID")
wait_port "$NPORT" "$NGPID" || { cat "$TMP/nginx/out" "$TMP/nginx/error.log" 2>/dev/null; die "nginx did not listen"; }

[ "$(curl -s --cacert "$PKI/cert.pem" "https://127.0.0.1:$WPORT/hello")" = hello ] || die "wippy does not answer hello over https"
[ "$(curl -s --cacert "$PKI/cert.pem" "https://127.0.0.1:$NPORT/hello")" = hello ] || die "nginx does not answer hello over https"

cat >"$TMP/done.lua" <<'LUA'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

# measure LABEL URL PID [WRK-ARGS...]: sets RPS and prints the line.
measure() {
	local label=$1 url=$2 pid=$3 out=$TMP/wrk.$1 r
	shift 3
	timeout 30 wrk -t"$THREADS" -c"$CONNS" -d1s -s "$TMP/done.lua" "$@" "$url" >/dev/null 2>&1
	timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$TMP/done.lua" "$@" "$url" >"$out" 2>&1
	kill -0 "$pid" 2>/dev/null || { cat "$out"; die "$label: the server died under load"; }
	r=$(grep '^RESULT ' "$out" | tail -n1)
	[ -n "$r" ] || { cat "$out"; die "$label: wrk printed no result"; }
	set -- $r
	RPS=$2
	printf "  %-6s %10.0f req/s   p50 %7.3f ms   p99 %7.3f ms   (%d non-2xx, %d socket errors)\n" \
		"$label" "$2" "$3" "$4" "$5" "$6"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "# wrk -t$THREADS -c$CONNS -d$DUR over https on 127.0.0.1, $(nproc) cpus; wippy --shards 2; nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), worker_processes 2; $(openssl version | cut -d' ' -f1-2), ECDSA P-256"
echo "keep-alive (GET /hello, 5 bytes)"
measure wippy "https://127.0.0.1:$WPORT/hello" "$WPID"
W=$RPS
measure nginx "https://127.0.0.1:$NPORT/hello" "$NGPID"
N=$RPS
echo "  ratio  wippy/nginx $(ratio "$W" "$N")"
echo "handshake per request (Connection: close)"
measure wippy "https://127.0.0.1:$WPORT/hello" "$WPID" -H "Connection: close"
W=$RPS
measure nginx "https://127.0.0.1:$NPORT/hello" "$NGPID" -H "Connection: close"
N=$RPS
echo "  ratio  wippy/nginx $(ratio "$W" "$N")"
