#!/usr/bin/env bash
# test/integration/http_tls.sh: http.service with tls (runtime/htls.c).
#
# The fixture (test/fixtures/http/tls) serves over TLS with a self-signed
# certificate made here with `openssl req`. Checks:
#   - curl --cacert: GET, a POST body (small and 300 KiB, many records;
#     behind Expect: 100-continue too), a static file,
#     two requests on one connection (keep-alive), an SSE stream and a
#     4 MiB response in 64 KiB flushes arrive whole;
#   - openssl s_client: the handshake verifies against the certificate, over
#     TLS 1.3 and over TLS 1.2;
#   - plain HTTP on the port is answered 400 in clear and closed, garbage
#     and a client that leaves mid-handshake close their connection only:
#     the server goes on serving;
#   - SIGHUP with a new certificate: new connections see it (fingerprints
#     by s_client), a connection opened before goes on with the old one;
#     SIGHUP with a broken key: the certificate stays, an error is logged;
#   - boot: a bad key file, a missing certificate, a key that does not
#     match, tls with one file only and a bad min_version are clear
#     errors naming the file or field, and nothing starts; min_version
#     "1.3" refuses a TLS 1.2 client.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
for c in python3 curl openssl; do
	command -v $c >/dev/null || skip "$c is missing"
done
lib_tmpdir

APP=$TMP/app
ERR=$TMP/err

# A self-signed certificate for localhost/127.0.0.1: cert KIND DIR NAME.
cert() {
	local alg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	[ "$1" = rsa ] && alg=(-newkey rsa:2048)
	openssl req -x509 "${alg[@]}" -nodes -days 2 -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout "$2/$3.key" -out "$2/$3.pem" 2>/dev/null
}
mkdir -p "$TMP/pki"
cert ec "$TMP/pki" one
cert rsa "$TMP/pki" two
prepare() {
	mkdir -p "$APP/certs" "$APP/public"
	head -c $((600 * 1024 + 7)) /dev/urandom >"$APP/public/blob.bin"
	cp "$TMP/pki/one.pem" "$APP/certs/cert.pem"
	cp "$TMP/pki/one.key" "$APP/certs/key.pem"
}
lib_start_app "$LIB_ROOT/test/fixtures/http/tls" prepare
URL=https://127.0.0.1:$PORT
CA=(--cacert "$TMP/pki/one.pem")

fingerprint_of() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
served_fingerprint() {
	echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
		2>/dev/null | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2
}

# ---- requests -----------------------------------------------------------

st=$(lib_get hello "${CA[@]}" --max-time 5 "$URL/hello")
lib_status_is "$st" 200 hello
[ "$(cat "$TMP/hello.b")" = hello ] || die "GET /hello: body '$(cat "$TMP/hello.b")'"

st=$(lib_get echo "${CA[@]}" --max-time 5 --data-binary 'name=tls&n=1' "$URL/echo")
lib_status_is "$st" 200 echo
[ "$(cat "$TMP/echo.b")" = 'name=tls&n=1' ] || die "POST /echo: body '$(cat "$TMP/echo.b")'"

python3 -c 'import sys; sys.stdout.write("".join(chr(97 + i % 26) for i in range(300 * 1024)))' >"$TMP/big.in"
st=$(lib_get echo2 "${CA[@]}" --max-time 10 --data-binary "@$TMP/big.in" "$URL/echo")
lib_status_is "$st" 200 echo2
[ "$(lib_header X-Length echo2)" = $((300 * 1024)) ] || die "POST 300 KiB: X-Length $(lib_header X-Length echo2)"
cmp -s "$TMP/big.in" "$TMP/echo2.b" || die "POST 300 KiB: the echo differs"
# The same behind Expect: 100-continue (the interim answer is encrypted too).
st=$(lib_get echo3 "${CA[@]}" --max-time 10 -H "Expect: 100-continue" --data-binary "@$TMP/big.in" "$URL/echo")
lib_status_is "$st" 200 echo3
cmp -s "$TMP/big.in" "$TMP/echo3.b" || die "POST with 100-continue: the echo differs"

# Two requests, one connection: the second connects nothing.
curl -sS "${CA[@]}" --max-time 5 -w '|%{num_connects}\n' "$URL/hello" "$URL/hello" >"$TMP/ka" \
	|| die "keep-alive: curl failed"
[ "$(cat "$TMP/ka")" = "$(printf 'hello|1\nhello|0')" ] || { show out "$TMP/ka"; die "keep-alive: not one connection for two requests"; }

curl -sS -N "${CA[@]}" --max-time 5 "$URL/sse" >"$TMP/sse" || die "sse: curl failed"
[ "$(count_regex "$TMP/sse" '^event: tick$')" = 3 ] || { show sse "$TMP/sse"; die "sse: not three events"; }
expect_fixed sse "$TMP/sse" 'data: {"n":3}'

n=$(curl -sS "${CA[@]}" --max-time 20 "$URL/big" | wc -c) || die "big: curl failed"
[ "$n" = $((64 * 65536)) ] || die "big: $n bytes, expected $((64 * 65536))"

# A static file larger than a piece (runtime/httpd.c's FILE_CHUNK).
curl -sS "${CA[@]}" --max-time 10 -o "$TMP/blob" "$URL/files/blob.bin" || die "static file: curl failed"
cmp -s "$TMP/blob" "$APP/public/blob.bin" || die "static file: the body differs"

# ---- openssl s_client ----------------------------------------------------

echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	-CAfile "$TMP/pki/one.pem" >"$TMP/sc13" 2>&1 || true
expect_fixed "s_client" "$TMP/sc13" "Verify return code: 0 (ok)"
expect_fixed "s_client" "$TMP/sc13" "TLSv1.3"
echo | timeout 5 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" -servername localhost \
	-CAfile "$TMP/pki/one.pem" >"$TMP/sc12" 2>&1 || true
expect_fixed "s_client -tls1_2" "$TMP/sc12" "Verify return code: 0 (ok)"
expect_regex "s_client -tls1_2" "$TMP/sc12" "Protocol *: TLSv1\.2"

# ---- what is not TLS -----------------------------------------------------

st=$(lib_get plain --max-time 5 "http://127.0.0.1:$PORT/hello")
lib_status_is "$st" 400 plain
expect_fixed "plain HTTP" "$TMP/plain.b" "plain HTTP request was sent to TLS port"

cat >"$TMP/rude.py" <<'PY'
import socket, sys
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    return s
def drained(s):
    # The server must close: read until the end (or a reset).
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    s.close()
# garbage instead of a ClientHello
s = conn(); s.sendall(b"\x00\x01garbage\xff" * 50); drained(s)
# a record header that promises a ClientHello, then nothing: leave
s = conn(); s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"); s.close()
# connect and leave at once
s = conn(); s.close()
# a half-closed connection mid-handshake: the server closes it
s = conn(); s.sendall(b"\x16\x03\x01\x02\x00\x01"); s.shutdown(socket.SHUT_WR); drained(s)
print("ok")
PY
[ "$(timeout 20 python3 "$TMP/rude.py" "$PORT")" = ok ] || die "rude clients: the server did not close them"
st=$(lib_get after "${CA[@]}" --max-time 5 "$URL/hello")
lib_status_is "$st" 200 after
lib_alive "$PID" || die "the server died after bad clients"

# ---- SIGHUP --------------------------------------------------------------

[ "$(served_fingerprint)" = "$(fingerprint_of "$TMP/pki/one.pem")" ] || die "the served certificate is not the first"

# A connection opened before the reload, used after it.
cat >"$TMP/old.py" <<'PY'
import socket, ssl, sys, time
port, ca, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
s.settimeout(10)
def get():
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while not buf.endswith(b"hello"):
        d = s.recv(4096)
        if not d:
            raise SystemExit("closed")
        buf += d
get()
print("open", flush=True)
for _ in range(100):
    try:
        open(go).close()
        break
    except OSError:
        time.sleep(0.1)
get()
print("still", flush=True)
PY
python3 "$TMP/old.py" "$PORT" "$TMP/pki/one.pem" "$TMP/go" >"$TMP/old.out" 2>&1 &
OLD=$!
lib_track "$OLD"
wait_for_line 10 "$OLD" "$TMP/old.out" '^open$' || die "old connection: did not open"

cp "$TMP/pki/two.pem" "$APP/certs/cert.pem"
cp "$TMP/pki/two.key" "$APP/certs/key.pem"
kill -HUP "$PID"
wait_for_line 10 "$PID" "$ERR" "tls certificate reloaded" || die "SIGHUP: no reload logged"
expect_fixed "reload log" "$ERR" "$(fingerprint_of "$TMP/pki/two.pem")"
[ "$(served_fingerprint)" = "$(fingerprint_of "$TMP/pki/two.pem")" ] || die "SIGHUP: new connections do not see the new certificate"
st=$(lib_get new --cacert "$TMP/pki/two.pem" --max-time 5 "$URL/hello")
lib_status_is "$st" 200 new
touch "$TMP/go"
wait_exit 10 "$OLD"
[ "$EXIT_RC" = 0 ] || { show old "$TMP/old.out"; die "old connection: failed after the reload ($EXIT_RC)"; }
expect_fixed "old connection" "$TMP/old.out" still

echo "not a key" >"$APP/certs/key.pem"
kill -HUP "$PID"
wait_for_line 10 "$PID" "$ERR" "tls reload failed" || die "SIGHUP with a broken key: no error logged"
expect_regex "reload error" "$ERR" 'ERROR.*tls reload failed.*certs/key\.pem'
[ "$(served_fingerprint)" = "$(fingerprint_of "$TMP/pki/two.pem")" ] || die "broken reload: the certificate changed"
st=$(lib_get kept --cacert "$TMP/pki/two.pem" --max-time 5 "$URL/hello")
lib_status_is "$st" 200 kept
lib_alive "$PID" || die "the server died on SIGHUP"

kill -TERM "$PID"
wait_exit 15 "$PID"
[ "$EXIT_RC" = 0 ] || die "shutdown: exit $EXIT_RC"
check_no_sanitizer stderr "$ERR"

# ---- boot errors ---------------------------------------------------------

# boot NAME EXPECT SETUP...: run the fixture after SETUP (shell code, in
# the app directory); it must fail promptly with EXPECT (ERE) on stderr.
boot() {
	local name=$1 expect=$2 rc=0
	shift 2
	rm -rf "$TMP/b"
	lib_copy_app "$LIB_ROOT/test/fixtures/http/tls" "$TMP/b"
	mkdir -p "$TMP/b/certs" "$TMP/b/public"
	cp "$TMP/pki/one.pem" "$TMP/b/certs/cert.pem"
	cp "$TMP/pki/one.key" "$TMP/b/certs/key.pem"
	sed -i "s/__PORT__/$(lib_free_port)/" "$TMP/b/src/_index.yaml"
	(cd "$TMP/b" && eval "$*")
	(cd "$TMP/b" && timeout 15 "$WIPPY" run --shards 2 </dev/null >"$TMP/b.out" 2>"$TMP/b.err") || rc=$?
	check_failed "$name" "$rc"
	check_no_sanitizer "$name" "$TMP/b.err"
	expect_regex "$name" "$TMP/b.err" "$expect"
}
boot "bad key" 'tls\.key_file "certs/key\.pem": not a PEM private key' \
	'echo garbage >certs/key.pem'
boot "missing cert" 'tls\.cert_file "certs/cert\.pem": No such file' \
	'rm certs/cert.pem'
boot "key of another cert" 'tls\.key_file "certs/key\.pem"' \
	"cp '$TMP/pki/two.key' certs/key.pem"
boot "one file only" 'tls needs both cert_file and key_file' \
	"sed -i '/key_file/d' src/_index.yaml"
boot "bad min_version" 'tls\.min_version.*"1\.1"' \
	"sed -i 's|key_file: certs/key.pem|key_file: certs/key.pem\n      min_version: \"1.1\"|' src/_index.yaml"

# min_version 1.3: a TLS 1.2 client is refused, TLS 1.3 goes on.
prepare13() {
	prepare
	sed -i 's|key_file: certs/key.pem|key_file: certs/key.pem\n      min_version: "1.3"|' "$APP/src/_index.yaml"
}
lib_start_app "$LIB_ROOT/test/fixtures/http/tls" prepare13
echo | timeout 5 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
	-CAfile "$TMP/pki/one.pem" >"$TMP/sc12b" 2>&1 || true
expect_fixed "min_version 1.3" "$TMP/sc12b" "no peer certificate available"
st=$(lib_get v13 "${CA[@]}" --max-time 5 "https://127.0.0.1:$PORT/hello")
lib_status_is "$st" 200 v13
kill -TERM "$PID"
wait_exit 15 "$PID"
[ "$EXIT_RC" = 0 ] || die "shutdown: exit $EXIT_RC"
check_no_sanitizer stderr "$ERR"

echo "http_tls: ok"
