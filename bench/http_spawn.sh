#!/usr/bin/env bash
# bench/http_spawn.sh: wippy's HTTP server against nginx, in the same run,
# with wrk on loopback.
#
# Two pairs, each measured the same way, wippy first, then nginx:
#   spawn  POST /api/tasks to a copy of examples/http-spawn (the body of
#          examples/http-spawn/wrk.lua: each request validates the JSON,
#          spawns a worker process that logs its 3 steps and exits, answers
#          202) against nginx's `return 202` of the same JSON body; and the
#          floor of that design: the same app with
#          bench/apps/spawn-floor/worker.lua as its worker, whose main
#          returns at once with no module (a lua_State made and dropped per
#          request), against the same nginx figure
#   hello  GET /hello to a copy of examples/hello-http against nginx's
#          `return 200 '{"message":"hello world"}'`
# nginx: bench/nginx/nginx.conf.in, worker_processes 2, access_log off, in
# the foreground under a scratch prefix. Each run is `wrk -t2 -c64 -d10s`
# after a 1 s warm-up on the same server; wrk shares the 2 cores with the
# server. Printed per server: req/s, latency p50/p99/max (from a wrk Lua
# done hook), non-2xx answers and socket errors; then the ratio
# wippy/nginx of req/s. For the spawn app also the number of log lines it
# wrote to stderr (a file) and its RSS at the end.
#
# Server CPU per request: utime + stime of the server's processes (wippy;
# nginx's master and workers) over the timed run, divided by the requests
# wrk completed. wrk shares the cores, so req/s alone favours whichever
# server leaves wrk more CPU; µs of server CPU per request compares the
# servers' own cost. With Debian's libnginx-mod-http-lua and lua-cjson
# (scripts/deps.sh bench), two more nginx runs: bench/nginx/lua.conf's
# content_by_lua handlers doing the spawn app's validation and answering
# with ngx.timer.at(0, ...) in place of the process, the timer empty
# (against the floor) and logging three lines (against the spawn app).
#
# Numbers never fail the script. It exits 1 when a server does not start or
# dies, and 77 (skipped) when nginx, wrk or build/wippy is missing.
#
#   bash bench/http_spawn.sh
#   HTTP_BENCH_DURATION=5s HTTP_BENCH_CONNS=128 bash bench/http_spawn.sh
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
DUR=${HTTP_BENCH_DURATION:-10s}
CONNS=${HTTP_BENCH_CONNS:-64}
THREADS=${HTTP_BENCH_THREADS:-2}
START_WAIT_S=15

NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -z "$NGINX" ]; then
	echo "http_spawn: nginx is not installed (apt-get install nginx-light); skipped"
	exit 77
fi
if ! command -v wrk >/dev/null; then
	echo "http_spawn: wrk is not installed (apt-get install wrk); skipped"
	exit 77
fi
if [ ! -x "$WIPPY" ]; then
	echo "http_spawn: $WIPPY not built (run make); skipped"
	exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wippy-http-bench.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.3
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}

# wait_port PORT PID: until PORT accepts connections (PID must stay alive).
wait_port() {
	local i
	for i in $(seq 1 $((START_WAIT_S * 10))); do
		kill -0 "$2" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

die() {
	echo "http_spawn: ERROR: $*"
	exit 1
}

# wippy_start NAME DIR [WORKER]: run a copy of the app in DIR (under the
# repository root) on a free port; with WORKER, that file replaces the
# app's src/worker.lua and the worker entry opens no module. Sets WPID,
# WPORT, WLOG.
wippy_start() {
	local name=$1 app=$TMP/$1
	cp -R "$ROOT/$2" "$app"
	if [ -n "${3:-}" ]; then
		cp "$ROOT/$3" "$app/src/worker.lua"
		sed -i '/^    modules: \[time, logger\]$/d' "$app/src/_index.yaml"
		! grep -q 'modules: \[time, logger\]' "$app/src/_index.yaml" ||
			die "$name: could not drop the worker's modules"
	fi
	rm -rf "$app/.wippy"
	WPORT=$(free_port)
	sed -i "s/\":8080\"/\"127.0.0.1:$WPORT\"/" "$app/src/_index.yaml"
	grep -qF "127.0.0.1:$WPORT" "$app/src/_index.yaml" || die "$name: could not set the port"
	WLOG=$TMP/$name.stderr
	(cd "$app" && exec "$WIPPY" run </dev/null >"$TMP/$name.stdout" 2>"$WLOG") &
	WPID=$!
	PIDS+=("$WPID")
	wait_port "$WPORT" "$WPID" || { tail -n 20 "$WLOG"; die "$name: wippy run did not listen on $WPORT"; }
}

wippy_stop() {
	kill -INT "$WPID" 2>/dev/null
	local i
	for i in $(seq 1 100); do
		kill -0 "$WPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null
}

# The wrk script: the request of $1 (a wrk script, or nothing for GET) and
# a done hook printing one machine-readable line.
make_script() {
	local out=$1 req=${2:-}
	{
		[ -n "$req" ] && echo "dofile(\"$req\")"
		cat <<'LUA'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout))
end
LUA
	} >"$out"
}

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: utime + stime of PID and its children (nginx's workers).
cpu_ticks() {
	local t=0 p
	for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
		# Fields 14 and 15, counted after the ")" that ends the name.
		t=$((t + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0)))
	done
	echo "$t"
}

# measure LABEL URL SCRIPT PID: warm-up, then the timed run. Sets RPS and
# CPU_US (server CPU per request) and prints the line for LABEL.
measure() {
	local label=$1 url=$2 script=$3 pid=$4 out r c0 c1
	out=$TMP/wrk.$label
	timeout 30 wrk -t"$THREADS" -c"$CONNS" -d1s -s "$script" "$url" >/dev/null 2>&1
	c0=$(cpu_ticks "$pid")
	timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$script" "$url" >"$out" 2>&1
	c1=$(cpu_ticks "$pid")
	kill -0 "$pid" 2>/dev/null || { cat "$out"; die "$label: the server died under load"; }
	r=$(grep '^RESULT ' "$out" | tail -n1)
	[ -n "$r" ] || { cat "$out"; die "$label: wrk printed no result"; }
	set -- $r
	RPS=$2
	CPU_US=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$6" \
		'BEGIN { if (n > 0) printf "%.1f", d * 1e6 / hz / n; else print "n/a" }')
	printf "  %-9s %9.0f req/s  %6s us CPU/req   p50 %6.3f ms   p99 %6.3f ms   max %7.3f ms   (%d requests, %d non-2xx, %d socket errors)\n" \
		"$label" "$2" "$CPU_US" "$3" "$4" "$5" "$6" "$7" "$8"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

# ---- nginx ----------------------------------------------------------------
NPORT=$(free_port)
mkdir -p "$TMP/nginx"
NGX_MODS=/usr/lib/nginx/modules
LUA_CPATH=/usr/lib/x86_64-linux-gnu/lua/5.1
if [ -f "$NGX_MODS/ngx_http_lua_module.so" ] && [ -f "$LUA_CPATH/cjson.so" ]; then
	NGX_LUA=1
	LOAD="load_module $NGX_MODS/ndk_http_module.so; load_module $NGX_MODS/ngx_http_lua_module.so;"
	LHTTP="lua_package_cpath '$LUA_CPATH/?.so;;';"
	LLOC="include $ROOT/bench/nginx/lua.conf;"
else
	NGX_LUA=
	LOAD= LHTTP= LLOC=
	echo "# libnginx-mod-http-lua or lua-cjson missing (bash scripts/deps.sh bench): no nginx-lua baselines"
fi
sed -e "s|@PREFIX@|$TMP/nginx|g; s|@PORT@|$NPORT|g; s|@LOAD_MODULES@|$LOAD|; s|@LUA_HTTP@|$LHTTP|; s|@LUA_LOCATIONS@|$LLOC|" \
	"$ROOT/bench/nginx/nginx.conf.in" >"$TMP/nginx/nginx.conf"
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/out" 2>&1 &
NGPID=$!
PIDS+=("$NGPID")
wait_port "$NPORT" "$NGPID" || { cat "$TMP/nginx/out" "$TMP/nginx/error.log" 2>/dev/null; die "nginx did not listen on $NPORT"; }

make_script "$TMP/post.lua" "$ROOT/examples/http-spawn/wrk.lua"
make_script "$TMP/get.lua"

echo "# wrk -t$THREADS -c$CONNS -d$DUR on 127.0.0.1, $(nproc) cpus; nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), worker_processes 2, access_log off"

# ---- spawn: POST /api/tasks -----------------------------------------------
wippy_start spawn examples/http-spawn
echo
echo "spawn: POST /api/tasks '$(sed -n "s/^wrk.body = '\(.*\)'/\1/p" "$ROOT/examples/http-spawn/wrk.lua")' (a worker process per request)"
measure wippy "http://127.0.0.1:$WPORT/api/tasks" "$TMP/post.lua" "$WPID"
W=$RPS
WC=$CPU_US
sleep 1 # the last workers finish and log
lines=$(wc -l <"$WLOG")
started=$(grep -c 'step 1/3' "$WLOG")
finished=$(grep -c 'step 3/3' "$WLOG")
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$WPID/status" 2>/dev/null)
errs=$(grep -cE '^[^ ]+ +ERROR ' "$WLOG")
wippy_stop
# The floor: the same app, its worker returning at once.
wippy_start floor examples/http-spawn bench/apps/spawn-floor/worker.lua
measure floor "http://127.0.0.1:$WPORT/api/tasks" "$TMP/post.lua" "$WPID"
F=$RPS
FC=$CPU_US
wippy_stop
measure nginx "http://127.0.0.1:$NPORT/api/tasks" "$TMP/post.lua" "$NGPID"
N=$RPS
echo "  ratio   wippy/nginx $(ratio "$W" "$N")   floor/nginx $(ratio "$F" "$N") (req/s)"
if [ -n "$NGX_LUA" ]; then
	measure lua+timer "http://127.0.0.1:$NPORT/lua/tasks" "$TMP/post.lua" "$NGPID"
	LC=$CPU_US
	measure lua+log "http://127.0.0.1:$NPORT/lua/tasks_log" "$TMP/post.lua" "$NGPID"
	LLC=$CPU_US
	echo "  server CPU per request: wippy/lua+log $(ratio "$WC" "$LLC")   floor/lua+timer $(ratio "$FC" "$LC") (lower is better)"
fi
echo "  wippy log: $lines lines on stderr ($started tasks at step 1/3, $finished at step 3/3, $errs ERROR lines); RSS at the end ${rss:-?} KB"

# ---- hello: GET /hello ----------------------------------------------------
wippy_start hello examples/hello-http
echo
echo "hello: GET /hello"
measure wippy "http://127.0.0.1:$WPORT/hello" "$TMP/get.lua" "$WPID"
W=$RPS
wippy_stop
measure nginx "http://127.0.0.1:$NPORT/hello" "$TMP/get.lua" "$NGPID"
N=$RPS
echo "  ratio   wippy/nginx $(ratio "$W" "$N")"

kill -QUIT "$NGPID" 2>/dev/null
wait "$NGPID" 2>/dev/null
exit 0
