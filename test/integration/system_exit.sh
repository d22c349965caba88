#!/usr/bin/env bash
# test/integration/system_exit.sh: system.exit(code) stops the runtime as
# SIGTERM does (services get their CANCEL) and `wippy run` exits with that
# code; a code out of 0..255 is refused with Invalid and nothing stops;
# under a scope that denies system.exit the call gives PermissionDenied.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
lib_tmpdir

APP=$TMP/app
mkdir -p "$APP/src"
cp "$LIB_ROOT/examples/hello-http/wippy.lock" "$APP/"
cat >"$APP/src/_index.yaml" <<'YAML'
version: "1.0"
namespace: app
entries:
  - name: processes
    kind: process.host
    lifecycle: {auto_start: true}
  - name: no_exit
    kind: security.policy
    policy: {actions: system.exit, resources: "*", effect: deny}
  - name: allow_rest
    kind: security.policy
    policy: {actions: "*", resources: "*", effect: allow}
  - name: denied
    kind: process.lua
    source: file://app.lua
    method: denied
    modules: [system]
  - name: waiter
    kind: process.lua
    source: file://app.lua
    method: waiter
    modules: [logger]
  - name: main
    kind: process.service
    process: app:waiter
    host: app:processes
    lifecycle: {auto_start: true}
  - name: stopper
    kind: process.lua
    source: file://app.lua
    method: stopper
    modules: [system, security, time, logger]
  - name: go
    kind: process.service
    process: app:stopper
    host: app:processes
    lifecycle: {auto_start: true}
YAML
cat >"$APP/src/app.lua" <<'LUA'
local function waiter()
	local ev = process.events():receive()
	require("logger"):info("waiter got " .. tostring(ev.kind))
	return 0
end
local function denied()
	local system = require("system")
	local ok, err = system.exit(5)
	return {ok = ok, kind = err and err:kind() or "none"}
end
local function stopper()
	local system = require("system")
	local security = require("security")
	local time = require("time")
	local log = require("logger")
	local ok, err = system.exit(300)
	log:info("exit(300): " .. tostring(ok) .. " " .. (err and err:kind() or "none"))
	local scope = security.new_scope({security.policy("app:no_exit"), security.policy("app:allow_rest")})
	local pid = process.with_context({}):with_actor(security.new_actor("u")):with_scope(scope)
		:spawn_monitored("app:denied", "app:processes")
	local ev = process.events():receive()
	log:info("denied: " .. tostring(ev.result.value.ok) .. " " .. ev.result.value.kind)
	time.sleep("50ms")
	system.exit(3)
	process.events():receive()
	return 0
end
return {waiter = waiter, denied = denied, stopper = stopper}
LUA
set +e
(cd "$APP" && timeout -k 5 30 "$WIPPY" run </dev/null >"$TMP/out" 2>"$TMP/err")
rc=$?
set -e
[ "$rc" -eq 3 ] || { show stdout "$TMP/out"; show stderr "$TMP/err"; die "wippy run exited $rc, expected 3 from system.exit(3)"; }
expect_regex "stderr" "$TMP/err" 'INFO +exit\(300\): nil Invalid'
expect_regex "stderr" "$TMP/err" 'INFO +denied: nil PermissionDenied'
expect_regex "stderr" "$TMP/err" 'INFO +waiter got pid.cancel'
check_no_sanitizer stderr "$TMP/err"
echo "ok: system.exit stops the runtime with its code; bad codes and denials are refused"
