# bench/lib/common.sh: what the wrk-against-nginx benchmarks share
# (static.sh, tls.sh, sse.sh): a scratch directory whose servers are stopped on
# exit, free ports, an nginx with the common settings, and one wrk
# measurement. Not a bench/*.sh, so bench/run.sh does not run it.
# Sourced after ROOT, WIPPY, DUR, CONNS and THREADS are set.

# bench_init NAME: TMP (mode 755: nginx workers run as nobody under root),
# PIDS (stopped on exit, by pid) and the traps; die() prefixes NAME.
bench_init() {
	BENCH_NAME=$1
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/wippy-$1-bench.XXXXXX")
	chmod 755 "$TMP"
	PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$TMP"
}

die() { echo "$BENCH_NAME: ERROR: $*"; exit 1; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID: until PORT accepts (15 s), or PID is gone (1).
wait_port() {
	local i
	for i in $(seq 1 150); do
		kill -0 "$2" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# bench_nginx PORT SERVER-DIRECTIVES: nginx (worker_processes 2, access_log
# off, unbounded keep-alive) in $TMP/nginx with one server on
# 127.0.0.1:PORT made of SERVER-DIRECTIVES (the rest of its listen line
# first: "ssl;" or ";"); sets NGPID once it listens.
bench_nginx() {
	local port=$1 server=$2
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
    server {
        listen 127.0.0.1:$port reuseport $server
    }
}
EOF
	"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/out" 2>&1 &
	NGPID=$!
	PIDS+=("$NGPID")
	wait_port "$port" "$NGPID" || { cat "$TMP/nginx/out" "$TMP/nginx/error.log" 2>/dev/null; die "nginx did not listen"; }
}

# measure LABEL URL PID [WRK-ARGS...]: a 1 s warm-up, then wrk for DUR;
# prints the line and sets RPS.
measure() {
	local label=$1 url=$2 pid=$3 out=$TMP/wrk.$1 r
	shift 3
	[ -f "$TMP/done.lua" ] || cat >"$TMP/done.lua" <<'LUA'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %.1f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.bytes / (summary.duration / 1e6) / 1048576,
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
	timeout 30 wrk -t"$THREADS" -c"$CONNS" -d1s -s "$TMP/done.lua" "$@" "$url" >/dev/null 2>&1
	timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$TMP/done.lua" "$@" "$url" >"$out" 2>&1
	kill -0 "$pid" 2>/dev/null || { cat "$out"; die "$label: the server died under load"; }
	r=$(grep '^RESULT ' "$out" | tail -n1)
	[ -n "$r" ] || { cat "$out"; die "$label: wrk printed no result"; }
	set -- $r
	RPS=$2
	printf "  %-6s %10.0f req/s  %8.1f MiB/s   p50 %7.3f ms   p99 %7.3f ms   (%d non-2xx, %d socket errors)\n" \
		"$label" "$2" "$5" "$3" "$4" "$6" "$7"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
