#!/usr/bin/env bash
# test/integration/http_body.sh: request bodies.
#
# The fixture (test/fixtures/http/body) reads bodies as they arrive
# (req:stream), whole (req:body), under http.request{max_body=}, not at
# all, and as multipart forms. Over raw sockets (python3) and curl:
#   - stream: a 20 MiB upload read in pieces of at most 64 KiB; its sha256
#     matches, and read after the end gives nil, nil, after close an
#     Invalid error;
#   - backpressure: a handler that reads nothing for 1.5 s holds the
#     uploader back (it cannot push the 20 MiB through), then gets it all;
#   - slow: an uploader sending 200 KiB in 10 pieces 100 ms apart;
#   - whole: req:body() of a 5 MiB streamed body;
#   - too_large: 40 MiB past max_body_bytes (32 MiB): 413; 2000 bytes past
#     http.request{max_body = 1000}: body() and stream() give
#     "request body too large" (Invalid);
#   - ignore: a handler that ignores a small body, then a second request on
#     the same connection; one that ignores 200 KiB bodies (streamed, the
#     rest drained) keeps the connection for the next requests; one that
#     ignores 1 MiB answers with Connection: close and closes;
#   - stall: an uploader that stops mid-body is closed after the read
#     timeout (2 s), though its handler runs;
#   - timeout: req:body() under http.request{timeout = 500} of a body that
#     stops coming: a Timeout error after 500 ms; a body in time is read;
#   - gone: an uploader that leaves mid-body; the server goes on;
#   - multipart: two fields and two files (contents by sha256, names, sizes,
#     part headers) and a repeated field; bad input: not multipart (Invalid),
#     no boundary, a truncated body, parts past max_memory (Internal);
#   - shutdown: SIGINT with a handler parked on a body still arriving: exit 0;
#   - broken: a handler whose chunk fails at load (a require of a module
#     not in its modules:) answers 500 with the error instead of never.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v python3 >/dev/null || skip "python3 is missing"
command -v curl >/dev/null || skip "curl is missing"
lib_tmpdir

APP=$TMP/app
ERR=$TMP/err
lib_start_app "$LIB_ROOT/test/fixtures/http/body"

cat >"$TMP/client.py" <<'PY'
import hashlib, os, socket, sys, time
port, case = int(sys.argv[1]), sys.argv[2]

def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(20)
    return s

def response(s, buf=b""):
    """(status, headers, body, rest) of one Content-Length response."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed before the head")
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
    n = int(hdrs.get("content-length", "0"))
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed inside the body")
        buf += d
    return status, hdrs, buf[:n].decode(), buf[n:]

def post(s, path, body, pieces=1, pause=0.0):
    s.sendall(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (path.encode(), len(body)))
    step = max(1, len(body) // pieces)
    for i in range(0, len(body), step):
        s.sendall(body[i:i + step])
        if pause:
            time.sleep(pause)

def expect(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)

if case == "stream":
    body = os.urandom(20 << 20)
    s = conn()
    post(s, "/upload", body, pieces=40)
    st, h, b, _ = response(s)
    expect(st == 200, "status %d %s" % (st, b))
    n, reads, biggest, sha, eof, closed = b.split()
    expect(int(n) == len(body), "length " + n)
    expect(sha == hashlib.sha256(body).hexdigest(), "sha256 differs")
    expect(int(reads) > 40 and int(biggest) <= 65536, "reads %s biggest %s" % (reads, biggest))
    expect(eof == "true" and closed == "Invalid", "after the end: " + b)
    print("stream ok", reads, "reads")

elif case == "backpressure":
    body = os.urandom(20 << 20)
    s = conn()
    s.sendall(b"POST /upload?slow=1 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
    s.setblocking(False)
    sent, t0 = 0, time.time()
    while time.time() - t0 < 1.0 and sent < len(body):
        try:
            sent += s.send(body[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
    expect(sent < 16 << 20, "the server took %d bytes from a handler that reads nothing" % sent)
    s.setblocking(True)
    s.settimeout(20)
    s.sendall(body[sent:])
    st, h, b, _ = response(s)
    expect(st == 200 and b.split()[3] == hashlib.sha256(body).hexdigest(), "after the wait: %d %s" % (st, b))
    print("backpressure ok: %d MiB in 1 s" % (sent >> 20))

elif case == "slow":
    body = os.urandom(200 << 10)
    s = conn()
    post(s, "/upload", body, pieces=10, pause=0.1)
    st, h, b, _ = response(s)
    expect(st == 200 and b.split()[3] == hashlib.sha256(body).hexdigest(), "slow: %d %s" % (st, b))
    print("slow ok")

elif case == "whole":
    body = os.urandom(5 << 20)
    s = conn()
    post(s, "/whole", body, pieces=20)
    st, h, b, _ = response(s)
    expect(st == 200 and b == "%d %s" % (len(body), hashlib.sha256(body).hexdigest()), "whole: " + b)
    print("whole ok")

elif case == "too_large":
    s = conn()
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (40 << 20))
    st, h, b, _ = response(s)
    expect(st == 413, "40 MiB: %d" % st)
    s = conn()
    post(s, "/limited", b"x" * 2000)
    st, h, b, _ = response(s)
    expect(st == 413 and b == "request body too large|Invalid|true|request body too large",
           "max_body: %d %s" % (st, b))
    s = conn()
    post(s, "/limited", b"x" * 100)
    st, h, b, _ = response(s)
    expect(st == 200, "under max_body: %d %s" % (st, b))
    print("too_large ok")

elif case == "ignore":
    s = conn()
    post(s, "/ignore", b"y" * 100)
    st, h, b, rest = response(s)
    expect(st == 200 and b == "ignored", "first: %d %s" % (st, b))
    post(s, "/whole", b"z" * 10)
    st, h, b, _ = response(s, rest)
    expect(st == 200 and b == "10 " + hashlib.sha256(b"z" * 10).hexdigest(), "second: %d %s" % (st, b))
    # 200 KiB: streamed (past 64 KiB), its unread rest drained for keep-alive.
    s = conn()
    for i in range(3):
        post(s, "/ignore", os.urandom(200 << 10), pieces=4, pause=0.05)
        st, h, b, rest = response(s)
        expect(st == 200 and b == "ignored" and h.get("connection") != "close",
               "ignored 200 KiB #%d: %d %s" % (i, st, h))
    post(s, "/whole", b"z" * 10)
    st, h, b, _ = response(s, rest)
    expect(st == 200 and b == "10 " + hashlib.sha256(b"z" * 10).hexdigest(),
           "after the drained bodies: %d %s" % (st, b))
    s = conn()
    s.sendall(b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (1 << 20))
    s.sendall(b"y" * (200 << 10))
    st, h, b, rest = response(s)
    expect(st == 200 and h.get("connection") == "close", "large ignored: %d %s" % (st, h))
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    print("ignore ok")

elif case == "stall":
    s = conn()
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (1 << 20))
    s.sendall(os.urandom(100 << 10))
    t0 = time.time()
    try:
        d = s.recv(65536)
    except ConnectionResetError:
        d = b""
    dt = time.time() - t0
    expect(d == b"" and 1.5 < dt < 6, "a stalled upload: %r after %.1f s" % (d[:40], dt))
    print("stall ok: closed after %.1f s" % dt)

elif case == "timeout":
    s = conn()
    s.sendall(b"POST /timed HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (1 << 20))
    s.sendall(os.urandom(100 << 10))
    t0 = time.time()
    st, h, b, _ = response(s)
    dt = time.time() - t0
    expect(st == 504 and b == "Timeout: request timeout after 500ms" and 0.3 < dt < 1.5,
           "timeout: %d %s after %.1f s" % (st, b, dt))
    s = conn()
    body = os.urandom(300 << 10)
    post(s, "/timed", body, pieces=3, pause=0.05)
    st, h, b, _ = response(s)
    expect(st == 200 and b == str(len(body)), "in time: %d %s" % (st, b))
    print("timeout ok")

elif case == "gone":
    s = conn()
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (8 << 20))
    s.sendall(os.urandom(300 << 10))
    time.sleep(0.2)
    s.close()
    time.sleep(0.2)
    s = conn()
    post(s, "/whole", b"ok")
    st, h, b, _ = response(s)
    expect(st == 200, "after a client left: %d" % st)
    print("gone ok")
PY

for c in stream backpressure slow whole too_large ignore stall timeout gone; do
	python3 "$TMP/client.py" "$PORT" "$c" || { show stderr "$ERR"; die "case $c"; }
done

# multipart/form-data: two fields (one repeated) and two files.
head -c 300000 /dev/urandom >"$TMP/a.bin"
printf 'hello,\r\n--not a boundary\r\n' >"$TMP/b.txt"
st=$(lib_get mp -F title=report -F tag=x -F tag=y -F "doc=@$TMP/a.bin;type=application/octet-stream" \
	-F "note=@$TMP/b.txt;type=text/plain" "http://127.0.0.1:$PORT/form")
lib_status_is "$st" 200 mp
python3 - "$TMP/mp.b" "$TMP/a.bin" "$TMP/b.txt" <<'PY' || die "multipart contents"
import hashlib, json, sys
r = json.load(open(sys.argv[1]))
a, b = open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
assert r["values"] == {"title": "report", "tag": ["x", "y"]}, r["values"]
f = r["files"]
assert [x["name"] for x in f] == ["a.bin", "b.txt"], f
assert f[0]["field"] == "doc" and f[0]["size"] == len(a) and f[0]["sha"] == hashlib.sha256(a).hexdigest(), f[0]
assert f[0]["type"] == "application/octet-stream", f[0]
assert f[1]["field"] == "note" and f[1]["size"] == len(b) and f[1]["sha"] == hashlib.sha256(b).hexdigest(), f[1]
assert f[1]["type"] == "text/plain" and f[0]["same"] and f[1]["same"], f[1]
print("multipart ok")
PY

# A large multipart body arrives while the handler runs: parse_multipart waits for it.
head -c 3000000 /dev/urandom >"$TMP/big.bin"
st=$(lib_get mpbig -F "big=@$TMP/big.bin" "http://127.0.0.1:$PORT/form")
lib_status_is "$st" 200 mpbig
want=$(sha256sum "$TMP/big.bin" | cut -d' ' -f1)
grep -q "\"sha\":\"$want\"" "$TMP/mpbig.b" || { cat "$TMP/mpbig.b"; die "large multipart"; }

bad() { # NAME WANT CURL-ARGS...: a 400 whose body starts with WANT
	local name=$1 want=$2
	shift 2
	st=$(lib_get "$name" "$@")
	lib_status_is "$st" 400 "$name"
	case $(cat "$TMP/$name.b") in
	"$want"*) ;;
	*) die "$name: $(cat "$TMP/$name.b"), expected $want" ;;
	esac
}
U="http://127.0.0.1:$PORT/form"
bad notmp "Invalid: content type is not multipart/form-data" -H 'Content-Type: text/plain' --data-binary x "$U"
bad noboundary "Internal: failed to parse multipart form: no multipart boundary param" \
	-H 'Content-Type: multipart/form-data' --data-binary x "$U"
bad truncated "Internal: failed to parse multipart form: NextPart: EOF" \
	-H 'Content-Type: multipart/form-data; boundary=XyZ' \
	--data-binary $'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue without its end' "$U"
bad truncated_head "Internal: failed to parse multipart form: NextPart: EOF" \
	-H 'Content-Type: multipart/form-data; boundary=XyZ' \
	--data-binary $'--XyZ\r\nContent-Disposition: form-data; name="a"' "$U"
bad nodelim "Internal: failed to parse multipart form: no multipart boundary in the body" \
	-H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary 'plain text' "$U"
bad badheader "Internal: failed to parse multipart form: malformed MIME header line" \
	-H 'Content-Type: multipart/form-data; boundary="XyZ"' \
	--data-binary $'--XyZ\r\nno colon here\r\n\r\nv\r\n--XyZ--\r\n' "$U"
bad toolarge "Internal: failed to parse multipart form: multipart: message too large" \
	-F "doc=@$TMP/a.bin" "$U?max=1000"

# A handler whose source fails at load answers 500 with the error, each time.
for i in 1 2; do
	st=$(lib_get broken -m 5 -X POST --data-binary abc "http://127.0.0.1:$PORT/broken")
	lib_status_is "$st" 500 broken
	grep -q "module 'time' not found" "$TMP/broken.b" || die "broken: $(cat "$TMP/broken.b")"
done

# The server is still up and answers.
st=$(lib_get last -X POST --data-binary abc "http://127.0.0.1:$PORT/whole")
lib_status_is "$st" 200 last
# Shutdown with a handler parked on a body that is still coming: the
# runtime stops (the connection closes, the read fails) and exits 0.
python3 - "$PORT" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n" + b"x" * 100000)
time.sleep(5)
PY
HOLD=$!
lib_track "$HOLD"
sleep 0.5
kill -INT "$PID"
wait_exit 15 "$PID"
check_exit "wippy run (a body pending at shutdown)" "$EXIT_RC" 0
check_no_sanitizer stderr "$ERR"
echo "http_body: ok"
