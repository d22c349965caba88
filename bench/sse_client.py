"""bench/sse_client.py PORT CLIENTS SECONDS: open CLIENTS keep-alive
connections to GET /sse on 127.0.0.1:PORT, wait until every one has its
first event, then count the events ("event: tick" lines) all of them
receive in SECONDS. Prints "clients N events E seconds S events/s R
cpu_client C" (C: this process's CPU seconds over the timed window)."""
import selectors, socket, sys, time, resource

port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
MARK = b"event: tick"
sel = selectors.DefaultSelector()
state = {}
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /sse HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n\r\n")
    s.setblocking(False)
    state[s] = [b"", 0]  # carry-over tail, events counted
    sel.register(s, selectors.EVENT_READ)

def pump(until, counting):
    got = 0
    while time.time() < until:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                d = s.recv(262144)
            except BlockingIOError:
                continue
            if not d:
                raise SystemExit("a stream ended early")
            st = state[s]
            buf = st[0] + d
            k = buf.count(MARK)
            st[0] = buf[-(len(MARK) - 1):]
            st[1] += k
            got += k
        if not counting and all(v[1] > 0 for v in state.values()):
            return got
    return got

deadline = time.time() + 30
pump(deadline, False)
if not all(v[1] > 0 for v in state.values()):
    raise SystemExit("not every client got an event in 30 s")
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.time()
ev = pump(t0 + secs, True)
dt = time.time() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
print("clients %d events %d seconds %.2f events/s %.0f cpu_client %.2f" % (n, ev, dt, ev / dt, cpu))
