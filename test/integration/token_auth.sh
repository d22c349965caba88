#!/usr/bin/env bash
# test/integration/token_auth.sh: security token stores over HTTP and the
# token_auth router middleware.
#
# The app (written here into a temp dir) has a security.token_store over a
# store.memory with a signing key, a /auth router whose endpoints create
# and revoke tokens, and a /api router with token_auth. With curl:
#   - login creates a token for actor user:<name> under a scope that allows
#     doc.read;
#   - /api/me echoes security.actor():id() and security.can("doc.read"):
#     with no token the handler runs as nobody ("anonymous", the
#     original's token_auth never answers by itself: it only enriches the
#     request), and so with a bad token, a tampered signature, a revoked
#     token and an expired one; with a good token (Authorization: Bearer,
#     the x-auth-token query parameter or cookie, a custom header) it sees
#     the token's actor and scope;
#   - a pooled handler state keeps no actor from one request to the next;
#   - a token kept in a store.sql (SQLite, the legacy token_store option):
#     good, none, another store's token, revoked;
#   - load errors at file:line:col from `wippy lint`: token_auth without
#     its store, a store option that is not an id, a bad header name, a
#     token store whose store is missing or not a store, a bad
#     token_length.
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
  - {name: kv, kind: store.memory}
  - name: tokens
    kind: security.token_store
    store: kv
    token_key: "k3y-for-tests"
    default_expiration: 1h
  - {name: db, kind: db.sql.sqlite, file: "./tokens.db"}
  - {name: sqlkv, kind: store.sql, database: db, table_name: tokens}
  - {name: sqltokens, kind: security.token_store, store: sqlkv}
  - name: docs
    kind: security.policy
    policy: {actions: doc.read, resources: '*', effect: allow}

  - name: auth
    kind: http.router
    meta: {server: gateway}
    prefix: /auth
  - name: api
    kind: http.router
    meta: {server: gateway}
    prefix: /api
    middleware: [token_auth]
    options:
      token_auth.store: app:tokens
  - name: sqlapi
    kind: http.router
    meta: {server: gateway}
    prefix: /sqlapi
    middleware: [token_auth]
    options:
      token_store: app:sqltokens
  - name: custom
    kind: http.router
    meta: {server: gateway}
    prefix: /custom
    middleware: [token_auth]
    options:
      token_auth.store: app:tokens
      token_auth.header.name: X-Api-Key
      token_auth.header.prefix: "Key "

  - {name: login, kind: function.lua, source: file://h.lua, method: login, modules: [http, security]}
  - {name: login_sql, kind: function.lua, source: file://h.lua, method: login_sql, modules: [http, security, sql]}
  - {name: login_sql_ep, kind: http.endpoint, meta: {router: auth}, method: GET, path: /login_sql, func: login_sql}
  - {name: revoke, kind: function.lua, source: file://h.lua, method: revoke, modules: [http, security]}
  - {name: me, kind: function.lua, source: file://h.lua, method: me, modules: [http, security, time]}
  - {name: login_ep, kind: http.endpoint, meta: {router: auth}, method: GET, path: /login, func: login}
  - {name: revoke_ep, kind: http.endpoint, meta: {router: auth}, method: GET, path: /revoke, func: revoke}
  - {name: open_me_ep, kind: http.endpoint, meta: {router: auth}, method: GET, path: /me, func: me}
  - {name: me_ep, kind: http.endpoint, meta: {router: api}, method: GET, path: /me, func: me}
  - {name: sql_me_ep, kind: http.endpoint, meta: {router: sqlapi}, method: GET, path: /me, func: me}
  - {name: custom_me_ep, kind: http.endpoint, meta: {router: custom}, method: GET, path: /me, func: me}
EOF
cat >"$SRC/src/h.lua" <<'EOF'
local http = require("http")
local security = require("security")

local function login()
	local req, res = http.request(), http.response()
	local ts = assert(security.token_store("app:tokens"))
	local exp = req:query("exp")
	local tok, err = ts:create(security.new_actor("user:" .. req:query("user"), {role = "user"}),
		security.new_scope({assert(security.policy("app:docs"))}),
		{expiration = exp and exp ~= "" and exp or nil})
	ts:close()
	if not tok then
		res:set_status(500)
		res:write(tostring(err))
		return
	end
	res:write(tok)
end

-- A token kept in the SQLite store (its table made here, as the app's to
-- create); revoke=1 revokes it at once and answers the token all the same.
local function login_sql()
	local req, res = http.request(), http.response()
	local db = assert(require("sql").get("app:db"))
	assert(db:execute("CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at TIMESTAMP)"))
	db:release()
	local ts = assert(security.token_store("app:sqltokens"))
	local tok = assert(ts:create(security.new_actor("sql:" .. req:query("user")), security.new_scope()))
	if req:query("revoke") == "1" then
		assert(ts:revoke(tok))
	end
	res:write(tok)
end

local function revoke()
	local req, res = http.request(), http.response()
	local ts = assert(security.token_store("app:tokens"))
	local ok, err = ts:revoke(req:query("token"))
	res:write(ok and "revoked" or tostring(err))
end

local function me()
	local res = http.response()
	-- parks the handler after token_auth set its actor: the pair must
	-- survive the wait
	require("time").sleep("5ms")
	local a = security.actor()
	res:write((a and a:id() or "anonymous") .. " " .. tostring(security.can("doc.read", "x")) ..
		" " .. tostring(security.scope() ~= nil))
end

return {login = login, login_sql = login_sql, revoke = revoke, me = me}
EOF

lib_start_app "$SRC"
URL=http://127.0.0.1:$PORT

body() { cat "$TMP/$1.b"; }
me_is() { # me_is NAME WANT CURL-ARGS...
	local name=$1 want=$2 s
	shift 2
	s=$(lib_get "$name" "$@"); lib_status_is "$s" 200 "$name"
	[ "$(body "$name")" = "$want" ] || die "$name: handler saw \"$(body "$name")\", expected \"$want\""
}

# ---- create and use a token ------------------------------------------------------
s=$(lib_get login "$URL/auth/login?user=alice"); lib_status_is "$s" 200 login
TOK=$(body login)
[[ "$TOK" =~ ^[A-Za-z0-9_=-]{44}\.[A-Za-z0-9_=-]{44}$ ]] || die "token form: $TOK"

me_is none "anonymous true false" "$URL/api/me"
me_is good "user:alice true true" -H "Authorization: Bearer $TOK" "$URL/api/me"
me_is good_again "user:alice true true" -H "Authorization: Bearer $TOK" "$URL/api/me"
# The same pooled states right after: no actor left behind.
for i in 1 2 3 4; do
	me_is after$i "anonymous true false" "$URL/api/me"
done
me_is query "user:alice true true" "$URL/api/me?x=1&x-auth-token=$TOK"
me_is cookie "user:alice true true" -H "Cookie: a=b; x-auth-token=$TOK" "$URL/api/me"
# A router without token_auth ignores the header.
me_is open "anonymous true false" -H "Authorization: Bearer $TOK" "$URL/auth/me"
# Not "Bearer ": no token read from the header.
me_is noprefix "anonymous true false" -H "Authorization: $TOK" "$URL/api/me"
me_is custom "user:alice true true" -H "X-Api-Key: Key $TOK" "$URL/custom/me"
me_is custom_bearer "anonymous true false" -H "Authorization: Bearer $TOK" "$URL/custom/me"

# ---- a token kept in a store.sql (the validation parks on the database) ----------
s=$(lib_get lsql "$URL/auth/login_sql?user=carol"); lib_status_is "$s" 200 lsql
TOKS=$(body lsql)
me_is sql_good "sql:carol false true" -H "Authorization: Bearer $TOKS" "$URL/sqlapi/me"
me_is sql_none "anonymous true false" "$URL/sqlapi/me"
me_is sql_other "anonymous true false" -H "Authorization: Bearer $TOK" "$URL/sqlapi/me"
s=$(lib_get lsql2 "$URL/auth/login_sql?user=dan&revoke=1"); lib_status_is "$s" 200 lsql2
me_is sql_revoked "anonymous true false" -H "Authorization: Bearer $(body lsql2)" "$URL/sqlapi/me"

# ---- bad tokens ------------------------------------------------------------------------
me_is bad "anonymous true false" -H "Authorization: Bearer not-a-token" "$URL/api/me"
BASE=${TOK%%.*}
SIG=${TOK#*.}
FLIP=$([ "${SIG:0:1}" = A ] && echo B || echo A)
me_is tampered "anonymous true false" -H "Authorization: Bearer $BASE.$FLIP${SIG:1}" "$URL/api/me"
me_is unsigned "anonymous true false" -H "Authorization: Bearer $BASE" "$URL/api/me"

# ---- revoke --------------------------------------------------------------------------------
s=$(lib_get login2 "$URL/auth/login?user=bob"); lib_status_is "$s" 200 login2
TOK2=$(body login2)
me_is bob "user:bob true true" -H "Authorization: Bearer $TOK2" "$URL/api/me"
s=$(lib_get rv "$URL/auth/revoke?token=$TOK2"); lib_status_is "$s" 200 rv
[ "$(body rv)" = revoked ] || die "revoke: $(body rv)"
me_is revoked "anonymous true false" -H "Authorization: Bearer $TOK2" "$URL/api/me"
s=$(lib_get rv2 "$URL/auth/revoke?token=$TOK2"); lib_status_is "$s" 200 rv2
grep -q "token not found" "$TMP/rv2.b" || die "second revoke: $(body rv2)"
me_is alice_still "user:alice true true" -H "Authorization: Bearer $TOK" "$URL/api/me"

# ---- expiry ----------------------------------------------------------------------------------
s=$(lib_get login3 "$URL/auth/login?user=brief&exp=300ms"); lib_status_is "$s" 200 login3
TOK3=$(body login3)
me_is brief "user:brief true true" -H "Authorization: Bearer $TOK3" "$URL/api/me"
sleep 0.5
me_is expired "anonymous true false" -H "Authorization: Bearer $TOK3" "$URL/api/me"
s=$(lib_get login4 "$URL/auth/login?user=x&exp=soon"); lib_status_is "$s" 500 login4
grep -q "invalid expiration format" "$TMP/login4.b" || die "bad expiration: $(body login4)"

kill -INT "$PID"
wait_exit 10 "$PID"
[ "$EXIT_RC" = 0 ] || { show stderr "$ERR"; die "exit after SIGINT: $EXIT_RC"; }
check_no_sanitizer stderr "$ERR"

# ---- load errors -------------------------------------------------------------------------------
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
  - {name: kv, kind: store.memory}
  - {name: notstore, kind: registry.entry, data: 1}
$body
EOF
	(cd "$dir" && timeout 15 "$WIPPY" lint >"$dir/out" 2>"$dir/err") || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -lt 126 ] || { show stderr "$dir/err"; die "$name: lint exit $rc"; }
	expect_regex "$name stderr" "$dir/err" "_index\.yaml:[0-9]+:[0-9]+: .*$pat"
	check_no_sanitizer "$name stderr" "$dir/err"
}
router() { # router OPTIONS
	printf '  - name: api\n    kind: http.router\n    meta: {server: gateway}\n    middleware: [token_auth]\n    options: %s\n' "$1"
}
bad nostore "$(router '{}')" 'option token_auth.store is required'
bad notid "$(router '{token_auth.store: "tokens"}')" 'option token_auth.store must be an entry id like ns:name, got "tokens"'
bad header "$(router '{token_auth.store: "app:tokens", token_auth.header.name: "X Bad"}')" 'option token_auth.header.name must be a header name'
bad ts_nostore "$(printf '  - {name: t, kind: security.token_store}\n')" 'store'
bad ts_missing "$(printf '  - {name: t, kind: security.token_store, store: app:nowhere}\n')" 'nowhere'
bad ts_notstore "$(printf '  - {name: t, kind: security.token_store, store: notstore}\n')" 'notstore'
bad ts_length "$(printf '  - {name: t, kind: security.token_store, store: kv, token_length: 0}\n')" 'token_length'
bad ts_exp "$(printf '  - {name: t, kind: security.token_store, store: kv, default_expiration: soon}\n')" 'default_expiration'
echo "ok token_auth"
