#!/usr/bin/env bash
# test/integration/security.sh: the security model in a two-host app.
#
# A `system` host runs a privileged service with no security block; a
# `users` host runs a service whose lifecycle.security makes it actor
# user:42 (meta role: user) under the policies of group app:user, which
# deny process.send into "{app:system|*" and process.host on app:system and
# allow the rest. The user service reports to the terminal process: its
# send to the system service and its spawn on app:system are
# PermissionDenied, its spawn on its own host works, a policy with a
# condition on actor.meta.role (deny unless admin) stops it reading reports, and the
# system service's message reached it. Then strict mode (security.
# strict_mode in .wippy.yaml) denies a process with no actor; and a
# malformed policy, a bad operator and an expression outside the supported subset are
# load errors at file:line:col with nothing started.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
lib_tmpdir
APP=$TMP/app
mkdir -p "$APP/src"
cat >"$APP/src/_index.yaml" <<'EOF'
version: "1.0"
namespace: app
entries:
  - {name: terminal, kind: terminal.host}
  - {name: system, kind: process.host, lifecycle: {auto_start: true}}
  - {name: users, kind: process.host, lifecycle: {auto_start: true}}

  - name: user_sandbox
    kind: security.policy
    groups: [user]
    policy:
      actions: process.send
      resources: '{app:system|*'
      effect: deny
  - name: user_hosts
    kind: security.policy
    groups: [user]
    policy: {actions: process.host, resources: app:system, effect: deny}
  - name: user_rest
    kind: security.policy
    groups: [user]
    policy: {actions: '*', resources: '*', effect: allow}
  - name: admin_reports
    kind: security.policy
    policy:
      actions: report.read
      resources: '*'
      effect: deny
      conditions:
        - {field: actor.meta.role, operator: ne, value: admin}

  - {name: sys, kind: process.lua, source: file://app.lua, method: sys, modules: [time]}
  - {name: user, kind: process.lua, source: file://app.lua, method: user, modules: [time, security]}
  - {name: worker, kind: process.lua, source: file://app.lua, method: worker}
  - {name: cli, kind: process.lua, source: file://app.lua, method: cli, modules: [io, time]}
  - {name: strict_cli, kind: process.lua, source: file://app.lua, method: strict_cli, modules: [io, security]}

  - name: sys_svc
    kind: process.service
    process: app:sys
    host: app:system
    lifecycle: {auto_start: true}
  - name: user_svc
    kind: process.service
    process: app:user
    host: app:users
    lifecycle:
      auto_start: true
      security:
        actor: {id: "user:42", meta: {role: user}}
        groups: [user]
        policies: [admin_reports]
EOF
cat >"$APP/src/app.lua" <<'EOF'
local M = {}

local function lookup(time, name)
  for _ = 1, 200 do
    local pid = process.registry.lookup(name)
    if pid then return pid end
    time.sleep("10ms")
  end
end

function M.sys()
  local time = require("time")
  process.registry.register("sys")
  local user = lookup(time, "user")
  process.send(user, "ping", "from system")
  time.sleep("30s")
end

local function res(v, err)
  if v then return "ok" end
  return "denied " .. err:kind() .. ": " .. err:message()
end

function M.user()
  local time = require("time")
  local security = require("security")
  local r = {}
  r[#r + 1] = "actor " .. security.actor():id() .. " role " .. security.actor():meta().role
  r[#r + 1] = "register " .. res(process.registry.register("user"))
  local ping = process.listen("ping")
  local to = time.after("3s")
  local got = channel.select({ping:case_receive(), to:case_receive()})
  r[#r + 1] = "ping " .. (got.channel == ping and tostring(got.value) or "none")
  local sys = lookup(time, "sys")
  r[#r + 1] = "send system " .. res(process.send(sys, "hello", 1))
  -- The same pid with the users host's name in it is still the system
  -- service: the check goes by the process, not by the text.
  local forged = sys:gsub("^{app:system|", "{app:users|")
  r[#r + 1] = "send forged " .. tostring(forged ~= sys) .. " " .. res(process.send(forged, "hello", 1))
  -- Answers are remembered per target: allowed and denied ones, in turn,
  -- each stay what they are.
  local cli, turns = lookup(time, "cli"), {}
  for i = 1, 3 do
    turns[#turns + 1] = (process.send(cli, "noise", i) and "y" or "n")
      .. (process.send(sys, "hello", i) and "y" or "n")
  end
  r[#r + 1] = "turns " .. table.concat(turns, " ")
  r[#r + 1] = "spawn system " .. res(process.spawn("app:worker", "app:system"))
  r[#r + 1] = "spawn users " .. res(process.spawn("app:worker", "app:users"))
  r[#r + 1] = "can report " .. tostring(security.can("report.read", "r1"))
  r[#r + 1] = "can other " .. tostring(security.can("other", "r1"))
  process.send(lookup(time, "cli"), "report", r)
  time.sleep("30s")
end

function M.worker() return 0 end

function M.cli()
  local io = require("io")
  local time = require("time")
  process.registry.register("cli")
  local ch = process.listen("report")
  local to = time.after("10s")
  local got = channel.select({ch:case_receive(), to:case_receive()})
  if got.channel ~= ch then
    io.print("no report")
    return 1
  end
  for _, line in ipairs(got.value) do io.print(line) end
  return 0
end

function M.strict_cli()
  local io = require("io")
  local security = require("security")
  io.print("can " .. tostring(security.can("anything", "x")))
  local pid, err = process.spawn("app:worker", "app:users")
  io.print("spawn " .. (pid and "ok" or err:kind() .. ": " .. err:message()))
  local ok, e = pcall(process.with_context, {})
  io.print("with_context " .. (ok and "ok" or tostring(e)))
  return 0
end

return M
EOF

OUT=$TMP/out ERR=$TMP/err
run() {
	local name=$1 want=$2 dir=$3 rc
	shift 3
	set +e
	(cd "$dir" && timeout -k 5 40 "$WIPPY" run "$@" </dev/null >"$OUT" 2>"$ERR")
	rc=$?
	set -e
	check_no_sanitizer "stderr" "$ERR"
	[ "$rc" -eq "$want" ] || { show stdout "$OUT"; show stderr "$ERR"; }
	check_exit "$name" "$rc" "$want"
}

note "two hosts: the user service is sandboxed, the system service is not"
run "two hosts" 0 "$APP" -x app:cli
expect_fixed "stdout" "$OUT" "actor user:42 role user"
expect_fixed "stdout" "$OUT" "register ok"
expect_fixed "stdout" "$OUT" "ping from system"
expect_regex "stdout" "$OUT" '^send system denied PermissionDenied: not allowed to send: \{app:system\|'
expect_regex "stdout" "$OUT" '^send forged true denied PermissionDenied: not allowed to send: \{app:users\|'
expect_fixed "stdout" "$OUT" "turns yn yn yn"
expect_fixed "stdout" "$OUT" "spawn system denied PermissionDenied: not allowed to spawn on host: app:system"
expect_fixed "stdout" "$OUT" "spawn users ok"
expect_fixed "stdout" "$OUT" "can report false"
expect_fixed "stdout" "$OUT" "can other true"

note "strict mode off: a process with no actor may do anything"
run "strict off" 0 "$APP" -x app:strict_cli
expect_fixed "stdout" "$OUT" "can true"
expect_fixed "stdout" "$OUT" "spawn ok"
expect_fixed "stdout" "$OUT" "with_context ok"

note "strict mode on: a process with no actor is denied"
printf 'security:\n  strict_mode: true\n' >"$APP/.wippy.yaml"
run "strict on" 0 "$APP" -x app:strict_cli
expect_fixed "stdout" "$OUT" "can false"
expect_fixed "stdout" "$OUT" "spawn PermissionDenied: not allowed to spawn process: app:worker"
expect_fixed "stdout" "$OUT" "with_context"
expect_fixed "stdout" "$OUT" "not allowed to spawn processes with custom context"
printf 'security:\n  strict_mode: maybe\n' >"$APP/.wippy.yaml"
run "strict mode mistyped" 1 "$APP" -x app:strict_cli
expect_regex "stderr" "$ERR" '\.wippy\.yaml:2:16: security\.strict_mode'
rm -f "$APP/.wippy.yaml"

note "malformed policies are load errors at file:line:col"
BAD=$TMP/bad
mkdir -p "$BAD/src"
cat >"$BAD/src/_index.yaml" <<'EOF'
version: "1.0"
namespace: bad
entries:
  - {name: terminal, kind: terminal.host}
  - {name: cli, kind: process.lua, source: file://cli.lua, method: main}
  - name: p1
    kind: security.policy
    policy: {actions: '*', resources: '*', effect: permit}
  - name: p2
    kind: security.policy
    policy:
      actions: '*'
      resources: '*'
      effect: allow
      conditions:
        - {field: actor.id, operator: like, value: x}
  - name: p3
    kind: security.policy.expr
    policy: {expression: 'action == len(x)', actions: '*', resources: '*', effect: allow}
  - {name: p4, kind: security.policy}
  - {name: s1, kind: security.scope, policies: []}
  - name: svc
    kind: process.service
    process: bad:cli
    host: bad:terminal
    lifecycle: {security: {actor: [1], policies: p1}}
EOF
printf 'return { main = function() return 0 end }\n' >"$BAD/src/cli.lua"
run "malformed policies" 1 "$BAD" -x bad:cli
expect_regex "stderr" "$ERR" '_index\.yaml:8:[0-9]+: bad:p1: policy\.effect: must be "allow" or "deny", got "permit"'
expect_regex "stderr" "$ERR" '_index\.yaml:16:[0-9]+: bad:p2: policy\.conditions\[0\]: unknown operator "like"'
expect_regex "stderr" "$ERR" '_index\.yaml:19:27: bad:p3: policy\.expression: function calls and \[\] indexing are not supported at offset 13'
expect_regex "stderr" "$ERR" 'bad:p4: missing required field "policy"'
expect_regex "stderr" "$ERR" 'bad:s1: field "policies" must be a non-empty list of policy ids'
expect_regex "stderr" "$ERR" 'bad:svc: lifecycle\.security\.actor must be a mapping'
expect_regex "stderr" "$ERR" 'bad:svc: lifecycle\.security\.policies must be a list'
