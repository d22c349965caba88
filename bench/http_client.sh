#!/usr/bin/env bash
# bench/http_client.sh: requests/s and CPU per request of require("http_client")
# against our own HTTP server on loopback, next to wrk against the same
# server in the same run.
#
# A server runtime (`wippy run`, an http.service whose GET /hello returns a
# short text) runs the whole time. Then, for HC_SECONDS (default 5) each:
#   - baseline: wrk with HC_CONNS connections (default 16) on one thread;
#   - http_client: a second runtime (`wippy run -x`) with HC_CONNS
#     processes, each calling http_client.get in a loop (keep-alive
#     connections, one request in flight per process).
# For each it prints requests/s, the client's CPU per request (wrk's own
# rusage; the client runtime's /proc/PID/stat) and the server's CPU per
# request, then the ratio of http_client's requests/s to wrk's. wrk is the
# floor of what a client costs (C, pipelining-free, epoll); the server's
# figure shows the server did the same work in both. Then the floors of
# the two designs runtime/hclient.c chose between (bench/hclient_floor.c,
# when built): libcurl's multi-socket API and a bare HTTP/1.1 client on
# epoll, each with HC_CONNS keep-alive connections for HC_SECONDS, against
# the same server and against nginx (with wrk against nginx beside them).
# Measures only; exit 77 when wippy or wrk is missing.
#
#   bash bench/http_client.sh                        5 s each
#   HC_SECONDS=1 HC_CONNS=8 bash bench/http_client.sh  a quick check
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
SECS=${HC_SECONDS:-5}
CONNS=${HC_CONNS:-16}
SHARDS=${HC_SHARDS:-1}
[ -x "$WIPPY" ] || { echo "skip: $WIPPY missing"; exit 77; }
command -v wrk >/dev/null || { echo "skip: wrk missing"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 77; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TICK=$(getconf CLK_TCK)

# CPU seconds (user + system) of a pid so far.
cpu_of() {
	awk -v t="$TICK" '{ sub(/^.*\) /, ""); printf "%.4f\n", ($12 + $13) / t }' "/proc/$1/stat"
}

# {==== The server ====}
mkdir -p "$TMP/server/src" "$TMP/client/src"
printf 'directories:\n  modules: .wippy\n  src: ./src\n' >"$TMP/server/wippy.lock"
cp "$TMP/server/wippy.lock" "$TMP/client/wippy.lock"
cat >"$TMP/server/src/_index.yaml" <<EOF
version: "1.0"
namespace: app
entries:
  - {name: gateway, kind: http.service, addr: "127.0.0.1:$PORT", lifecycle: {auto_start: true}}
  - {name: api, kind: http.router, meta: {server: app:gateway}, prefix: /}
  - {name: hello, kind: function.lua, source: file://hello.lua, method: hello, modules: [http]}
  - {name: hello.get, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /hello, func: app:hello}
EOF
cat >"$TMP/server/src/hello.lua" <<'EOF'
local http = require("http")
local function hello()
    http.response():write("hello world")
end
return {hello = hello}
EOF
(cd "$TMP/server" && exec "$WIPPY" run --shards "$SHARDS" -s </dev/null >"$TMP/server.out" 2>&1) &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 1 100); do
	curl -fs "http://127.0.0.1:$PORT/hello" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/hello" >/dev/null || { echo "http_client: ERROR: server did not start"; cat "$TMP/server.out"; exit 1; }

# {==== Baseline: wrk ====}
s0=$(cpu_of "$SERVER")
python3 - "$SECS" "$CONNS" "$PORT" >"$TMP/wrk.out" <<'PY'
import resource, subprocess, sys
secs, conns, port = sys.argv[1], sys.argv[2], sys.argv[3]
out = subprocess.run(["wrk", "-t1", "-c" + conns, "-d" + secs + "s",
                      "http://127.0.0.1:%s/hello" % port], capture_output=True, text=True).stdout
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
reqs = 0
for line in out.splitlines():
    if "requests in" in line:
        reqs = int(line.split()[0])
print(reqs, "%.4f" % (ru.ru_utime + ru.ru_stime))
PY
s1=$(cpu_of "$SERVER")
read -r WRK_N WRK_CPU <"$TMP/wrk.out"

# {==== http_client ====}
cat >"$TMP/client/src/_index.yaml" <<EOF
version: "1.0"
namespace: app
entries:
  - {name: terminal, kind: terminal.host, lifecycle: {auto_start: true}}
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - {name: bench, kind: process.lua, source: file://bench.lua, method: main, modules: [io, time, channel, http_client]}
  - {name: loop, kind: process.lua, source: file://bench.lua, method: loop, modules: [io, time, http_client]}
EOF
cat >"$TMP/client/src/bench.lua" <<EOF
local io = require("io")
local time = require("time")
local http_client = require("http_client")
local URL = "http://127.0.0.1:$PORT/hello"

-- One request in flight at a time until the deadline; returns the count.
local function loop(ms)
    local n, t0 = 0, time.now()
    while time.now():sub(t0):milliseconds() < ms do
        local r, err = http_client.get(URL)
        if not r or r.status_code ~= 200 then error(tostring(err)) end
        n = n + 1
    end
    return n
end

local function main()
    local events = process.events()
    for _ = 1, $CONNS do
        process.spawn_monitored("app:loop", "app:procs", $SECS * 1000)
    end
    local total, left = 0, $CONNS
    while left > 0 do
        local ev = events:receive()
        if ev.kind == process.event.EXIT then
            left = left - 1
            if ev.result.error then error(tostring(ev.result.error)) end
            total = total + ev.result.value
        end
    end
    io.print(tostring(total))
    return 0
end

return {main = main, loop = loop}
EOF
s2=$(cpu_of "$SERVER")
(cd "$TMP/client" && exec ${HC_CLIENT_WRAP:-} "$WIPPY" run --shards "$SHARDS" -x app:bench </dev/null >"$TMP/client.out" 2>"$TMP/client.err") &
CLIENT=$!
PIDS+=("$CLIENT")
c_cpu=0
while kill -0 "$CLIENT" 2>/dev/null; do
	c=$(cpu_of "$CLIENT" 2>/dev/null) && c_cpu=$c
	sleep 0.05
done
wait "$CLIENT" || { echo "http_client: ERROR: client run failed"; tail -n 5 "$TMP/client.err"; exit 1; }
s3=$(cpu_of "$SERVER")
HC_N=$(tail -n 1 "$TMP/client.out")

# {==== The floors: libcurl and a raw HTTP/1.1 client, no runtime ====}
# build/bench/hclient_floor (bench/hclient_floor.c): HC_CONNS keep-alive
# connections for HC_SECONDS through libcurl's multi-socket API, then
# through a bare epoll HTTP/1.1 client; first against the same server,
# then against nginx (return 200 "hello world") when it is installed, with
# wrk against that nginx for reference.
FLOOR=$BUILD/bench/hclient_floor
floor_lines() { # WHERE: hclient_floor's two lines, reworded
	awk -v where="$1" '$1 == "floor" {
		printf "http_client floor %-5s %-6s %d conns %ds: %8.0f req/s, client %6.1f us CPU/req\n", $2, where, $3, $4, $6, $7
	}' "$TMP/floor.out"
}
if [ -x "$FLOOR" ]; then
	"$FLOOR" 127.0.0.1 "$PORT" /hello "$CONNS" "$SECS" >"$TMP/floor.out" 2>"$TMP/floor.err" ||
		{ echo "http_client: ERROR: hclient_floor failed"; cat "$TMP/floor.err"; exit 1; }
	floor_lines wippy >"$TMP/floor.wippy"
	NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
	if [ -x "$NGINX" ]; then
		NGPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		mkdir -p "$TMP/nginx"
		chmod 755 "$TMP"
		cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
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
    server {
        listen 127.0.0.1:$NGPORT;
        location /hello { default_type text/plain; return 200 "hello world"; }
    }
}
EOF
		"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/out" 2>&1 &
		NGPID=$!
		PIDS+=("$NGPID")
		for _ in $(seq 1 100); do
			curl -fs "http://127.0.0.1:$NGPORT/hello" >/dev/null 2>&1 && break
			sleep 0.1
		done
		"$FLOOR" 127.0.0.1 "$NGPORT" /hello "$CONNS" "$SECS" >"$TMP/floor.out" 2>"$TMP/floor.err" ||
			{ echo "http_client: ERROR: hclient_floor against nginx failed"; cat "$TMP/floor.err" "$TMP/nginx/out"; exit 1; }
		floor_lines nginx >"$TMP/floor.nginx"
		python3 - "$SECS" "$CONNS" "$NGPORT" >"$TMP/wrk.nginx" <<'PY'
import resource, subprocess, sys
secs, conns, port = sys.argv[1], sys.argv[2], sys.argv[3]
out = subprocess.run(["wrk", "-t1", "-c" + conns, "-d" + secs + "s",
                      "http://127.0.0.1:%s/hello" % port], capture_output=True, text=True).stdout
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
reqs = 0
for line in out.splitlines():
    if "requests in" in line:
        reqs = int(line.split()[0])
print(reqs, "%.4f" % (ru.ru_utime + ru.ru_stime))
PY
		read -r NW_N NW_CPU <"$TMP/wrk.nginx"
		awk -v secs="$SECS" -v conns="$CONNS" -v n="$NW_N" -v c="$NW_CPU" 'BEGIN {
			printf "http_client floor wrk   nginx  %d conns %ds: %8.0f req/s, client %6.1f us CPU/req\n", conns, secs, n / secs, n ? c * 1e6 / n : 0
		}' >>"$TMP/floor.nginx"
	fi
fi

awk -v secs="$SECS" -v conns="$CONNS" -v wn="$WRK_N" -v wc="$WRK_CPU" \
    -v ws="$(echo "$s1 - $s0" | bc -l)" -v hn="$HC_N" -v hc="$c_cpu" \
    -v hs="$(echo "$s3 - $s2" | bc -l)" 'BEGIN {
	wr = wn / secs; hr = hn / secs
	printf "http_client baseline wrk    %d conns %ds: %8.0f req/s, client %6.1f us CPU/req, server %6.1f us CPU/req\n", conns, secs, wr, wn ? wc * 1e6 / wn : 0, wn ? ws * 1e6 / wn : 0
	printf "http_client http_client.get %d procs %ds: %8.0f req/s, client %6.1f us CPU/req, server %6.1f us CPU/req\n", conns, secs, hr, hn ? hc * 1e6 / hn : 0, hn ? hs * 1e6 / hn : 0
	printf "http_client ratio: http_client %.2f of wrk'"'"'s req/s; client CPU/req %.1fx wrk'"'"'s\n", wr ? hr / wr : 0, (wn && hn && wc > 0) ? (hc / hn) / (wc / wn) : 0
}'
cat "$TMP/floor.wippy" "$TMP/floor.nginx" 2>/dev/null
