#!/usr/bin/env bash
# test/integration/http_firewall.sh: the endpoint_firewall and
# resource_firewall router middleware, with token_auth giving the actor,
# and the sql / store / registry checks under strict mode.
#
# The app (written here into a temp dir) has a security.token_store, an
# open /auth router whose login endpoint makes a token for the actor id
# and the named policies it is given, an /api router with token_auth and
# endpoint_firewall (a post_middleware, action "access" on the endpoint's
# id), and a /res router with token_auth and resource_firewall (action
# "read" on app:reports). With curl:
#   - allowed: 200 and the handler's answer (it sees the token's actor);
#   - denied: 403 and the original's JSON body; the handler does not run;
#   - no token, a bad token, or an actor with an empty id: 401;
#   - an empty scope: 403 (nothing allows, so undefined: denied);
# then `wippy run -x` of a process that calls sql.get, store.get and
# registry.get: allowed with strict mode off, PermissionDenied with it on
# (no actor); and load errors at file:line:col from `wippy lint` for bad
# firewall options.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v python3 >/dev/null || skip "python3 is missing"
command -v curl >/dev/null || skip "curl is missing"
lib_tmpdir

SRC=$TMP/fixture
APP=$TMP/app
ERR=$TMP/err
mkdir -p "$SRC/src"
printf 'directories:\n  modules: .wippy\n  src: ./src\n' >"$SRC/wippy.lock"
cat >"$SRC/src/_index.yaml" <<'EOF'
version: "1.0"
namespace: app
entries:
  - name: processes
    kind: process.host
    lifecycle: {auto_start: true}
  - name: gateway
    kind: http.service
    addr: "127.0.0.1:__PORT__"
    lifecycle: {auto_start: true}
  - {name: terminal, kind: terminal.host}
  - {name: kv, kind: store.memory}
  - {name: db, kind: db.sql.sqlite, file: ":memory:"}
  - {name: cfg, kind: registry.entry, data: 1}
  - name: tokens
    kind: security.token_store
    store: kv
    token_key: "k3y-for-tests"
  - name: ep_ok
    kind: security.policy
    policy: {actions: access, resources: 'app:ok_ep', effect: allow}
  - name: reports
    kind: security.policy
    policy: {actions: read, resources: 'app:reports', effect: allow}
  - name: deny_no
    kind: security.policy
    policy: {actions: '*', resources: 'app:no_ep', effect: deny}
  - name: everything
    kind: security.policy
    policy: {actions: '*', resources: '*', effect: allow}

  - name: auth
    kind: http.router
    meta: {server: gateway}
    prefix: /auth
  - name: api
    kind: http.router
    meta: {server: gateway}
    prefix: /api
    middleware: [token_auth]
    options: {token_auth.store: app:tokens}
    post_middleware: [endpoint_firewall]
    post_options: {endpoint_firewall.action: access}
  - name: res
    kind: http.router
    meta: {server: gateway}
    prefix: /res
    middleware: [token_auth, resource_firewall]
    options:
      token_auth.store: app:tokens
      resource_firewall.action: read
      resource_firewall.target: app:reports

  - {name: login, kind: function.lua, source: file://h.lua, method: login, modules: [http, security]}
  - {name: me, kind: function.lua, source: file://h.lua, method: me, modules: [http, security]}
  - {name: login_ep, kind: http.endpoint, meta: {router: auth}, method: GET, path: /login, func: login}
  - {name: ok_ep, kind: http.endpoint, meta: {router: api}, method: GET, path: /ok, func: me}
  - {name: no_ep, kind: http.endpoint, meta: {router: api}, method: GET, path: /no, func: me}
  - {name: other_ep, kind: http.endpoint, meta: {router: api}, method: GET, path: /other, func: me}
  - {name: res_ep, kind: http.endpoint, meta: {router: res}, method: GET, path: /x, func: me}
  - {name: sites, kind: process.lua, source: file://s.lua, method: sites, modules: [io, sql, store, registry]}
EOF
cat >"$SRC/src/h.lua" <<'EOF'
local http = require("http")
local security = require("security")

-- /auth/login?id=ACTOR&p=policy,policy: a token for that actor under a
-- scope of those policies (none: an empty scope).
local function login()
	local req, res = http.request(), http.response()
	local ps = {}
	for name in (req:query("p") or ""):gmatch("[^,]+") do
		ps[#ps + 1] = assert(security.policy("app:" .. name))
	end
	local ts = assert(security.token_store("app:tokens"))
	local tok, err = ts:create(security.new_actor(req:query("id") or ""), security.new_scope(ps))
	ts:close()
	if not tok then
		res:set_status(500)
		res:write(tostring(err))
		return
	end
	res:write(tok)
end

local function me()
	local a = security.actor()
	http.response():write("ran as " .. (a and a:id() or "nobody"))
end

return {login = login, me = me}
EOF

cat >"$SRC/src/s.lua" <<'EOF'
-- wippy run -x app:sites: the module checks of a process with no actor.
local function sites()
	local io = require("io")
	local function show(name, v, err)
		io.print(name .. " " .. (v and "ok" or (err:kind() .. ": " .. err:message())))
	end
	show("sql", require("sql").get("app:db"))
	show("registry", require("registry").get("app:cfg"))
	local ok, e = pcall(require("store").get, "app:kv")
	io.print("store " .. (ok and "ok" or (e:kind() .. ": " .. e:message())))
	return 0
end

return {sites = sites}
EOF

lib_start_app "$SRC"
URL=http://127.0.0.1:$PORT

body() { cat "$TMP/$1.b"; }
token() { # token NAME ID POLICIES
	local s
	s=$(lib_get "$1" "$URL/auth/login?id=$2&p=$3"); lib_status_is "$s" 200 "login $1"
	body "$1"
}
answer() { # answer NAME STATUS WANT-BODY CURL-ARGS...
	local name=$1 st=$2 want=$3 s
	shift 3
	s=$(lib_get "$name" "$@"); lib_status_is "$s" "$st" "$name"
	[ "$(body "$name")" = "$want" ] || die "$name: body \"$(body "$name")\", expected \"$want\""
}
json_type() {
	grep -qi '^content-type: application/json' "$TMP/$1.h" || { show head "$TMP/$1.h"; die "$1: not JSON"; }
}
DENY_EP='{"details":"You don'"'"'t have permission to access this endpoint","error":"Access denied","success":false}'
DENY_RES='{"details":"You don'"'"'t have permission to access this resource","error":"Access denied","success":false}'
NOAUTH_EP='{"details":"You must be authenticated to access this endpoint","error":"Authentication required","success":false}'
NOAUTH_RES='{"details":"You must be authenticated to access this resource","error":"Authentication required","success":false}'

# ---- endpoint_firewall: "access" on the endpoint id -------------------------------
T1=$(token t1 user:alice ep_ok,reports)
answer ep_allowed 200 "ran as user:alice" -H "Authorization: Bearer $T1" "$URL/api/ok"
answer ep_denied 403 "$DENY_EP" -H "Authorization: Bearer $T1" "$URL/api/other"
json_type ep_denied
answer ep_none 401 "$NOAUTH_EP" "$URL/api/ok"
json_type ep_none
answer ep_bad 401 "$NOAUTH_EP" -H "Authorization: Bearer not-a-token" "$URL/api/ok"
# a deny wins over an allow
T2=$(token t2 user:bob everything,deny_no)
answer ep_all 200 "ran as user:bob" -H "Authorization: Bearer $T2" "$URL/api/other"
answer ep_deny_wins 403 "$DENY_EP" -H "Authorization: Bearer $T2" "$URL/api/no"
# an empty scope: nothing allows
T3=$(token t3 user:carol "")
answer ep_empty_scope 403 "$DENY_EP" -H "Authorization: Bearer $T3" "$URL/api/ok"
# an actor whose id is empty is no actor
T4=$(token t4 "" ep_ok)
answer ep_empty_actor 401 "$NOAUTH_EP" -H "Authorization: Bearer $T4" "$URL/api/ok"
# the pooled state keeps no actor: right after, no token is 401 again
answer ep_after 401 "$NOAUTH_EP" "$URL/api/ok"

# ---- resource_firewall: "read" on app:reports ------------------------------------------
answer res_allowed 200 "ran as user:alice" -H "Authorization: Bearer $T1" "$URL/res/x"
T5=$(token t5 user:dan ep_ok)
answer res_denied 403 "$DENY_RES" -H "Authorization: Bearer $T5" "$URL/res/x"
json_type res_denied
answer res_none 401 "$NOAUTH_RES" "$URL/res/x"
answer res_query 200 "ran as user:alice" "$URL/res/x?x-auth-token=$T1"

kill -INT "$PID"
wait_exit 10 "$PID"
[ "$EXIT_RC" = 0 ] || { show stderr "$ERR"; die "exit after SIGINT: $EXIT_RC"; }
check_no_sanitizer stderr "$ERR"

# ---- strict mode and the module checks --------------------------------------------------
OUT=$TMP/sites.out
run_sites() {
	local rc=0
	(cd "$APP" && timeout -k 5 40 "$WIPPY" run -x app:sites </dev/null >"$OUT" 2>"$TMP/sites.err") || rc=$?
	check_no_sanitizer stderr "$TMP/sites.err"
	[ "$rc" = 0 ] || { show stdout "$OUT"; show stderr "$TMP/sites.err"; die "sites: exit $rc"; }
}
# -x needs no server: the gateway stays down
sed -i '/^    addr: /{n;s/auto_start: true/auto_start: false/}' "$APP/src/_index.yaml"
run_sites
expect_fixed stdout "$OUT" "sql ok"
expect_fixed stdout "$OUT" "registry ok"
expect_fixed stdout "$OUT" "store ok"
printf 'security:\n  strict_mode: true\n' >"$APP/.wippy.yaml"
run_sites
expect_fixed stdout "$OUT" "sql PermissionDenied: not allowed to access database: app:db"
expect_fixed stdout "$OUT" "registry PermissionDenied: not allowed to access entry: app:cfg"
expect_fixed stdout "$OUT" "store PermissionDenied: not allowed to access store: app:kv"
rm -f "$APP/.wippy.yaml"

# ---- load errors ---------------------------------------------------------------------------
# bad NAME BODY PATTERN: the app with BODY added must fail `wippy lint`
# with PATTERN on stderr, at a file:line:col.
bad() {
	local name=$1 body=$2 pat=$3 dir=$TMP/bad_$1 rc=0
	mkdir -p "$dir/src"
	cp "$SRC/wippy.lock" "$dir/"
	cat >"$dir/src/_index.yaml" <<EOF
version: "1.0"
namespace: app
entries:
  - name: gateway
    kind: http.service
    addr: "127.0.0.1:1"
$body
EOF
	(cd "$dir" && timeout 15 "$WIPPY" lint >"$dir/out" 2>"$dir/err") || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -lt 126 ] || { show stderr "$dir/err"; die "$name: lint exit $rc"; }
	expect_regex "$name stderr" "$dir/err" "_index\.yaml:[0-9]+:[0-9]+: .*$pat"
	check_no_sanitizer "$name stderr" "$dir/err"
}
router() { # router MIDDLEWARE OPTIONS [post]
	local k=middleware o=options
	[ "${3:-}" = post ] && k=post_middleware o=post_options
	printf '  - name: api\n    kind: http.router\n    meta: {server: gateway}\n    %s: %s\n    %s: %s\n' \
		"$k" "$1" "$o" "$2"
}
bad no_target "$(router '[resource_firewall]' '{resource_firewall.action: read}')" \
	'option resource_firewall.target is required'
bad blank_action "$(router '[endpoint_firewall]' '{endpoint_firewall.action: "read all"}' post)" \
	'post_options: option endpoint_firewall.action must have no blanks'
bad blank_legacy "$(router '[resource_firewall]' '{resource_action: "a b", resource_target: x}')" \
	'option resource_firewall.action must have no blanks'
bad too_many "$(router '[endpoint_firewall, endpoint_firewall, endpoint_firewall, endpoint_firewall, endpoint_firewall]' '{}')" \
	'at most 4 firewall middleware'
bad unknown "$(router '[endpoint_firewal]' '{}')" 'unknown middleware "endpoint_firewal"'
echo "ok http_firewall"
