#!/usr/bin/env bash
# test/integration/http_client.sh: require("http_client") against our own
# HTTP server and against nginx, on loopback.
#
# One `wippy run -x app:driver` serves an http.service on a free port
# (echo, redirect, sleep, cookies, big bodies) and runs a driver process
# that calls http_client against it, one phase per line on its stdin:
#   - basic: GET with headers and a query merged into the URL's (sorted,
#     escaped), POST/PUT/PATCH/DELETE with JSON bodies, HEAD, form bodies,
#     cookies both ways, basic auth, request(), a 302 followed (url is the
#     final one), a timeout against /sleep (Timeout, retryable), a closed
#     port (Internal, retryable), bad URLs and schemes (Invalid), a body
#     past max_response_body, request_batch with one failing entry,
#     stream = true: a 2 MB body read in chunks as it comes (the response
#     before the body's end, a close in the middle), argument errors raised;
#   - guard: under an actor and a scope whose policies deny a URL prefix,
#     10.* addresses, unix sockets and insecure TLS, each such call is nil
#     + PermissionDenied (the original's http_client.request, .private_ip,
#     .unix_socket and .insecure_tls checks) and an allowed one works; a
#     host name of this machine's that resolves to 127.0.0.1 works where
#     the scope allows 127.*, and is PermissionDenied where it denies it
#     (checked on the connection's address, before the request is sent);
#   - many: 200 processes x 5 requests, all answered, with no error, while
#     the driver's own coroutine keeps ticking (the shard is not blocked);
#   - kill: 20 processes each in a 5 s request and 10 parked in a stream's
#     read, terminated after 400 ms, and 10 that fail while a request of
#     theirs is in flight: the runtime goes on, requests still work, and
#     its open descriptors (/proc/PID/fd) are back to what they were;
#   - tls: nginx with a self-signed certificate made by openssl: refused
#     without the CA, 200 with tls.ca, 200 with insecure_skip_verify;
#   - unix: nginx on a unix socket through unix_socket.
# nginx is skipped (with a note) if missing; the rest still runs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v python3 >/dev/null || skip "python3 is missing"
lib_tmpdir

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

APP=$TMP/app
mkdir -p "$APP/src"
printf 'directories:\n  modules: .wippy\n  src: ./src\n' >"$APP/wippy.lock"

# {==== nginx: TLS with a self-signed certificate, and a unix socket ====}
NGINX=
TLS_PORT=0
SOCK=$TMP/ng.sock
CA_PEM=
if command -v nginx >/dev/null && command -v openssl >/dev/null; then
	NG=$TMP/nginx
	mkdir -p "$NG/logs" "$NG/tmp"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$NG/key.pem" -out "$NG/cert.pem" >/dev/null 2>&1 ||
		die "openssl req could not make a certificate"
	CA_PEM=$(cat "$NG/cert.pem")
	TLS_PORT=$(free_port)
	cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $NG/tmp/body;
	proxy_temp_path $NG/tmp/proxy;
	fastcgi_temp_path $NG/tmp/fastcgi;
	uwsgi_temp_path $NG/tmp/uwsgi;
	scgi_temp_path $NG/tmp/scgi;
	server {
		listen 127.0.0.1:$TLS_PORT ssl;
		ssl_certificate $NG/cert.pem;
		ssl_certificate_key $NG/key.pem;
		location / { default_type text/plain; return 200 "hello over tls"; }
	}
	server {
		listen unix:$SOCK;
		location / { default_type text/plain; return 200 "hello over unix \$request_uri"; }
	}
}
EOF
	nginx -p "$NG" -c "$NG/nginx.conf" -g 'daemon off;' >"$NG/logs/stdout" 2>&1 &
	NGINX=$!
	lib_track "$NGINX"
	for _ in $(seq 1 50); do
		[ -S "$SOCK" ] && break
		sleep 0.1
	done
	[ -S "$SOCK" ] || { show "nginx log" "$NG/logs/error.log"; die "nginx did not start"; }
	note "nginx on 127.0.0.1:$TLS_PORT (TLS) and $SOCK"
else
	note "nginx or openssl missing: the tls and unix phases are skipped"
fi

# {==== The app ====}
# A host name of this machine's that resolves to 127.0.0.1, if any: the
# private-address guard must catch it after resolution.
LOOPNAME=
for n in "$(hostname 2>/dev/null)" localhost.localdomain; do
	if [ -n "$n" ] && [ "$(getent ahostsv4 "$n" 2>/dev/null | awk '{ print $1; exit }')" = 127.0.0.1 ]; then
		LOOPNAME=$n
		break
	fi
done
PORT=$(free_port)
CLOSED=$(free_port) # bound and released: nothing listens there

cat >"$APP/src/_index.yaml" <<EOF
version: "1.0"
namespace: app

entries:
  - name: terminal
    kind: terminal.host
    lifecycle:
      auto_start: true

  - name: processes
    kind: process.host
    lifecycle:
      auto_start: true

  - name: gateway
    kind: http.service
    addr: "127.0.0.1:$PORT"
    lifecycle:
      auto_start: true

  - name: api
    kind: http.router
    meta:
      server: app:gateway
    prefix: /

  - {name: echo, kind: function.lua, source: file://server.lua, method: echo, modules: [http, json]}
  - {name: redirect, kind: function.lua, source: file://server.lua, method: redirect, modules: [http]}
  - {name: sleep, kind: function.lua, source: file://server.lua, method: sleep, modules: [http, time]}
  - {name: cookies, kind: function.lua, source: file://server.lua, method: cookies, modules: [http]}
  - {name: big, kind: function.lua, source: file://server.lua, method: big, modules: [http]}
  - {name: drip, kind: function.lua, source: file://server.lua, method: drip, modules: [http, time]}

  - {name: echo.get, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /echo, func: app:echo}
  - {name: echo.head, kind: http.endpoint, meta: {router: app:api}, method: HEAD, path: /echo, func: app:echo}
  - {name: echo.post, kind: http.endpoint, meta: {router: app:api}, method: POST, path: /echo, func: app:echo}
  - {name: echo.put, kind: http.endpoint, meta: {router: app:api}, method: PUT, path: /echo, func: app:echo}
  - {name: echo.patch, kind: http.endpoint, meta: {router: app:api}, method: PATCH, path: /echo, func: app:echo}
  - {name: echo.delete, kind: http.endpoint, meta: {router: app:api}, method: DELETE, path: /echo, func: app:echo}
  - {name: redirect.get, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /redirect, func: app:redirect}
  - {name: sleep.get, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /sleep, func: app:sleep}
  - {name: cookies.get, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /cookies, func: app:cookies}
  - {name: big.get, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /big, func: app:big}
  - {name: drip.get, kind: http.endpoint, meta: {router: app:api}, method: GET, path: /drip, func: app:drip}

  - name: driver
    kind: process.lua
    source: file://driver.lua
    method: main
    modules: [io, time, json, http_client, channel, security]

  - {name: worker, kind: process.lua, source: file://worker.lua, method: main, modules: [http_client, json]}

  - {name: sleeper, kind: process.lua, source: file://worker.lua, method: sleeper, modules: [http_client]}
  - {name: streamer, kind: process.lua, source: file://worker.lua, method: streamer, modules: [http_client]}
  - {name: failer, kind: process.lua, source: file://worker.lua, method: failer, modules: [http_client]}
  - {name: guarded, kind: process.lua, source: file://worker.lua, method: guarded, modules: [http_client]}
  - {name: loopless, kind: process.lua, source: file://worker.lua, method: loopless, modules: [http_client]}

  - {name: allow_all, kind: security.policy, policy: {actions: '*', resources: '*', effect: allow}}
  - {name: deny_secret, kind: security.policy, policy: {actions: http_client.request, resources: 'http://127.0.0.1:$PORT/secret*', effect: deny}}
  - {name: deny_ten, kind: security.policy, policy: {actions: http_client.private_ip, resources: '10.*', effect: deny}}
  - {name: deny_loop, kind: security.policy, policy: {actions: http_client.private_ip, resources: '127.*', effect: deny}}
  - {name: deny_unix, kind: security.policy, policy: {actions: [http_client.unix_socket, http_client.insecure_tls], resources: '*', effect: deny}}
EOF

cat >"$APP/src/server.lua" <<'EOF'
local http = require("http")

local function echo()
    local req, res = http.request(), http.response()
    local json = require("json")
    res:set_header("X-Reply", "yes")
    res:write_json({
        method = req:method(),
        query = req:query_params(),
        x_test = req:header("X-Test"),
        content_type = req:header("Content-Type"),
        cookie = req:header("Cookie"),
        auth = req:header("Authorization"),
        body = req:body(),
    })
end

local function redirect()
    local res = http.response()
    res:set_header("Location", "/echo?from=redirect")
    res:set_status(302)
    res:write("moved")
end

local function sleep()
    local req, res = http.request(), http.response()
    require("time").sleep((req:query("ms") or "1000") .. "ms")
    res:write("slept")
end

local function cookies()
    local res = http.response()
    res:set_header("Set-Cookie", "session=abc123; Path=/; HttpOnly")
    res:write("cookie set")
end

local function big()
    local req, res = http.request(), http.response()
    res:write(string.rep("x", tonumber(req:query("n")) or 1000))
end

-- "first" at once, "second" after ms (400 by default); a reader that left
-- meanwhile makes the second write fail, which is fine here.
local function drip()
    local req, res = http.request(), http.response()
    res:write("first")
    res:flush()
    require("time").sleep((req:query("ms") or "400") .. "ms")
    res:write("second")
end

return {echo = echo, redirect = redirect, sleep = sleep, cookies = cookies, big = big, drip = drip}
EOF

cat >"$APP/src/worker.lua" <<EOF
local http_client = require("http_client")
local BASE = "http://127.0.0.1:$PORT"
local LOOPNAME = "$LOOPNAME"

-- Five requests; the result says how many came back right.
local function main(id)
    local good = 0
    for i = 1, 5 do
        local r, err = http_client.get(BASE .. "/echo", {query = {id = tostring(id), i = tostring(i)}})
        if r and r.status_code == 200 and r.body:find('"id":"' .. id .. '"', 1, true) then
            good = good + 1
        elseif err then
            error("request " .. i .. " failed: " .. tostring(err))
        end
    end
    return good
end

-- A request that outlives the process (the driver terminates it).
local function sleeper()
    local r, err = http_client.get(BASE .. "/sleep", {query = {ms = "5000"}, timeout = 10})
    return r and r.status_code or tostring(err)
end

-- Under a scope that denies some URLs, private 10.* addresses, unix
-- sockets and insecure TLS: each denied call is nil + PermissionDenied
-- before any I/O; the rest work. Returns "ok" or what went wrong.
local function guarded()
    local function denied(what, r, err, text)
        if r ~= nil or err == nil or err:kind() ~= "PermissionDenied" or err:retryable() ~= false
                or not tostring(err):find(text, 1, true) then
            error(what .. ": " .. tostring(err))
        end
    end
    local r, err = http_client.get(BASE .. "/echo")
    if not r or r.status_code ~= 200 then error("allowed request: " .. tostring(err)) end
    r, err = http_client.get(BASE .. "/secret/x")
    denied("denied URL", r, err, "not allowed: " .. BASE .. "/secret/x")
    r, err = http_client.get("http://10.1.2.3:9/")
    denied("private IP", r, err, "not allowed: private IP 10.1.2.3")
    r, err = http_client.get("http://localhost/", {unix_socket = "/tmp/x.sock"})
    denied("unix socket", r, err, "not allowed: unix socket /tmp/x.sock")
    r, err = http_client.get("https://127.0.0.1:9/", {tls = {insecure_skip_verify = true}})
    denied("insecure TLS", r, err, "not allowed: insecure TLS for https://127.0.0.1:9/")
    r, err = http_client.request_batch({{"GET", BASE .. "/echo"}, {"GET", BASE .. "/secret"}})
    denied("batch", r, err, "not allowed: " .. BASE .. "/secret")
    if LOOPNAME ~= "" then
        -- a host name that resolves to an allowed private address works
        r, err = http_client.get("http://" .. LOOPNAME .. ":$PORT/echo")
        if not r or r.status_code ~= 200 then error("host name to 127.0.0.1: " .. tostring(err)) end
        local rs, errs = http_client.request_batch({{"GET", "http://" .. LOOPNAME .. ":$PORT/echo"}})
        if not rs[1] or errs then error("batch by host name: " .. tostring(errs and errs[1])) end
    end
    return "ok"
end

-- Under a scope that denies 127.*: a host name that resolves there is
-- stopped before its request is sent, and so is a redirect's target.
local function loopless()
    if LOOPNAME == "" then return "ok" end
    local r, err = http_client.get("http://" .. LOOPNAME .. ":$PORT/echo")
    if r ~= nil or err == nil or err:kind() ~= "PermissionDenied"
            or not tostring(err):find("not allowed: private IP 127.0.0.1", 1, true) then
        error("host name to a denied address: " .. tostring(err))
    end
    local rs, errs = http_client.request_batch({{"GET", "http://" .. LOOPNAME .. ":$PORT/redirect"}})
    if rs[1] ~= nil or errs[1]:kind() ~= "PermissionDenied" then
        error("batch to a denied address: " .. tostring(errs and errs[1]))
    end
    return "ok"
end

-- Parked in a stream's read when the driver terminates it.
local function streamer()
    local r = assert(http_client.get(BASE .. "/drip?ms=5000", {stream = true}))
    assert(r.stream:read() == "first")
    return r.stream:read()
end

-- Fails while a request of another coroutine is in flight.
local function failer()
    coroutine.spawn(function() http_client.get(BASE .. "/sleep", {query = {ms = "5000"}}) end)
    http_client.get(BASE .. "/sleep", {query = {ms = "200"}})
    error("failing with a transfer in flight")
end

return {main = main, sleeper = sleeper, guarded = guarded, loopless = loopless,
    streamer = streamer, failer = failer}
EOF

cat >"$APP/src/driver.lua" <<EOF
local io = require("io")
local time = require("time")
local json = require("json")
local http_client = require("http_client")
local security = require("security")

local BASE = "http://127.0.0.1:$PORT"
local CLOSED = "http://127.0.0.1:$CLOSED"
local TLS = "https://127.0.0.1:$TLS_PORT"
local SOCK = "$SOCK"
local CA = [==[
$CA_PEM
]==]

local function check(cond, what, ...)
    if not cond then
        error(what .. ": " .. table.concat({...}, " "), 2)
    end
    io.print("ok " .. what)
end

local function basic()
    -- GET, headers, query merged into the URL's own, response headers
    local r, err = http_client.get(BASE .. "/echo?b=2&a=1", {
        headers = {["X-Test"] = "hello"},
        query = {a = "one & two", c = "é"},
    })
    check(r and not err, "get", tostring(err))
    check(r.status_code == 200, "get status", tostring(r.status_code))
    local e = json.decode(r.body)
    check(e.method == "GET" and e.x_test == "hello", "get header sent", r.body)
    check(e.query.a == "one & two" and e.query.b == "2" and e.query.c == "é", "query merged", r.body)
    check(r.headers["X-Reply"] == "yes", "response header canonical", json.encode(r.headers))
    check(r.headers["Content-Type"]:find("application/json", 1, true), "content type")
    check(r.body_size == #r.body, "body_size")
    check(r.url:find("/echo?a=one+%26+two&b=2&c=%C3%A9", 1, true), "url sorted and escaped", r.url)

    -- bodies with every method
    for _, m in ipairs({"post", "put", "patch", "delete"}) do
        local r2, err2 = http_client[m](BASE .. "/echo", {
            body = json.encode({n = 1, m = m}),
            headers = {["Content-Type"] = "application/json"},
        })
        check(r2 and r2.status_code == 200, m, tostring(err2))
        local e2 = json.decode(r2.body)
        check(e2.method == m:upper(), m .. " method", r2.body)
        check(json.decode(e2.body).m == m, m .. " body", r2.body)
        check(e2.content_type == "application/json", m .. " content type", r2.body)
    end
    local pe = http_client.post(BASE .. "/echo")
    check(pe and json.decode(pe.body).method == "POST" and json.decode(pe.body).body == "", "post without a body")
    local pr = json.decode(http_client.post(BASE .. "/echo", {body = "raw"}).body)
    check(pr.body == "raw" and pr.content_type == nil, "raw body sent without a content type", tostring(pr.content_type))
    local mp = json.decode(http_client.post(BASE .. "/echo", {
        form = {field = "v"},
        files = {{name = "up", filename = "a.txt", content = "file text"}},
    }).body)
    check(mp.content_type:find("multipart/form-data; boundary=", 1, true), "multipart content type", tostring(mp.content_type))
    check(mp.body:find('name="field"', 1, true) and mp.body:find("file text", 1, true)
        and mp.body:find('filename="a.txt"', 1, true), "multipart parts", mp.body)
    local h = http_client.head(BASE .. "/echo")
    check(h and h.status_code == 200 and h.body == nil and h.body_size == 0, "head")

    -- form, cookies, auth, request()
    local f = http_client.post(BASE .. "/echo", {form = {b = "x y", a = "1&2"}})
    local fe = json.decode(f.body)
    check(fe.body == "a=1%262&b=x+y", "form encoded sorted", fe.body)
    check(fe.content_type == "application/x-www-form-urlencoded", "form content type")
    local c = json.decode(http_client.get(BASE .. "/echo", {cookies = {k = "v"}}).body)
    check(c.cookie == "k=v", "cookie sent", tostring(c.cookie))
    local a = json.decode(http_client.get(BASE .. "/echo", {auth = {user = "u", pass = "p"}}).body)
    check(a.auth == "Basic dTpw", "basic auth", tostring(a.auth))
    local q = http_client.request("put", BASE .. "/echo", {body = "raw"})
    check(q and json.decode(q.body).method == "PUT" and json.decode(q.body).body == "raw", "request()")
    local sc = http_client.get(BASE .. "/cookies")
    check(sc.cookies and sc.cookies.session == "abc123", "cookie received", json.encode(sc.cookies or {}))

    -- redirect followed; url is the final one
    local rd = http_client.get(BASE .. "/redirect")
    check(rd.status_code == 200 and rd.url == BASE .. "/echo?from=redirect", "redirect followed", rd.url)
    check(json.decode(rd.body).query.from == "redirect", "redirect target")

    -- timeout, refused, bad URLs
    local t0 = time.now()
    local tr, terr = http_client.get(BASE .. "/sleep?ms=3000", {timeout = "300ms"})
    local took = time.now():sub(t0):milliseconds()
    check(tr == nil and terr and terr:kind() == errors.TIMEOUT, "timeout kind", tostring(terr))
    check(terr:retryable() == true and took < 2000, "timeout retryable and prompt", tostring(took))
    local rr, rerr = http_client.get(CLOSED .. "/")
    check(rr == nil and rerr:kind() == errors.INTERNAL and rerr:retryable(), "refused", tostring(rerr))
    check(tostring(rerr):find("127.0.0.1", 1, true), "refused names the URL", tostring(rerr))
    local br, berr = http_client.get("http://exa mple.com/")
    check(br == nil and berr:kind() == errors.INVALID and berr:retryable() == false, "bad url", tostring(berr))
    local fr, ferr = http_client.get("ftp://127.0.0.1/x")
    check(fr == nil and ferr:kind() == errors.INVALID, "bad scheme", tostring(ferr))
    local mr, merr = http_client.request("GE T", BASE .. "/echo")
    check(mr == nil and merr:kind() == errors.INVALID, "bad method", tostring(merr))
    local big, bigerr = http_client.get(BASE .. "/big?n=100000", {max_response_body = 1000})
    check(big == nil and tostring(bigerr):find("too large", 1, true), "max_response_body", tostring(bigerr))
    local okbig = http_client.get(BASE .. "/big?n=300000")
    check(okbig and okbig.body_size == 300000, "300 KB body")

    -- argument errors raise, as the original's
    check(not pcall(http_client.get), "get without URL raises")
    check(not pcall(http_client.get, ""), "empty URL raises")
    check(not pcall(http_client.get, BASE, 5), "options not a table raises")
    check(not pcall(http_client.request_batch, {}), "empty batch raises")

    -- request_batch: ordered results, the failing one in errors
    local rs, errs = http_client.request_batch({
        {"GET", BASE .. "/echo?n=1"},
        {"POST", BASE .. "/echo", {body = "two"}},
        {"GET", CLOSED .. "/"},
        {"get", BASE .. "/sleep?ms=200"},
    })
    check(rs[1].status_code == 200 and json.decode(rs[1].body).query.n == "1", "batch 1")
    check(json.decode(rs[2].body).body == "two", "batch 2")
    check(rs[3] == nil and errs and errs[3]:kind() == errors.INTERNAL, "batch 3 failed", tostring(errs and errs[3]))
    check(rs[4].body == "slept" and errs[1] == nil, "batch 4")
    local rs2, errs2 = http_client.request_batch({{"GET", BASE .. "/echo"}, {"GET", BASE .. "/echo"}})
    check(#rs2 == 2 and errs2 == nil, "batch without errors")
    local nb, nberr = http_client.request_batch({"nope"})
    check(nb == nil and nberr:kind() == errors.INVALID, "batch entry not a table", tostring(nberr))

    -- stream = true: the body read as it comes, paced by the reader
    local st = http_client.get(BASE .. "/big?n=2000000", {stream = true, max_response_body = 1000})
    check(st and st.body == nil and st.body_size == -1 and st.stream and st.status_code == 200, "stream response")
    time.sleep("200ms") -- the transfer pauses at 256 KB held, resumes as we read
    local total, chunks = 0, 0
    for chunk in st.stream(65536) do
        total, chunks = total + #chunk, chunks + 1
    end
    check(total == 2000000 and st.stream:bytes_read() == 2000000, "stream read whole", total)
    check(chunks >= 31, "stream in chunks", chunks)
    st.stream:close()
    local _, cerr = st.stream:read()
    check(cerr ~= nil, "read after close fails")
    local t1 = time.now()
    local d = http_client.get(BASE .. "/drip", {stream = true})
    local first_ms = time.now():sub(t1):milliseconds()
    local c1 = d.stream:read()
    local c2 = d.stream:read()
    local c3, e3 = d.stream:read()
    check(c1 == "first" and c2 == "second" and c3 == nil and e3 == nil, "drip chunks", tostring(c1), tostring(c2))
    check(first_ms < 300, "response before its body ended", first_ms)
    local dd = http_client.get(BASE .. "/drip?ms=1500", {stream = true})
    check(dd.stream:read() == "first", "drip first")
    check(dd.stream:close() == nil, "close in the middle")
    local hs = http_client.head(BASE .. "/echo", {stream = true})
    check(hs and hs.status_code == 200 and hs.stream:read() == nil, "stream of an empty body")

    -- encode/decode
    check(http_client.encode_uri("a b&c/d") == "a+b%26c%2Fd", "encode_uri")
    check(http_client.decode_uri("a+b%26c") == "a b&c", "decode_uri")
end

-- 200 processes x 5 requests, while a coroutine of ours keeps ticking.
local function many()
    local ticks, stop = 0, false
    coroutine.spawn(function()
        while not stop do time.sleep("10ms"); ticks = ticks + 1 end
    end)
    local events = process.events()
    local n, good, left = 200, 0, 200
    for i = 1, n do
        local _, err = process.spawn_monitored("app:worker", "app:processes", i)
        if err then error("spawn: " .. tostring(err)) end
    end
    local deadline = time.after("60s")
    while left > 0 do
        local r = channel.select {events:case_receive(), deadline:case_receive()}
        if r.channel == deadline then error("workers did not finish: " .. left .. " left") end
        local ev = r.value
        if ev.kind == process.event.EXIT then
            left = left - 1
            if ev.result and ev.result.error then error("worker failed: " .. tostring(ev.result.error)) end
            good = good + (ev.result and ev.result.value or 0)
        end
    end
    stop = true
    check(good == n * 5, "1000 requests from 200 processes", tostring(good))
    check(ticks > 0, "the driver kept running meanwhile", tostring(ticks))
end

-- Processes that end in the middle of a transfer: terminated while a
-- request is in flight or while parked in a stream's read, or failing
-- while another coroutine's request is in flight.
local function kill()
    local events = process.events()
    local pids, failers = {}, {}
    for i = 1, 20 do
        pids[#pids + 1] = process.spawn_monitored("app:sleeper", "app:processes")
    end
    for i = 1, 10 do
        pids[#pids + 1] = process.spawn_monitored("app:streamer", "app:processes")
    end
    for i = 1, 10 do
        failers[process.spawn_monitored("app:failer", "app:processes")] = true
    end
    time.sleep("400ms")
    for _, pid in ipairs(pids) do process.terminate(pid) end
    local left, failed = #pids + 10, 0
    local deadline = time.after("10s")
    while left > 0 do
        local r = channel.select {events:case_receive(), deadline:case_receive()}
        if r.channel == deadline then error("processes did not exit: " .. left .. " left") end
        local ev = r.value
        if ev.kind == process.event.EXIT then
            left = left - 1
            if failers[ev.from] and ev.result.error and tostring(ev.result.error):find("in flight", 1, true) then
                failed = failed + 1
            end
        end
    end
    check(failed == 10, "failers ended with their error", tostring(failed))
    local r = http_client.get(BASE .. "/echo")
    check(r and r.status_code == 200, "requests work after the kills")
end

local function tls()
    local r, err = http_client.get(TLS .. "/")
    check(r == nil and err:kind() == errors.INTERNAL, "self-signed refused without its CA", tostring(err))
    r, err = http_client.get(TLS .. "/", {tls = {ca = CA}})
    check(r and r.status_code == 200 and r.body == "hello over tls", "tls with ca", tostring(err))
    r, err = http_client.get(TLS .. "/x", {tls = {insecure_skip_verify = true}})
    check(r and r.body == "hello over tls", "tls insecure_skip_verify", tostring(err))
    r, err = http_client.get("https://localhost:$TLS_PORT/", {tls = {ca = CA}})
    check(r and r.status_code == 200, "tls by host name", tostring(err))
end

local function unix()
    local r, err = http_client.get("http://localhost/path?q=1", {unix_socket = SOCK})
    check(r and r.status_code == 200 and r.body == "hello over unix /path?q=1", "unix socket", tostring(err))
    r, err = http_client.get("http://localhost/", {unix_socket = "$TMP/none.sock"})
    check(r == nil and err:kind() == errors.INTERNAL, "missing unix socket", tostring(err))
end

local function run_guarded(entry, names)
    local ps = {}
    for i, n in ipairs(names) do
        ps[i] = assert(security.policy("app:" .. n))
    end
    local sp = process.with_context({}):with_actor(security.new_actor("tester"))
        :with_scope(security.new_scope(ps))
    local events = process.events()
    local pid = assert(sp:spawn_monitored(entry, "app:processes"))
    local deadline = time.after("10s")
    while true do
        local r = channel.select {events:case_receive(), deadline:case_receive()}
        if r.channel == deadline then error(entry .. " did not exit") end
        if r.value.kind == process.event.EXIT and r.value.from == pid then
            return r.value.result
        end
    end
end

local function guard()
    local res = run_guarded("app:guarded", {"allow_all", "deny_secret", "deny_ten", "deny_unix"})
    check(res.value == "ok", "security checks", tostring(res.error))
    res = run_guarded("app:loopless", {"allow_all", "deny_loop"})
    check(res.value == "ok", "private address behind a host name", tostring(res.error))
end

local phases = {guard = guard, basic = basic, many = many, kill = kill, tls = tls, unix = unix}

local function main()
    io.print("ready")
    while true do
        local line = io.readline()
        if line == nil or line == "quit" then return 0 end
        local f = phases[line]
        if f == nil then error("unknown phase " .. line) end
        f()
        io.print("done " .. line)
    end
end

return {main = main}
EOF

# {==== Run ====}
OUT=$TMP/out
ERR=$TMP/err
mkfifo "$TMP/in"
(cd "$APP" && exec "$WIPPY" run --shards 2 -x app:driver <"$TMP/in" >"$OUT" 2>"$ERR") &
PID=$!
lib_track "$PID"
exec 3>"$TMP/in"

wait_line() { # wait_line SECONDS TEXT
	local n=$(( $1 * 10 ))
	while [ $n -gt 0 ]; do
		grep -qxF "$2" "$OUT" && return 0
		kill -0 "$PID" 2>/dev/null || { show stdout "$OUT"; show stderr "$ERR"; die "wippy exited waiting for '$2'"; }
		sleep 0.1
		n=$((n - 1))
	done
	show stdout "$OUT"; show stderr "$ERR"; die "timed out waiting for '$2'"
}
fds() { ls "/proc/$PID/fd" | wc -l; }

wait_line 20 ready
for phase in basic guard many; do
	echo "$phase" >&3
	wait_line 120 "done $phase"
	note "phase $phase passed"
done
sleep 1
FD_BEFORE=$(fds)
echo kill >&3
wait_line 60 "done kill"
sleep 1
FD_AFTER=$(fds)
note "descriptors: $FD_BEFORE before the kills, $FD_AFTER after"
[ "$FD_AFTER" -le $((FD_BEFORE + 6)) ] || die "descriptors leaked: $FD_BEFORE -> $FD_AFTER"
if [ -n "$NGINX" ]; then
	for phase in tls unix; do
		echo "$phase" >&3
		wait_line 30 "done $phase"
		note "phase $phase passed"
	done
fi
echo quit >&3
exec 3>&-
set +e
timeout -k 5 20 tail --pid="$PID" -f /dev/null
wait "$PID"
rc=$?
set -e
[ "$rc" -eq 0 ] || { show stdout "$OUT"; show stderr "$ERR"; die "wippy exited with $rc"; }
if grep -q "ERROR\|AddressSanitizer\|LeakSanitizer" "$ERR"; then
	show stderr "$ERR"
	die "errors logged"
fi
if [ -n "$NGINX" ]; then
	kill -TERM "$NGINX" 2>/dev/null || true
	wait "$NGINX" 2>/dev/null || true
fi
note "$(grep -c '^ok ' "$OUT") checks passed"
echo "PASS"
