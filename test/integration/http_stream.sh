#!/usr/bin/env bash
# test/integration/http_stream.sh: streamed responses.
#
# The fixture (test/fixtures/http/stream) has handlers that flush. Over raw
# sockets (python3) and curl:
#   - chunks: a flushed "first" arrives 300 ms before "second", in chunked
#     framing with the handler's header, and the connection stays usable
#     for a second request; over HTTP/1.0 the same body ends with the
#     connection instead;
#   - sse: text/event-stream, no-cache, three events in SSE format (the id
#     line on the last), data as JSON;
#   - flood: 64 MiB in 64 KiB flushes to a client that reads nothing for
#     1.5 s: the handler is held back (the server's RSS grows by less than
#     16 MiB), then the client reads all 64 MiB and the handler finishes;
#   - forever: a reader that leaves after a few chunks: the handler's next
#     flush returns a Canceled error, which it logs;
#   - fail_mid: a handler that fails after its head went out: the stream
#     is cut (no last chunk) and the connection closed;
#   - bad_event (no name) and late_transfer (set_transfer after a flush)
#     are errors: a 500 for the first, the already-sent stream cut for the
#     second; the runtime goes on.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v python3 >/dev/null || skip "python3 is missing"
lib_tmpdir

APP=$TMP/app
ERR=$TMP/err
for try in 1 2 3; do
	rm -rf "$APP"
	lib_copy_app "$LIB_ROOT/test/fixtures/http/stream" "$APP"
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sed -i "s/__PORT__/$PORT/" "$APP/src/_index.yaml"
	(cd "$APP" && exec "$WIPPY" run --shards 2 </dev/null >"$TMP/out" 2>"$ERR") &
	PID=$!
	lib_track "$PID"
	rc=0
	wait_for_line 15 "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || rc=$?
	[ "$rc" -eq 0 ] && break
	grep -q "cannot listen" "$ERR" || { show stderr "$ERR"; die "wippy run did not start"; }
done

cat >"$TMP/client.py" <<'PY'
import socket, sys, time
port, case = int(sys.argv[1]), sys.argv[2]

def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    return s

def read_head(s, buf=b""):
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed before the head")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode(), rest

def read_chunk(s, buf):
    """One chunk: (data, rest); data b"" for the last chunk."""
    while b"\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed inside a chunk size")
        buf += d
    line, buf = buf.split(b"\r\n", 1)
    n = int(line, 16)
    while len(buf) < n + 2:
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed inside a chunk")
        buf += d
    assert buf[n:n + 2] == b"\r\n", "chunk not ended by CRLF"
    return buf[:n], buf[n + 2:]

if case == "chunks":
    s = conn()
    for rnd in range(2):  # the second request on the same connection
        t0 = time.time()
        s.sendall(b"GET /chunks HTTP/1.1\r\nHost: x\r\n\r\n")
        head, buf = read_head(s)
        assert head.startswith("HTTP/1.1 200"), head
        assert "transfer-encoding: chunked" in head.lower(), head
        assert "content-length" not in head.lower(), head
        assert "x-kind: chunks" in head.lower(), head
        c1, buf = read_chunk(s, buf)
        t1 = time.time()
        c2, buf = read_chunk(s, buf)
        t2 = time.time()
        last, buf = read_chunk(s, buf)
        assert (c1, c2, last) == (b"first\n", b"second\n", b""), (c1, c2, last)
        assert t2 - t1 > 0.2, "second chunk %.3f s after the first" % (t2 - t1)
        assert t1 - t0 < 0.2, "first chunk after %.3f s" % (t1 - t0)
    print("ok chunks: first after %.0f ms, second %.0f ms later, keep-alive held" %
          ((t1 - t0) * 1000, (t2 - t1) * 1000))
elif case == "chunks10":
    s = conn()
    s.sendall(b"GET /chunks HTTP/1.0\r\n\r\n")
    head, buf = read_head(s)
    assert "chunked" not in head.lower() and "content-length" not in head.lower(), head
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    assert buf == b"first\nsecond\n", buf
    print("ok chunks over HTTP/1.0: body ended by close")
elif case == "sse":
    s = conn()
    s.sendall(b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
    head, buf = read_head(s)
    h = head.lower()
    assert "content-type: text/event-stream" in h and "cache-control: no-cache" in h, head
    body = b""
    while True:
        c, buf = read_chunk(s, buf)
        if c == b"":
            break
        body += c
    want = (b'event: tick\ndata: {"n":1}\n\n'
            b'event: tick\ndata: {"n":2}\n\n'
            b'id: last\nevent: tick\ndata: {"n":3}\n\n')
    assert body == want, body
    print("ok sse: three events")
elif case == "flood":
    # A small receive buffer, set before connecting so that the window
    # never grows (Linux autotunes it up to tcp_rmem's maximum otherwise).
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.5)
    print("paused", flush=True)
    sys.stdout.flush()
    head, buf = read_head(s)
    total = 0
    while True:
        c, buf = read_chunk(s, buf)
        if c == b"":
            break
        total += len(c)
    assert total == 1000 * 65536, total
    print("ok flood: %d bytes" % total)
elif case == "forever":
    s = conn()
    s.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    head, buf = read_head(s)
    for i in range(3):
        c, buf = read_chunk(s, buf)
    s.close()
    print("ok forever: left after 3 chunks")
elif case == "fail_mid":
    s = conn()
    s.sendall(b"GET /fail_mid HTTP/1.1\r\nHost: x\r\n\r\n")
    head, buf = read_head(s)
    c, buf = read_chunk(s, buf)
    assert c == b"partial\n", c
    rest = buf
    while True:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    assert b"0\r\n\r\n" not in rest, rest
    print("ok fail_mid: cut short and closed")
PY

client() { python3 "$TMP/client.py" "$PORT" "$1"; }

client chunks
client chunks10
client sse

# flood: held back while the client does not read. What the kernel's
# socket buffers take varies from run to run (loopback autotuning), so the
# bound is on the server's own memory: 64 MiB written, and its RSS may not
# grow by more than 16 MiB while the client reads nothing.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
rss0=$(rss_kb)
python3 "$TMP/client.py" "$PORT" flood >"$TMP/flood.out" 2>&1 &
FPID=$!
wait_for_line 10 "$FPID" "$TMP/flood.out" '^paused' || { cat "$TMP/flood.out"; die "flood client did not start"; }
rss1=$(rss_kb)
if [ $((rss1 - rss0)) -gt $((16 * 1024)) ]; then
	show stderr "$ERR"
	die "flood: the server's RSS grew by $((rss1 - rss0)) kB for a client that read nothing"
fi
held=$(grep -c 'flood flushed' "$ERR" || true)
wait "$FPID" || { cat "$TMP/flood.out"; die "flood client failed"; }
cat "$TMP/flood.out" | tail -n 1
wait_for_line 5 "$PID" "$ERR" '"n": 1000' || { show stderr "$ERR"; die "flood: the handler did not finish"; }
note "flood: RSS +$((rss1 - rss0)) kB and $held log lines (of 10) while the client did not read"

client forever
wait_for_line 5 "$PID" "$ERR" 'reader left.*"kind": "Canceled"' || {
	show stderr "$ERR"
	die "forever: the handler did not see the reader leave"
}
note "ok: forever's handler saw the reader leave (Canceled)"

client fail_mid
expect_regex "fail_mid: stderr" "$ERR" 'handler app:fail_mid failed: .*broken in the middle'

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/bad_event")
[ "$code" = 500 ] || die "bad_event: expected 500, got $code"
curl -s -m 5 "http://127.0.0.1:$PORT/late_transfer" >/dev/null || true
expect_regex "late_transfer: stderr" "$ERR" 'cannot set transfer mode after headers are sent'
client chunks >/dev/null
note "ok: bad_event is a 500, late_transfer an error, and the runtime goes on"

kill -INT "$PID"
wait_exit 15 "$PID"
check_exit "wippy run" "$EXIT_RC" 0
check_no_sanitizer stderr "$ERR"
echo "ok: streamed responses: chunks, HTTP/1.0, SSE, back-pressure, a reader that leaves, a handler that fails"
