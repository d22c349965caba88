#!/usr/bin/env python3
"""test/tools/httpc.py: a raw HTTP/1.x client for the integration tests.

curl cannot send malformed bytes, split a request across pauses or show
whether the server closed the connection, so the HTTP tests use this.
Standard library only.

  httpc.py raw PORT [--responses N] [--timeout S] [--linger S] [--head] STEP...

    Connects to 127.0.0.1:PORT and runs the steps in order:
      send:TEXT    send TEXT; Python escapes are decoded (\\r\\n, \\x00, ...)
      sendfile:F   send the bytes of file F
      sleep:S      pause S seconds (float)
      shut         shutdown(SHUT_WR): half-close our side
    Steps are sent from a thread while responses are read, so a server that
    answers early (or closes) is seen as it happens. Then it reads
    responses until N final responses are parsed (--responses; default: until
    EOF), EOF, or --timeout seconds (default 10) from the start. After the
    N-th response it waits up to --linger seconds (default 0) for EOF, so
    "closed" can be checked without waiting for the whole timeout.

    Prints each response as received, framed by lines the tests grep:
      == interim 100              (a 1xx response, e.g. 100 Continue)
      == response 1               then the head and the body as received
      == end                      (the body is followed by a newline here)
      == trailing <repr>          bytes that are not a complete response
      == closed | == open         whether EOF was seen
      == error <text>             connect/send error (ECONNRESET is "closed")
      == elapsed <seconds>        from connect to the end of reading
    --head: responses carry no body (answers to HEAD requests).
    Exit 0 unless connecting failed (2).

  httpc.py churn PORT --conns N [--concurrency C] [--seed S] [--kinds K,K]

    The connection mix of the leak test, N connections in total, at most C
    open at a time (threads). Kinds, round robin:
      full       3 keep-alive GETs on one connection, all answered 200
      pipelined  3 GETs in one write, 3 responses 200 in order
      post       a POST with a Content-Length body, answered 200
      chunked    a chunked POST, answered 200
      cut        half a request line/headers/body, then close
      silent     connect and close without sending
      abort      GET /nap?ms=50 and close before the answer (handler running)
      reset      half a request, then close with RST (SO_LINGER 0)
      unread     GET /big?n=200000 with a 4 KB receive buffer, read the first
                 bytes of the answer and close with the rest unread (RST),
                 so the server's send fails mid-response
      bad        a malformed request line, read the 400 and the close
    --kinds limits the mix to the kinds named. Prints per-kind counts and failures; exits 1 if any answered kind got a
    wrong answer (a connection refused or reset by the server counts too).
"""
import argparse
import codecs
import socket
import struct
import sys
import threading
import time


def unescape(s):
    return codecs.decode(s.encode("latin-1", "backslashreplace"),
                         "unicode_escape").encode("latin-1")


# {==== response parsing ====}

class Parser:
    """Incremental HTTP/1.x response parser over a byte buffer."""

    def __init__(self, head_only=False):
        self.buf = b""
        self.head_only = head_only
        self.finals = []     # (head bytes, body bytes) of final responses
        self.interims = []   # status codes of 1xx responses
        self.out = []        # printable events in order

    def feed(self, data):
        self.buf += data
        while self._one(eof=False):
            pass

    def finish(self):
        """At EOF: a response delimited by the close is complete now."""
        self._one(eof=True)

    def _one(self, eof):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self.buf[:end + 4]
        lines = head.split(b"\r\n")
        try:
            code = int(lines[0].split(b" ")[1])
        except (IndexError, ValueError):
            return False
        hdrs = {}
        for ln in lines[1:]:
            if b":" in ln:
                k, v = ln.split(b":", 1)
                hdrs[k.strip().lower()] = v.strip()
        rest = self.buf[end + 4:]
        if 100 <= code < 200:
            self.interims.append(code)
            self.out.append(b"== interim %d\n" % code)
            self.buf = rest
            return True
        if self.head_only or code in (204, 304):
            body, used = b"", 0
        elif b"content-length" in hdrs:
            n = int(hdrs[b"content-length"])
            if len(rest) < n:
                return False
            body, used = rest[:n], n
        elif hdrs.get(b"transfer-encoding", b"").lower() == b"chunked":
            r = dechunk(rest)
            if r is None:
                return False
            body, used = r
        else:  # delimited by the close
            if not eof:
                return False
            body, used = rest, len(rest)
        self.finals.append((head, body))
        self.out.append(b"== response %d\n" % len(self.finals))
        self.out.append(head + body + b"\n== end\n")
        self.buf = rest[used:]
        return True


def dechunk(b):
    out, pos = b"", 0
    while True:
        e = b.find(b"\r\n", pos)
        if e < 0:
            return None
        size = int(b[pos:e].split(b";")[0], 16)
        pos = e + 2
        if size == 0:
            t = b.find(b"\r\n\r\n", pos - 2)
            return (out, t + 4) if t >= 0 else None
        if len(b) < pos + size + 2:
            return None
        out += b[pos:pos + size]
        pos += size + 2


def status_of(head):
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return -1


# {==== raw ====}

def cmd_raw(a):
    steps = []
    for s in a.steps:
        if s.startswith("send:"):
            steps.append(("send", unescape(s[5:])))
        elif s.startswith("sendfile:"):
            with open(s[9:], "rb") as f:
                steps.append(("send", f.read()))
        elif s.startswith("sleep:"):
            steps.append(("sleep", float(s[6:])))
        elif s == "shut":
            steps.append(("shut", None))
        else:
            sys.exit("httpc.py: unknown step %r" % s)

    t0 = time.monotonic()
    try:
        sk = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    except OSError as e:
        print("== error connect: %s" % e)
        return 2
    errors = []

    def writer():
        try:
            for kind, arg in steps:
                if kind == "send":
                    sk.sendall(arg)
                elif kind == "sleep":
                    time.sleep(arg)
                else:
                    sk.shutdown(socket.SHUT_WR)
        except OSError as e:
            errors.append("send: %s" % e)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    p = Parser(a.head)
    closed = False
    deadline = t0 + a.timeout
    done_at = None
    while True:
        now = time.monotonic()
        if a.responses and len(p.finals) >= a.responses and done_at is None:
            done_at = now + a.linger
        limit = min(deadline, done_at) if done_at is not None else deadline
        if now >= limit:
            break
        sk.settimeout(max(0.001, limit - now))
        try:
            data = sk.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            errors.append("recv: connection reset")
            break
        if not data:
            closed = True
            break
        p.feed(data)
    p.finish()
    elapsed = time.monotonic() - t0
    w.join(0.5)
    sys.stdout.buffer.write(b"".join(p.out))
    if p.buf:
        print("== trailing %r" % p.buf)
    print("== closed" if closed else "== open")
    for e in errors:
        print("== error %s" % e)
    print("== elapsed %.3f" % elapsed)
    sk.close()
    return 0


# {==== churn ====}

KINDS = ["full", "pipelined", "post", "chunked", "cut", "silent", "abort",
         "reset", "bad", "unread"]


def get(path, extra=b""):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n")


def read_responses(sk, n, head_only=False):
    p = Parser(head_only)
    while len(p.finals) < n:
        data = sk.recv(65536)
        if not data:
            p.finish()
            break
        p.feed(data)
    return p.finals


def one_conn(port, kind, i):
    """Run one connection of `kind`; return None or a failure text."""
    if kind == "unread":
        # A small window, set before connect, keeps most of the answer in
        # the server's send buffer when we leave.
        sk = socket.socket()
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sk.settimeout(10)
        sk.connect(("127.0.0.1", port))
    else:
        sk = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        if kind == "full":
            got = []
            for j in range(3):
                sk.sendall(get(b"/echo/%d" % j))
                got += read_responses(sk, 1)
            return check(got, 3)
        if kind == "pipelined":
            sk.sendall(get(b"/echo/1") + get(b"/value") + get(b"/echo/3"))
            return check(read_responses(sk, 3), 3)
        if kind == "post":
            body = b'{"n":%d}' % i
            sk.sendall(b"POST /echo/p HTTP/1.1\r\nHost: t\r\nContent-Type: "
                       b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(body), body))
            return check(read_responses(sk, 1), 1)
        if kind == "chunked":
            sk.sendall(b"POST /echo/c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:"
                       b" chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            return check(read_responses(sk, 1), 1)
        if kind == "cut":
            parts = [b"GET /echo/1 HT",
                     b"GET /echo/1 HTTP/1.1\r\nHost: t\r\nX-A",
                     b"POST /echo/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 100"
                     b"\r\n\r\n{\"half"]
            sk.sendall(parts[i % len(parts)])
            return None
        if kind == "silent":
            return None
        if kind == "abort":
            sk.sendall(get(b"/nap?ms=50"))
            return None
        if kind == "reset":
            sk.sendall(b"POST /echo/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 10"
                       b"\r\n\r\nabc")
            sk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
            return None
        if kind == "bad":
            sk.sendall(b"GET  /echo/1 HTTP/1.1\r\nHost: t\r\n\r\n")
            got = read_responses(sk, 1)
            if len(got) != 1 or status_of(got[0][0]) != 400:
                return "bad: expected a 400, got %r" % (got[:1],)
            if sk.recv(1) != b"":
                return "bad: connection not closed after the 400"
            return None
        if kind == "unread":
            sk.sendall(get(b"/big?n=200000"))
            if not sk.recv(1024).startswith(b"HTTP/1.1 200"):
                return "unread: the answer did not start with a 200"
            return None
        return "unknown kind " + kind
    finally:
        sk.close()


def check(got, n):
    if len(got) != n:
        return "expected %d responses, got %d" % (n, len(got))
    for head, _ in got:
        if status_of(head) != 200:
            return "expected 200, got %r" % head.split(b"\r\n")[0]
    return None


def cmd_churn(a):
    kinds = a.kinds.split(",") if a.kinds else KINDS
    for k in kinds:
        if k not in KINDS:
            sys.exit("httpc.py: unknown kind %r" % k)
    counts = {k: 0 for k in KINDS}
    fails = []
    lock = threading.Lock()
    nxt = [0]

    def worker():
        while True:
            with lock:
                i = nxt[0]
                if i >= a.conns:
                    return
                nxt[0] += 1
            kind = kinds[(i + a.seed) % len(kinds)]
            try:
                err = one_conn(a.port, kind, i)
            except OSError as e:
                err = "%s: %s" % (kind, e)
            with lock:
                counts[kind] += 1
                if err:
                    fails.append("conn %d (%s): %s" % (i, kind, err))

    ts = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    print("churn: %d connections in %.2fs (%s)" % (
        a.conns, dt, ", ".join("%s %d" % (k, counts[k]) for k in kinds)))
    for f in fails[:10]:
        print("churn FAIL: " + f)
    if fails:
        print("churn: %d failed connections" % len(fails))
        return 1
    return 0


def main():
    cmds = {"raw": cmd_raw, "churn": cmd_churn}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    ap = argparse.ArgumentParser(prog="httpc.py " + sys.argv[1])
    ap.add_argument("port", type=int)
    if sys.argv[1] == "raw":
        ap.add_argument("--responses", type=int, default=0)
        ap.add_argument("--timeout", type=float, default=10.0)
        ap.add_argument("--linger", type=float, default=0.0)
        ap.add_argument("--head", action="store_true")
        ap.add_argument("steps", nargs="*")
    else:
        ap.add_argument("--conns", type=int, required=True)
        ap.add_argument("--concurrency", type=int, default=8)
        ap.add_argument("--seed", type=int, default=0)
        ap.add_argument("--kinds", default="")
    # Options may come between PORT and the steps.
    return cmds[sys.argv[1]](ap.parse_intermixed_args(sys.argv[2:]))


if __name__ == "__main__":
    sys.exit(main())
