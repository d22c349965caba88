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

. "$ROOT/bench/lib/common.sh"
bench_init tls

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
mkdir -p "$APP/certs" "$APP/public"
cp "$PKI/cert.pem" "$PKI/key.pem" "$APP/certs/"
WPORT=$(free_port)
sed -i "s/__PORT__/$WPORT/" "$APP/src/_index.yaml"
(cd "$APP" && exec "$WIPPY" run --shards 2 </dev/null >"$TMP/wippy.out" 2>"$TMP/wippy.err") &
WPID=$!
PIDS+=("$WPID")
wait_port "$WPORT" "$WPID" || { tail -n 20 "$TMP/wippy.err"; die "wippy did not listen"; }

# ---- nginx -------------------------------------------------------------------------
NPORT=$(free_port)
bench_nginx "$NPORT" "ssl;
        ssl_certificate $PKI/cert.pem;
        ssl_certificate_key $PKI/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        default_type text/plain;
        location = /hello { return 200 \"hello\"; }"

[ "$(curl -s --cacert "$PKI/cert.pem" "https://127.0.0.1:$WPORT/hello")" = hello ] || die "wippy does not answer hello over https"
[ "$(curl -s --cacert "$PKI/cert.pem" "https://127.0.0.1:$NPORT/hello")" = hello ] || die "nginx does not answer hello over https"

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
