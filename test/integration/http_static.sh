#!/usr/bin/env bash
# test/integration/http_static.sh: http.static mounts and lifecycle.auto_start.
#
# The fixture (test/fixtures/http/static) mounts public/ at /static (with a
# Cache-Control) and an SPA at /. With curl and raw sockets:
#   - files: body, Content-Type by extension, ETag, Last-Modified,
#     Cache-Control, Accept-Ranges; HEAD has the headers and no body;
#   - 304 for If-None-Match (the ETag, a list, "*") and If-Modified-Since;
#     a bad date or a foreign ETag gets 200;
#   - Range: 206 with Content-Range (a-b, a-, -n, clamped end), 416 for a
#     range past the end and for malformed ones, If-Range that does not
#     match gets 200, several ranges get the whole file;
#   - a 3 MB file arrives whole and identical, and a reader that takes
#     nothing for a while does not make the server hold it in memory;
#   - a file removed while it is being sent is still sent whole (the
#     descriptor is open), and is 404 afterwards;
#   - directories: /static/sub redirects to /static/sub/, which serves
#     its index; the mount itself redirects to /static/;
#   - escapes: .., %2e%2e, %2f..%2f, a symlink out of the root, an
#     absolute symlink, a NUL: 404 or 400, never a file outside the root;
#     a symlink inside the root is served;
#   - SPA: an unknown path gets index.html (text/html), an existing file
#     itself; POST gets 405;
#   - dormant (auto_start false): its port does not listen; backend (not
#     auto_start, but the gateway depends on it) listens;
#   - an http.static over an fs.embed is a warning, not a load error.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v python3 >/dev/null || skip "python3 is missing"
command -v curl >/dev/null || skip "curl is missing"
lib_tmpdir

APP=$TMP/app
ERR=$TMP/err
# The big files and the links are made per run: git keeps neither well.
make_files() {
	head -c 3000000 /dev/urandom >"$APP/public/big.bin"
	head -c 2000000 /dev/urandom >"$APP/public/doomed.bin"
	mkdir -p "$TMP/outside"
	echo "SECRET outside the root" >"$TMP/outside/secret.txt"
	ln -s "$TMP/outside/secret.txt" "$APP/public/abs_link.txt"
	ln -s ../../outside/secret.txt "$APP/public/rel_link.txt"
	ln -s hello.txt "$APP/public/inner_link.txt"
}
lib_start_app "$LIB_ROOT/test/fixtures/http/static" make_files
URL=http://127.0.0.1:$PORT


# ---- files -----------------------------------------------------------------
s=$(lib_get f "$URL/static/hello.txt"); lib_status_is "$s" 200 f
[ "$(cat "$TMP/f.b")" = "hello static" ] || die "hello.txt body"
[ "$(lib_header Content-Type f)" = "text/plain; charset=utf-8" ] || die "txt type: $(lib_header Content-Type f)"
[ "$(lib_header Cache-Control f)" = "public, max-age=60" ] || die "Cache-Control from static_options.cache"
[ "$(lib_header Accept-Ranges f)" = "bytes" ] || die "Accept-Ranges"
[ "$(lib_header Content-Length f)" = "13" ] || die "Content-Length"
ETAG=$(lib_header ETag f)
LM=$(lib_header Last-Modified f)
[ -n "$ETAG" ] && [ -n "$LM" ] || die "ETag and Last-Modified"
s=$(lib_get css "$URL/static/style.css"); lib_status_is "$s" 200 css
[ "$(lib_header Content-Type css)" = "text/css; charset=utf-8" ] || die "css type"
s=$(lib_get js "$URL/static/data.json"); lib_status_is "$s" 200 js
[ "$(lib_header Content-Type js)" = "application/json" ] || die "json type"
s=$(lib_get bin "$URL/static/big.bin"); lib_status_is "$s" 200 bin
[ "$(lib_header Content-Type bin)" = "application/octet-stream" ] || die "unknown type"
cmp -s "$TMP/bin.b" "$APP/public/big.bin" || die "big.bin differs"
s=$(lib_get head -I "$URL/static/big.bin"); lib_status_is "$s" 200 head
[ "$(lib_header Content-Length head)" = "3000000" ] || die "HEAD Content-Length"
# With -I curl writes the head to -o as well: anything more would be a body.
cmp -s "$TMP/head.h" "$TMP/head.b" || die "HEAD has a body"

# ---- conditional requests ---------------------------------------------------
s=$(lib_get c1 -H "If-None-Match: $ETAG" "$URL/static/hello.txt"); lib_status_is "$s" 304 c1
[ ! -s "$TMP/c1.b" ] || die "304 with a body"
[ "$(lib_header ETag c1)" = "$ETAG" ] || die "304 keeps the ETag"
s=$(lib_get c2 -H "If-None-Match: \"nope\", $ETAG" "$URL/static/hello.txt"); lib_status_is "$s" 304 c2
s=$(lib_get c3 -H 'If-None-Match: *' "$URL/static/hello.txt"); lib_status_is "$s" 304 c3
s=$(lib_get c4 -H 'If-None-Match: "other"' "$URL/static/hello.txt"); lib_status_is "$s" 200 c4
s=$(lib_get c5 -H "If-Modified-Since: $LM" "$URL/static/hello.txt"); lib_status_is "$s" 304 c5
s=$(lib_get c6 -H 'If-Modified-Since: Mon, 01 Jan 1990 00:00:00 GMT' "$URL/static/hello.txt"); lib_status_is "$s" 200 c6
s=$(lib_get c7 -H 'If-Modified-Since: yesterday-ish' "$URL/static/hello.txt"); lib_status_is "$s" 200 c7
s=$(lib_get c8 -H 'If-None-Match: garbage' "$URL/static/hello.txt"); lib_status_is "$s" 200 c8
# If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
s=$(lib_get c9 -H 'If-None-Match: "other"' -H "If-Modified-Since: $LM" "$URL/static/hello.txt"); lib_status_is "$s" 200 c9

# ---- ranges ----------------------------------------------------------------
s=$(lib_get r1 -H 'Range: bytes=0-4' "$URL/static/hello.txt"); lib_status_is "$s" 206 r1
[ "$(cat "$TMP/r1.b")" = "hello" ] || die "range 0-4 body"
[ "$(lib_header Content-Range r1)" = "bytes 0-4/13" ] || die "Content-Range: $(lib_header Content-Range r1)"
s=$(lib_get r2 -H 'Range: bytes=6-' "$URL/static/hello.txt"); lib_status_is "$s" 206 r2
[ "$(cat "$TMP/r2.b")" = "static" ] || die "range 6- body"
s=$(lib_get r3 -H 'Range: bytes=-7' "$URL/static/hello.txt"); lib_status_is "$s" 206 r3
[ "$(cat "$TMP/r3.b")" = "static" ] || die "suffix range body"
s=$(lib_get r4 -H 'Range: bytes=10-1000' "$URL/static/hello.txt"); lib_status_is "$s" 206 r4
[ "$(lib_header Content-Range r4)" = "bytes 10-12/13" ] || die "clamped range"
s=$(lib_get r5 -H 'Range: bytes=13-' "$URL/static/hello.txt"); lib_status_is "$s" 416 r5
[ "$(lib_header Content-Range r5)" = "bytes */13" ] || die "416 Content-Range"
for bad in 'bytes=5-2' 'bytes=abc' 'bytes=-0' 'items=0-1' 'bytes=--1'; do
	s=$(lib_get rb -H "Range: $bad" "$URL/static/hello.txt"); lib_status_is "$s" 416 rb
done
s=$(lib_get r6 -H 'Range: bytes=0-1,4-5' "$URL/static/hello.txt"); lib_status_is "$s" 200 r6
s=$(lib_get r7 -H 'Range: bytes=0-4' -H 'If-Range: "stale"' "$URL/static/hello.txt"); lib_status_is "$s" 200 r7
s=$(lib_get r8 -H 'Range: bytes=0-4' -H "If-Range: $ETAG" "$URL/static/hello.txt"); lib_status_is "$s" 206 r8
s=$(lib_get r9 -H 'Range: bytes=1000000-1000099' "$URL/static/big.bin"); lib_status_is "$s" 206 r9
cmp -s "$TMP/r9.b" <(tail -c +1000001 "$APP/public/big.bin" | head -c 100) || die "big range differs"

# ---- a slow reader, a removed file ------------------------------------------
cat >"$TMP/slow.py" <<'PY'
import socket, sys, time, os
port, path, want, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
def rss():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
before = rss()
time.sleep(1.0)           # read nothing: the server must wait, not buffer
grown = rss() - before
if len(sys.argv) > 5:
    os.unlink(sys.argv[5])  # removed while being sent
buf = b""
s.settimeout(10)
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
head, body = buf.split(b"\r\n\r\n", 1)
while len(body) < want:
    d = s.recv(1 << 20)
    if not d:
        break
    body += d
assert head.startswith(b"HTTP/1.1 200"), head
assert len(body) == want, (len(body), want)
sys.stdout.buffer.write(body)
sys.stderr.write("grown %d KiB\n" % grown)
assert grown < 2048, "server RSS grew by %d KiB for a reader that reads nothing" % grown
PY
cp "$APP/public/doomed.bin" "$TMP/doomed.copy"
python3 "$TMP/slow.py" "$PORT" /static/doomed.bin 2000000 "$PID" "$APP/public/doomed.bin" \
	>"$TMP/doomed.b" 2>"$TMP/slow.err" || { show slow "$TMP/slow.err"; die "slow reader / removed file"; }
cmp -s "$TMP/doomed.b" "$TMP/doomed.copy" || die "a file removed while sent arrived different"
s=$(lib_get gone "$URL/static/doomed.bin"); lib_status_is "$s" 404 gone

# ---- directories -------------------------------------------------------------
s=$(lib_get d1 "$URL/static/sub"); lib_status_is "$s" 301 d1
[ "$(lib_header Location d1)" = "/static/sub/" ] || die "directory redirect: $(lib_header Location d1)"
s=$(lib_get d2 "$URL/static/sub/"); lib_status_is "$s" 200 d2
grep -q "sub index" "$TMP/d2.b" || die "directory index"
[ "$(lib_header Content-Type d2)" = "text/html; charset=utf-8" ] || die "index type"
s=$(lib_get d3 "$URL/static"); lib_status_is "$s" 301 d3
[ "$(lib_header Location d3)" = "/static/" ] || die "mount redirect"
s=$(lib_get d4 "$URL/static/"); lib_status_is "$s" 404 d4  # public/ has no index.html

# ---- escapes -----------------------------------------------------------------
for p in "/static/../src/_index.yaml" "/static/%2e%2e/src/_index.yaml" \
	 "/static/sub/%2E%2E/%2e%2e/src/handlers.lua" "/static/..%2f..%2foutside/secret.txt" \
	 "/static/abs_link.txt" "/static/rel_link.txt" "/static/sub/../../src/_index.yaml" \
	 "/%2e%2e/%2e%2e/etc/passwd"; do
	s=$(lib_get esc "$URL$p")
	case $s in 404|403|400) ;; *) show body "$TMP/esc.b"; die "$p: status $s" ;; esac
	if grep -q -e SECRET -e "kind: http" -e "root:" "$TMP/esc.b"; then die "$p leaked a file"; fi
done
s=$(lib_get nul "$URL/static/hello.txt%00.css"); lib_status_is "$s" 400 nul
s=$(lib_get bad "$URL/static/%zz"); lib_status_is "$s" 400 bad
s=$(lib_get inner "$URL/static/inner_link.txt"); lib_status_is "$s" 200 inner
[ "$(cat "$TMP/inner.b")" = "hello static" ] || die "symlink inside the root"

# ---- SPA -----------------------------------------------------------------------
s=$(lib_get s1 "$URL/users/123"); lib_status_is "$s" 200 s1
grep -q "<html>spa</html>" "$TMP/s1.b" || die "SPA fallback body"
[ "$(lib_header Content-Type s1)" = "text/html; charset=utf-8" ] || die "SPA fallback type"
s=$(lib_get s2 "$URL/app.js"); lib_status_is "$s" 200 s2
grep -q "console.log" "$TMP/s2.b" || die "SPA serves existing files"
[ "$(lib_header Content-Type s2)" = "text/javascript; charset=utf-8" ] || die "js type"
s=$(lib_get s3 "$URL/"); lib_status_is "$s" 200 s3
grep -q "<html>spa</html>" "$TMP/s3.b" || die "SPA root"
s=$(lib_get s4 -X POST "$URL/app.js"); lib_status_is "$s" 405 s4
[ "$(lib_header Allow s4)" = "GET, HEAD" ] || die "405 Allow"
# A route of the router still wins over the mount at /.
s=$(lib_get s5 -H 'X-Client: spa' "$URL/api/hello"); lib_status_is "$s" 200 s5
[ "$(cat "$TMP/s5.b")" = "hello" ] || die "route beside the SPA mount"

# ---- lifecycle.auto_start -------------------------------------------------------
expect_regex stderr "$ERR" "app:dormant: not started"
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT2/"; then
	die "the dormant http.service (auto_start false) listens"
fi
expect_regex stderr "$ERR" "app:backend listening on 127\.0\.0\.1:$PORT3"
s=$(lib_get be "http://127.0.0.1:$PORT3/"); lib_status_is "$s" 404 be   # bound, no routes
# An http.static over another fs kind: warned, not served (the SPA answers).
expect_regex stderr "$ERR" "http.static over fs.embed \(app:embedded\) is not served"

kill -INT "$PID"
wait_exit 10 "$PID"
[ "$EXIT_RC" = 0 ] || { show stderr "$ERR"; die "exit after SIGINT: $EXIT_RC"; }
check_no_sanitizer stderr "$ERR"   # after the exit: leak reports come then
echo "ok http_static"
