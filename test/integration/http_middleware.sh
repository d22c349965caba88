#!/usr/bin/env bash
# test/integration/http_middleware.sh: router middleware (cors, compress,
# ratelimit, real_ip) and their load-time checks.
#
# The fixture (test/fixtures/http/static) has a router /api with
# [real_ip, cors, compress, ratelimit] and a router /open with real_ip
# trusting 10.0.0.0/8 only. With curl:
#   - cors: a preflight from an allowed origin (exact, *.sub.example) is
#     answered 204 with the allow headers and Vary; from another origin it
#     gets none of them; an actual request gets Allow-Origin, Expose and
#     Credentials, and the handler's own headers stay;
#   - compress on an http.static mount: a text file is gzip'd whole with a
#     weak ETag (304 on it), ranges and plain clients get the file as is;
#   - compress: a 4 KB text body is gzip when the client accepts it
#     (curl --compressed decodes it to the same bytes), plain otherwise;
#     a body under compress.min.length is never compressed;
#   - ratelimit: burst 3 per X-Client key, then 429 with X-RateLimit-Limit
#     and -Window; another key is not limited; no key is 400;
#   - real_ip: X-Forwarded-For's first address becomes remote_addr when
#     the peer (127.0.0.1) is trusted, and is ignored where it is not;
#   - load errors at file:line:col from `wippy lint`: an unknown name, a
#     name the original has but this runtime does not run (sendfile),
#     token_auth without its store,
#     bad option values (ratelimit.requests, compress.level,
#     cors.allow.credentials, real_ip.trusted.subnets, ratelimit.key),
#     middleware that is not a list, an http.static whose fs is not an
#     fs.directory, spa without index.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v python3 >/dev/null || skip "python3 is missing"
command -v curl >/dev/null || skip "curl is missing"
lib_tmpdir

APP=$TMP/app
ERR=$TMP/err
# A text file of several read pieces (256 KiB each), to gzip whole.
make_text() {
	python3 -c 'import sys
for i in range(30000): sys.stdout.write("line %d of a long text file\n" % i)' >"$APP/public/long.txt"
}
lib_start_app "$LIB_ROOT/test/fixtures/http/static" make_text
URL=http://127.0.0.1:$PORT


# ---- cors ----------------------------------------------------------------------
s=$(lib_get p1 -X OPTIONS -H 'Origin: https://good.example' -H 'Access-Control-Request-Method: POST' \
	"$URL/api/hello"); lib_status_is "$s" 204 p1
[ "$(lib_header Access-Control-Allow-Origin p1)" = "https://good.example" ] || die "preflight origin"
[ "$(lib_header Access-Control-Allow-Methods p1)" = "GET,POST,PUT,DELETE,OPTIONS,PATCH" ] || die "preflight methods"
[ -n "$(lib_header Access-Control-Allow-Headers p1)" ] || die "preflight headers"
[ "$(lib_header Access-Control-Max-Age p1)" = "86400" ] || die "preflight max age"
[ "$(lib_header Access-Control-Allow-Credentials p1)" = "true" ] || die "preflight credentials"
lib_header Vary p1 | grep -q "Access-Control-Request-Method" || die "preflight Vary"
lib_no_header Content-Length p1
s=$(lib_get p2 -X OPTIONS -H 'Origin: https://x.sub.example' -H 'Access-Control-Request-Method: GET' \
	"$URL/api/big"); lib_status_is "$s" 204 p2
[ "$(lib_header Access-Control-Allow-Origin p2)" = "https://x.sub.example" ] || die "wildcard subdomain"
# Not answered by cors, so the rest of the chain runs: ratelimit needs its key.
s=$(lib_get p3 -X OPTIONS -H 'X-Client: p3' -H 'Origin: https://sub.example' -H 'Access-Control-Request-Method: GET' \
	"$URL/api/big"); lib_status_is "$s" 204 p3
lib_no_header Access-Control-Allow-Origin p3   # *.sub.example needs a real subdomain
s=$(lib_get p4 -X OPTIONS -H 'X-Client: p4' -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: GET' \
	"$URL/api/hello"); lib_status_is "$s" 204 p4
lib_no_header Access-Control-Allow-Origin p4
lib_no_header Access-Control-Allow-Methods p4
s=$(lib_get a1 -H 'Origin: https://good.example' -H 'X-Client: cors' "$URL/api/hello"); lib_status_is "$s" 200 a1
[ "$(lib_header Access-Control-Allow-Origin a1)" = "https://good.example" ] || die "actual origin"
[ "$(lib_header Access-Control-Expose-Headers a1)" = "X-Count" ] || die "expose headers"
[ "$(lib_header Vary a1)" = "Origin" ] || die "actual Vary"
[ "$(lib_header X-Count a1)" = "1" ] || die "handler header lost"
s=$(lib_get a2 -H 'Origin: https://evil.example' -H 'X-Client: cors' "$URL/api/hello"); lib_status_is "$s" 200 a2
lib_no_header Access-Control-Allow-Origin a2
# OPTIONS on a path without middleware: 204 all the same, no CORS headers.
s=$(lib_get a3 -X OPTIONS -H 'Origin: https://good.example' -H 'Access-Control-Request-Method: GET' \
	"$URL/open/remote"); lib_status_is "$s" 204 a3
lib_no_header Access-Control-Allow-Origin a3

# ---- compress --------------------------------------------------------------------
s=$(lib_get z1 -H 'Accept-Encoding: gzip' -H 'X-Client: z1' "$URL/api/big"); lib_status_is "$s" 200 z1
[ "$(lib_header Content-Encoding z1)" = "gzip" ] || die "no gzip with Accept-Encoding: gzip"
lib_header Vary z1 | grep -q "Accept-Encoding" || die "gzip without Vary"
[ "$(wc -c <"$TMP/z1.b")" -lt 1000 ] || die "gzip body not smaller"
gzip -dc <"$TMP/z1.b" >"$TMP/z1.txt" || die "gzip body does not decode"
[ "$(wc -c <"$TMP/z1.txt")" = 4200 ] || die "decoded size $(wc -c <"$TMP/z1.txt")"
s=$(lib_get z2 --compressed -H 'X-Client: z2' "$URL/api/big"); lib_status_is "$s" 200 z2
cmp -s "$TMP/z2.b" "$TMP/z1.txt" || die "curl --compressed decodes to other bytes"
s=$(lib_get z3 -H 'X-Client: z3' "$URL/api/big"); lib_status_is "$s" 200 z3
lib_no_header Content-Encoding z3
[ "$(wc -c <"$TMP/z3.b")" = 4200 ] || die "plain body size"
s=$(lib_get z4 -H 'Accept-Encoding: gzip;q=0, br' -H 'X-Client: z4' "$URL/api/big"); lib_status_is "$s" 200 z4
lib_no_header Content-Encoding z4
s=$(lib_get z5 -H 'Accept-Encoding: gzip' -H 'X-Client: z5' "$URL/api/hello"); lib_status_is "$s" 200 z5
lib_no_header Content-Encoding z5   # 5 bytes: under compress.min.length

# On an http.static mount: a whole file of a text type, gzip'd with a weak
# ETag; not a range, not HEAD, not a binary type, not without Accept-Encoding.
s=$(lib_get zs1 -H 'Accept-Encoding: gzip' "$URL/static/style.css"); lib_status_is "$s" 200 zs1
[ "$(lib_header Content-Encoding zs1)" = "gzip" ] || die "static file not gzip'd"
lib_header ETag zs1 | grep -q '^W/"' || die "gzip'd file without a weak ETag"
[ "$(gzip -dc <"$TMP/zs1.b")" = "body{color:red}" ] || die "static gzip does not decode"
WTAG=$(lib_header ETag zs1)
s=$(lib_get zs2 -H 'Accept-Encoding: gzip' -H "If-None-Match: $WTAG" "$URL/static/style.css"); lib_status_is "$s" 304 zs2
s=$(lib_get zs3 --compressed "$URL/static/style.css"); lib_status_is "$s" 200 zs3
[ "$(cat "$TMP/zs3.b")" = "body{color:red}" ] || die "curl --compressed on a static file"
s=$(lib_get zs4 -H 'Accept-Encoding: gzip' -H 'Range: bytes=0-3' "$URL/static/style.css"); lib_status_is "$s" 206 zs4
lib_no_header Content-Encoding zs4
s=$(lib_get zs6 --compressed "$URL/static/long.txt"); lib_status_is "$s" 200 zs6
[ "$(lib_header Content-Encoding zs6)" = "gzip" ] || die "long text not gzip'd"
cmp -s "$TMP/zs6.b" "$APP/public/long.txt" || die "long text: gzip of several pieces differs"
s=$(lib_get zs5 "$URL/static/style.css"); lib_status_is "$s" 200 zs5
lib_no_header Content-Encoding zs5
[ "$(lib_header Content-Length zs5)" = 16 ] || die "plain static length"

# ---- ratelimit ---------------------------------------------------------------------
for i in 1 2 3; do
	s=$(lib_get l$i -H 'X-Client: limited' "$URL/api/hello"); lib_status_is "$s" 200 l$i
done
s=$(lib_get l4 -H 'X-Client: limited' "$URL/api/hello"); lib_status_is "$s" 429 l4
[ "$(lib_header X-RateLimit-Limit l4)" = "1" ] || die "X-RateLimit-Limit"
[ "$(lib_header X-RateLimit-Window l4)" = "1h" ] || die "X-RateLimit-Window"
grep -q "Rate limit exceeded" "$TMP/l4.b" || die "429 body"
s=$(lib_get l5 -H 'X-Client: other' "$URL/api/hello"); lib_status_is "$s" 200 l5
s=$(lib_get l6 "$URL/api/hello"); lib_status_is "$s" 400 l6
grep -q "Rate limit key extraction failed" "$TMP/l6.b" || die "400 body"

# ---- real_ip -------------------------------------------------------------------------
s=$(lib_get ip1 -H 'X-Client: ip1' -H 'X-Forwarded-For: 203.0.113.7, 10.0.0.1' "$URL/api/remote"); lib_status_is "$s" 200 ip1
[ "$(cat "$TMP/ip1.b")" = "203.0.113.7" ] || die "real_ip from X-Forwarded-For: $(cat "$TMP/ip1.b")"
s=$(lib_get ip2 -H 'X-Client: ip2' -H 'X-Real-IP: 198.51.100.2' -H 'X-Forwarded-For: 203.0.113.7' "$URL/api/remote")
[ "$(cat "$TMP/ip2.b")" = "198.51.100.2" ] || die "X-Real-IP before X-Forwarded-For"
s=$(lib_get ip3 -H 'X-Client: ip3' -H 'X-Forwarded-For: not-an-ip' "$URL/api/remote")
grep -q "^127\.0\.0\.1:" "$TMP/ip3.b" || die "a bad X-Forwarded-For must leave the peer"
s=$(lib_get ip4 -H 'X-Forwarded-For: 203.0.113.7' "$URL/open/remote"); lib_status_is "$s" 200 ip4
grep -q "^127\.0\.0\.1:" "$TMP/ip4.b" || die "an untrusted peer's X-Forwarded-For was used"
# real_ip runs before ratelimit: the forwarded address is the limiter's ip key
# only under key ip; here the key is the header, so a new address does not help.
s=$(lib_get ip5 -H 'X-Client: limited' -H 'X-Forwarded-For: 192.0.2.99' "$URL/api/hello"); lib_status_is "$s" 429 ip5

kill -INT "$PID"
wait_exit 10 "$PID"
[ "$EXIT_RC" = 0 ] || { show stderr "$ERR"; die "exit after SIGINT: $EXIT_RC"; }
check_no_sanitizer stderr "$ERR"   # after the exit: leak reports come then

# ---- load errors -------------------------------------------------------------------------
# bad NAME BODY PATTERN: an app whose router (or static entry) is BODY must
# fail `wippy lint` with PATTERN on stderr, at a file:line:col.
bad() {
	local name=$1 body=$2 pat=$3 dir=$TMP/bad_$1 rc=0
	mkdir -p "$dir/src/pub"
	cp "$LIB_ROOT/test/fixtures/http/static/wippy.lock" "$dir/"
	cat >"$dir/src/_index.yaml" <<EOF
version: "1.0"
namespace: app
entries:
  - name: gateway
    kind: http.service
    addr: "127.0.0.1:1"
  - name: pub
    kind: fs.directory
    directory: ./src/pub
$body
EOF
	(cd "$dir" && timeout 15 "$WIPPY" lint >"$dir/out" 2>"$dir/err") || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -lt 126 ] || { show stderr "$dir/err"; die "$name: lint exit $rc"; }
	expect_regex "$name stderr" "$dir/err" "_index\.yaml:[0-9]+:[0-9]+: .*$pat"
	check_no_sanitizer "$name stderr" "$dir/err"
}
router() { # router MIDDLEWARE OPTIONS
	printf '  - name: api\n    kind: http.router\n    meta: {server: gateway}\n    middleware: %s\n    options: %s\n' "$1" "$2"
}
bad unknown "$(router '[cors, gzipper]' '{}')" 'unknown middleware "gzipper"'
bad token_auth "$(router '[token_auth]' '{}')" 'option token_auth.store is required'
bad requests "$(router '[ratelimit]' '{ratelimit.requests: "many"}')" 'ratelimit.requests must be a positive integer'
bad window "$(router '[ratelimit]' '{ratelimit.window: "soon"}')" 'ratelimit.window must be a duration'
bad key "$(router '[ratelimit]' '{ratelimit.key: "cookie:x"}')" 'ratelimit.key must be ip'
bad level "$(router '[compress]' '{compress.level: "max"}')" 'compress.level must be fastest, default or best'
bad minlen "$(router '[compress]' '{compress.min.length: -5}')" 'compress.min.length must be a positive integer'
bad cred "$(router '[cors]' '{cors.allow.credentials: "yes"}')" 'cors.allow.credentials must be "true" or "false"'
bad maxage "$(router '[cors]' '{cors.max.age: "1d"}')" 'cors.max.age must be a number'
bad subnets "$(router '[real_ip]' '{real_ip.trusted.subnets: "10.0.0.0/33"}')" 'is not a CIDR block'
bad notlist "$(router 'cors' '{}')" 'field "middleware" must be a list'
bad postmw "$(printf '  - name: api\n    kind: http.router\n    meta: {server: gateway}\n    post_middleware: [nope]\n')" 'post_middleware: unknown middleware "nope"'
bad staticfs "$(printf '  - name: st\n    kind: http.static\n    meta: {server: gateway}\n    path: /s\n    fs: gateway\n')" 'fs "gateway" must name an fs.directory'
bad spa "$(printf '  - name: st\n    kind: http.static\n    meta: {server: gateway}\n    path: /\n    fs: pub\n    static_options: {spa: true}\n')" 'index file must be specified for SPA mode'
bad path "$(printf '  - name: st\n    kind: http.static\n    meta: {server: gateway}\n    path: s\n    fs: pub\n')" 'field "path" must start with'
bad staticmw "$(printf '  - name: st\n    kind: http.static\n    meta: {server: gateway}\n    path: /s\n    fs: pub\n    middleware: [sendfile]\n')" 'middleware "sendfile" is not supported'
echo "ok http_middleware"
