#!/usr/bin/env bash
# test/integration/metrics.sh: require("metrics") and the Prometheus
# endpoint of an http.service (`metrics: /metrics`), scraped with Debian's
# python3-prometheus-client text parser.
#
# The app (written here, on a free port, two shards) has an endpoint that
# spawns 100 workers: each does 500 counter_inc with a label (50000 in
# all), one gauge_inc, three histogram observations (0.004, 0.3, 20), then
# waits for a message and, on it, gauge_dec and exits. 100 spawns from one
# handler spread over both shards (past 64 queued the placement goes
# round robin), so two shards update the same series at once; 40 requests
# from 8 curl clients at a time add counter_add(2) on top, from whichever
# shard each connection landed on. Checked, exactly:
#   - app_work_done_total{kind="unit"} == 50000, app_hits_total == 80,
#     app_workers_active 100 then 0, app_queue_depth{queue="emails"} 42;
#   - the histogram's buckets (cumulative), _sum == 2030.4, _count == 300;
#   - labels: non-string keys and values are ignored, dotted names and
#     label names become '_';
#   - runtime figures: processes alive == baseline + 100 while the workers
#     wait, back to the baseline after; exits counted on both shards;
#     requests by status class (3 more 404s, 2xx grows); messages sent;
#     heap bytes, io_uring submissions/completions, turns per shard;
#   - the Lua collector's steps and full collections, a counter per shard,
#     grow by at least 40 and 1 over a process that makes 40 rounds of
#     garbage across 40 steps (and so goes generational after 8);
#   - a type clash answers nil + an INVALID error; the series cap (2000 per
#     family): 2100 label values leave 2000 series, 100 updates dropped and
#     counted, one WARN line;
#   - `metrics: metrics` (no leading '/') is a load error at file:line:col.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
PY=/usr/bin/python3
[ -x "$PY" ] || skip "/usr/bin/python3 is missing"
"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
	skip "python3-prometheus-client is missing (scripts/deps.sh installs it)"
command -v curl >/dev/null || skip "curl is missing"
lib_tmpdir

APP=$TMP/app
mkdir -p "$APP/src"
printf 'directories:\n  modules: .wippy\n  src: ./src\n' >"$APP/wippy.lock"
cat >"$APP/src/_index.yaml" <<'EOF'
version: "1.0"
namespace: app
entries:
  - name: processes
    kind: process.host
    lifecycle: {auto_start: true}
  - name: gateway
    kind: http.service
    addr: "127.0.0.1:__PORT__"
    metrics: /metrics
    lifecycle: {auto_start: true}
  - name: api
    kind: http.router
    meta: {server: app:gateway}
    prefix: /
  - name: worker
    kind: process.lua
    source: file://app.lua
    method: worker
    modules: [metrics]
  - name: churner
    kind: process.lua
    source: file://app.lua
    method: churner
    modules: [time]
  - {name: churn, kind: function.lua, source: file://app.lua, method: churn, modules: [http]}
  - {name: churn.ep, kind: http.endpoint, meta: {router: app:api}, method: POST, path: /churn, func: app:churn}
  - {name: spawn, kind: function.lua, source: file://app.lua, method: spawn, modules: [http, json, metrics]}
  - {name: stop, kind: function.lua, source: file://app.lua, method: stop, modules: [http, json]}
  - {name: hit, kind: function.lua, source: file://app.lua, method: hit, modules: [http, metrics]}
  - {name: clash, kind: function.lua, source: file://app.lua, method: clash, modules: [http, json, metrics]}
  - {name: cap, kind: function.lua, source: file://app.lua, method: cap, modules: [http, metrics]}
  - {name: sys, kind: function.lua, source: file://app.lua, method: sys, modules: [http, json, system]}
  - {name: sys.ep, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /sys, func: app:sys}
  - {name: spawn.ep, kind: http.endpoint, meta: {router: app:api}, method: POST, path: /spawn, func: app:spawn}
  - {name: stop.ep, kind: http.endpoint, meta: {router: app:api}, method: POST, path: /stop, func: app:stop}
  - {name: hit.ep, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /hit, func: app:hit}
  - {name: clash.ep, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /clash, func: app:clash}
  - {name: cap.ep, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /cap, func: app:cap}
  - name: measured
    kind: http.router
    meta: {server: app:gateway}
    prefix: /m
    middleware: [metrics, ratelimit]
    options: {ratelimit.requests: "1", ratelimit.burst: "4", ratelimit.window: "1m"}
  - {name: ok, kind: function.lua, source: file://app.lua, method: ok, modules: [http]}
  - {name: boom, kind: function.lua, source: file://app.lua, method: boom, modules: [http]}
  - {name: ok.ep, kind: http.endpoint, meta: {router: app:measured}, method: GET, path: "/ok/{id}", func: app:ok}
  - {name: boom.ep, kind: http.endpoint, meta: {router: app:measured}, method: GET, path: /boom, func: app:boom}
EOF
cat >"$APP/src/app.lua" <<'EOF'
local function worker(args)
	local metrics = require("metrics")
	for _ = 1, args.n do
		local ok, err = metrics.counter_inc("app.work.done", {kind = "unit"})
		if not ok then error(err) end
	end
	metrics.gauge_inc("app.workers.active")
	metrics.histogram("app.work.seconds", 0.004, {kind = "h"})
	metrics.histogram("app.work.seconds", 0.3, {kind = "h"})
	metrics.histogram("app.work.seconds", 20, {kind = "h"})
	process.inbox():receive()
	metrics.gauge_dec("app.workers.active")
	return 0
end

-- Garbage over many steps: 40 rounds of 20000 short-lived tables (about
-- 1.3 MB each), a sleep between them ending each step, so the collector
-- (running from the second step on) has debt to pay off in every round.
local function churner()
	local time = require("time")
	local keep = 0
	for _ = 1, 40 do
		for i = 1, 20000 do
			local t = {i, tostring(i)}
			keep = keep + #t
		end
		time.sleep("1ms")
	end
	return keep > 0 and 0 or 1
end

local function churn()
	local pid, err = process.spawn("app:churner", "app:processes")
	if not pid then error(err) end
	require("http").response():write(pid)
end

local function spawn()
	local http, json = require("http"), require("json")
	local pids = {}
	for i = 1, 100 do
		local pid, err = process.spawn("app:worker", "app:processes", {n = 500})
		if not pid then error(err) end
		pids[i] = pid
	end
	http.response():write_json(pids)
end

local function stop()
	local http, json = require("http"), require("json")
	local pids = json.decode(http.request():body())
	for _, pid in ipairs(pids) do process.send(pid, "stop", "now") end
	http.response():write("stopped " .. #pids)
end

local function hit()
	local http, metrics = require("http"), require("metrics")
	local ok, err = metrics.counter_add("app.hits", 2, {
		path = "/hit", [1] = "positional", n = 5, flag = true, ["bad key.x"] = "v"})
	metrics.gauge_set("app.queue.depth", 42, {queue = "emails"})
	http.response():write(tostring(ok) .. " " .. tostring(err))
end

local function clash()
	local http, json, metrics = require("http"), require("json"), require("metrics")
	local ok, err = metrics.gauge_set("app.work.done", 1)
	local ok2, err2 = metrics.histogram("app.hits", 1, {path = "/other"})
	http.response():write_json({ok = ok == nil and ok2 == nil,
		kind = err and err:kind() == errors.INVALID and err2:kind() == errors.INVALID,
		msg = err and err:message()})
end

local function cap()
	local http, metrics = require("http"), require("metrics")
	local dropped = 0
	for i = 1, 2100 do
		local ok, err = metrics.counter_inc("app.cap", {id = tostring(i)})
		if not ok then error(err) end
	end
	http.response():write("ok")
end

local function sys()
	local http, system = require("http"), require("system")
	local hosts = assert(system.hosts.list())
	local out = {alloc = assert(system.memory.allocated()), stats = assert(system.memory.stats())}
	for _, h in ipairs(hosts) do
		if h.id == "app:processes" then out.procs, out.workers = h.processes, h.workers end
	end
	http.response():write_json(out)
end

local function ok()
	local res = require("http").response()
	res:set_status(201)
	res:write("ok")
end

local function boom()
	error("boom")
end

return {churner = churner, churn = churn, worker = worker, spawn = spawn, stop = stop, hit = hit, clash = clash, cap = cap, sys = sys,
	ok = ok, boom = boom}
EOF

ERR=$TMP/err
for try in 1 2 3; do
	PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sed -i "s/127\.0\.0\.1:[0-9_A-Z]*\"/127.0.0.1:$PORT\"/" "$APP/src/_index.yaml"
	(cd "$APP" && exec "$WIPPY" run --shards 2 </dev/null >"$TMP/out" 2>"$ERR") &
	PID=$!
	lib_track "$PID"
	rc=0
	wait_for_line 15 "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || rc=$?
	[ "$rc" -eq 0 ] && break
	grep -q "cannot listen" "$ERR" || { show stderr "$ERR"; die "wippy run did not start"; }
done
URL=http://127.0.0.1:$PORT

# The checks read a scrape through the real parser: families by name, and
# a sample's value by name and labels (missing: None).
cat >"$TMP/q.py" <<'PY'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
def val(name, sample=None, **labels):
    f = fams.get(name)
    if f is None:
        return None
    out = [s.value for s in f.samples if s.name == (sample or name) and
           all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(out) if out else None
def samples(name, sample):
    return [s for s in fams[name].samples if s.name == sample]
args = json.loads(sys.argv[2])
print(json.dumps(eval(args["expr"])))
PY
scrape() { # FILE: GET /metrics into FILE, checking the head
	curl -s -D "$1.head" "$URL/metrics" -o "$1" || die "scrape failed"
	grep -qi '^content-type: text/plain; version=0.0.4' "$1.head" ||
		{ show head "$1.head"; die "scrape: wrong Content-Type"; }
}
q() { # FILE EXPR: evaluate EXPR over the parsed scrape
	"$PY" "$TMP/q.py" "$1" "$(printf '%s' "$2" | "$PY" -c 'import json,sys; print(json.dumps({"expr": sys.stdin.read()}))')"
}
expect_q() { # WHAT FILE EXPR WANT
	local got
	got=$(q "$2" "$3") || { show scrape "$2"; die "$1: the parser failed"; }
	[ "$got" = "$4" ] || { show scrape "$2"; die "$1: $3 = $got, expected $4"; }
}

note "baseline scrape"
scrape "$TMP/s0"
base_alive=$(q "$TMP/s0" 'int(val("wippy_processes_alive"))')
base_spawned=$(q "$TMP/s0" "int(val('wippy_processes_spawned', 'wippy_processes_spawned_total'))")

note "100 workers x 500 increments on two shards, 40 hits from 8 clients"
curl -sf -X POST "$URL/spawn" -o "$TMP/pids" || die "spawn failed"
seq 1 40 | xargs -P 8 -I{} curl -sf "$URL/hit" -o /dev/null
for _ in $(seq 1 100); do
	scrape "$TMP/s1"
	[ "$(q "$TMP/s1" 'val("app_workers_active")')" = "100.0" ] && break
	sleep 0.1
done
expect_q "counter from 100 processes" "$TMP/s1" 'val("app_work_done", "app_work_done_total", kind="unit")' 50000.0
expect_q "counter_add from 40 requests" "$TMP/s1" 'val("app_hits", "app_hits_total", path="/hit")' 80.0
expect_q "only string labels kept, names sanitised" "$TMP/s1" \
	'sorted(s.labels for s in samples("app_hits", "app_hits_total"))[0] == {"path": "/hit", "bad_key_x": "v"}' true
expect_q "gauge_inc" "$TMP/s1" 'val("app_workers_active")' 100.0
expect_q "gauge_set with a label" "$TMP/s1" 'val("app_queue_depth", queue="emails")' 42.0
expect_q "histogram type" "$TMP/s1" 'fams["app_work_seconds"].type' '"histogram"'
expect_q "histogram buckets" "$TMP/s1" \
	'[s.value for s in samples("app_work_seconds", "app_work_seconds_bucket")]' \
	'[100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 200.0, 200.0, 200.0, 200.0, 200.0, 300.0]'
expect_q "histogram bounds" "$TMP/s1" \
	'[s.labels["le"] for s in samples("app_work_seconds", "app_work_seconds_bucket")]' \
	'["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]'
expect_q "histogram sum" "$TMP/s1" 'round(val("app_work_seconds", "app_work_seconds_sum", kind="h"), 6)' 2030.4
expect_q "histogram count" "$TMP/s1" 'val("app_work_seconds", "app_work_seconds_count", kind="h")' 300.0
expect_q "processes alive" "$TMP/s1" "int(val('wippy_processes_alive'))" $((base_alive + 100))
expect_q "spawned counted" "$TMP/s1" \
	"int(val('wippy_processes_spawned', 'wippy_processes_spawned_total'))" $((base_spawned + 100))
expect_q "lua heap of 100 live workers" "$TMP/s1" 'val("wippy_lua_heap_bytes") > 100 * 2000' true
for sh in 0 1; do
	expect_q "turns of shard $sh" "$TMP/s1" "val('wippy_shard_turns', 'wippy_shard_turns_total', shard='$sh') > 0" true
	expect_q "submissions of shard $sh" "$TMP/s1" "val('wippy_uring_submissions', 'wippy_uring_submissions_total', shard='$sh') > 0" true
	expect_q "completions of shard $sh" "$TMP/s1" "val('wippy_uring_completions', 'wippy_uring_completions_total', shard='$sh') > 0" true
	expect_q "run queue of shard $sh" "$TMP/s1" "val('wippy_shard_run_queue', shard='$sh') >= 0" true
	expect_q "timers of shard $sh" "$TMP/s1" "val('wippy_timers_pending', shard='$sh') >= 0" true
done
expect_q "2xx counted: 41 requests and the scrapes" "$TMP/s1" \
	"val('wippy_server_http_responses', 'wippy_server_http_responses_total', code='2xx') >= 42" true
expect_q "latency histogram counts them" "$TMP/s1" \
	"val('wippy_server_http_response_seconds', 'wippy_server_http_response_seconds_count') >= 42" true

note "system module: the same figures"
curl -sf "$URL/sys" -o "$TMP/sys1" || die "sys failed"
jq() { "$PY" -c "import json,sys; d = json.load(open(sys.argv[1])); print(json.dumps(eval(sys.argv[2])))" "$@"; }
[ "$(jq "$TMP/sys1" 'd["procs"]')" = 100 ] || { cat "$TMP/sys1"; die "system.hosts.list: 100 processes on app:processes"; }
[ "$(jq "$TMP/sys1" 'd["workers"]')" = 2 ] || { cat "$TMP/sys1"; die "system.hosts.list: 2 workers"; }
[ "$(jq "$TMP/sys1" 'd["alloc"] > 100 * 2000 and d["stats"]["alloc"] > 0 and d["stats"]["sys"] > d["alloc"]')" = true ] ||
	{ cat "$TMP/sys1"; die "system.memory: allocated/stats"; }

note "three 404s"
a=$(q "$TMP/s1" "int(val('wippy_server_http_responses', 'wippy_server_http_responses_total', code='4xx'))")
for _ in 1 2 3; do curl -s "$URL/nowhere" -o /dev/null; done
scrape "$TMP/s2"
expect_q "4xx counted" "$TMP/s2" "int(val('wippy_server_http_responses', 'wippy_server_http_responses_total', code='4xx'))" $((a + 3))

note "stop the workers: 100 messages, 100 exits"
sent0=$(q "$TMP/s2" "int(val('wippy_messages_sent', 'wippy_messages_sent_total'))")
curl -sf -X POST --data-binary @"$TMP/pids" "$URL/stop" -o "$TMP/stopped" || die "stop failed"
expect_fixed "stop" "$TMP/stopped" "stopped 100"
for _ in $(seq 1 100); do
	scrape "$TMP/s3"
	[ "$(q "$TMP/s3" "int(val('wippy_processes_alive'))")" = "$base_alive" ] && break
	sleep 0.1
done
expect_q "alive back to the baseline" "$TMP/s3" "int(val('wippy_processes_alive'))" "$base_alive"
expect_q "messages sent" "$TMP/s3" "int(val('wippy_messages_sent', 'wippy_messages_sent_total')) >= $sent0 + 100" true
expect_q "gauge_dec" "$TMP/s3" 'val("app_workers_active")' 0.0
note "exits by shard: $(q "$TMP/s3" "[s.value for s in samples('wippy_processes_exited', 'wippy_processes_exited_total')]")"
for sh in 0 1; do
	expect_q "exits on shard $sh (the workers ran on both)" "$TMP/s3" \
		"val('wippy_processes_exited', 'wippy_processes_exited_total', shard='$sh') > 0" true
done
curl -sf "$URL/sys" -o "$TMP/sys2" || die "sys failed"
[ "$(jq "$TMP/sys2" 'd["procs"]')" = 0 ] || { cat "$TMP/sys2"; die "system.hosts.list: 0 processes after the stop"; }
expect_q "the heap shrank" "$TMP/s3" "val('wippy_lua_heap_bytes') < $(q "$TMP/s1" 'val("wippy_lua_heap_bytes")')" true

note "the Lua collector's steps, counted per shard, grow under a process that allocates"
expect_q "gc steps: a counter" "$TMP/s3" 'fams["wippy_lua_gc_steps"].type' '"counter"'
expect_q "gc steps: one series per shard" "$TMP/s3" \
	'sorted(s.labels["shard"] for s in samples("wippy_lua_gc_steps", "wippy_lua_gc_steps_total"))' '["0", "1"]'
expect_q "full collections: a counter per shard" "$TMP/s3" \
	'len(samples("wippy_lua_gc_full", "wippy_lua_gc_full_total"))' 2
steps0=$(q "$TMP/s3" "int(val('wippy_lua_gc_steps', 'wippy_lua_gc_steps_total'))")
exited0=$(q "$TMP/s3" "int(val('wippy_processes_exited', 'wippy_processes_exited_total'))")
curl -sf -X POST "$URL/churn" -o /dev/null || die "churn failed"
for _ in $(seq 1 100); do
	scrape "$TMP/sg"
	[ "$(q "$TMP/sg" "int(val('wippy_processes_exited', 'wippy_processes_exited_total')) > $exited0")" = true ] && break
	sleep 0.1
done
note "gc steps: $steps0 -> $(q "$TMP/sg" "int(val('wippy_lua_gc_steps', 'wippy_lua_gc_steps_total'))")"
# 40 rounds of ~1.3 MB of garbage each: Lua's pause (200%) lets a heap of
# tens of KB grow only to twice its size before a cycle, so every round
# runs many steps; 40 is a floor far below what any round can avoid.
expect_q "gc steps grew by at least 40" "$TMP/sg" \
	"val('wippy_lua_gc_steps', 'wippy_lua_gc_steps_total') >= $steps0 + 40" true
expect_q "the generational switch of the churner counted as a full collection" "$TMP/sg" \
	"val('wippy_lua_gc_full', 'wippy_lua_gc_full_total') >= $(q "$TMP/s3" "int(val('wippy_lua_gc_full', 'wippy_lua_gc_full_total'))") + 1" true

note "type clash"
curl -sf "$URL/clash" -o "$TMP/clash" || die "clash failed"
expect_fixed "clash: nil and INVALID" "$TMP/clash" '"kind":true'
expect_fixed "clash: nil and INVALID" "$TMP/clash" '"ok":true'
expect_fixed "clash message" "$TMP/clash" 'metric already registered with another type'
scrape "$TMP/s4"
expect_q "a clash changes nothing" "$TMP/s4" 'val("app_work_done", "app_work_done_total", kind="unit")' 50000.0

note "series cap"
curl -sf "$URL/cap" -o /dev/null || die "cap failed"
scrape "$TMP/s5"
expect_q "2000 series kept" "$TMP/s5" 'len(samples("app_cap", "app_cap_total"))' 2000
expect_q "100 updates dropped" "$TMP/s5" 'val("wippy_metrics_dropped", "wippy_metrics_dropped_total")' 100.0
[ "$(count_regex "$ERR" 'WARN.*metrics: the cap on series')" -eq 1 ] ||
	{ show stderr "$ERR"; die "expected one WARN about the series cap"; }
curl -sf "$URL/cap" -o /dev/null || die "cap failed"
scrape "$TMP/s6"
expect_q "existing series still update past the cap" "$TMP/s6" 'val("app_cap", "app_cap_total", id="7")' 2.0
expect_q "200 dropped" "$TMP/s6" 'val("wippy_metrics_dropped", "wippy_metrics_dropped_total")' 200.0
[ "$(count_regex "$ERR" 'WARN.*metrics: the cap')" -eq 1 ] || die "the WARN is logged once"

note "the metrics middleware: the original's series by method, route and status"
for i in 1 2 3; do curl -s "$URL/m/ok/$i" -o /dev/null; done
curl -s "$URL/m/boom" -o /dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/m/ok/9")
[ "$code" = 429 ] || die "the fifth request on the limited router: $code, expected 429"
scrape "$TMP/s7"
expect_q "three 201s on one route, whatever the id" "$TMP/s7" \
	'val("wippy_http_requests", "wippy_http_requests_total", method="GET", route="/m/ok/{id}", status="201")' 3.0
expect_q "the handler's error counted as 500" "$TMP/s7" \
	'val("wippy_http_requests", "wippy_http_requests_total", route="/m/boom", status="500")' 1.0
expect_q "ratelimit after metrics: its 429 is counted" "$TMP/s7" \
	'val("wippy_http_requests", "wippy_http_requests_total", route="/m/ok/{id}", status="429")' 1.0
expect_q "durations observed per answer" "$TMP/s7" \
	'val("wippy_http_request_duration_seconds", "wippy_http_request_duration_seconds_count", route="/m/ok/{id}", status="201")' 3.0
expect_q "nothing left in flight" "$TMP/s7" \
	'val("wippy_http_requests_in_flight", method="GET", route="/m/ok/{id}")' 0.0
expect_q "routes without the middleware are not counted" "$TMP/s7" \
	'val("wippy_http_requests", "wippy_http_requests_total", route="/hit")' null

note "HEAD of the endpoint, other methods go to the routes"
curl -sI "$URL/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' || die "HEAD /metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")
[ "$code" = 404 ] || die "POST /metrics: $code, expected 404 (no route)"
check_no_sanitizer "wippy run" "$ERR"

note "a bad metrics: path is a load error"
BAD=$TMP/bad
mkdir -p "$BAD/src"
cp "$APP/wippy.lock" "$BAD/"
cat >"$BAD/src/_index.yaml" <<'EOF'
version: "1.0"
namespace: app
entries:
  - name: gateway
    kind: http.service
    addr: "127.0.0.1:0"
    metrics: metrics
EOF
rc=0
(cd "$BAD" && timeout 15 "$WIPPY" lint >"$TMP/lint" 2>&1) || rc=$?
check_failed "wippy lint of metrics: metrics" "$rc"
expect_regex "lint" "$TMP/lint" '_index\.yaml:7:[0-9]+: .*field "metrics" must be a path starting with'
sed -i 's|metrics: metrics|metrics: 12|' "$BAD/src/_index.yaml"
rc=0
(cd "$BAD" && timeout 15 "$WIPPY" lint >"$TMP/lint" 2>&1) || rc=$?
check_failed "wippy lint of metrics: 12" "$rc"
expect_regex "lint" "$TMP/lint" '_index\.yaml:7:[0-9]+: .*field "metrics" must be a string'
echo "ok"
