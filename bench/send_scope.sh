#!/usr/bin/env bash
# bench/send_scope.sh: the cost of the security check on process.send.
#
# One run of an app whose terminal process spawns senders: with no actor
# and scope (the check answers "allowed" from the process's cached
# context); as an actor under a scope of 20 policies that all name
# process.send, where the one that allows comes last (the worst case: 19
# others, each with a resource that does not match, are tried first); and
# under 20 policies of which only the last names process.send (the
# process's per-action memo skips the other 19). The memo also keeps the
# last answer per action, so the same target twice is one comparison: the
# last line alternates two targets to show the cost without that. Each sender sends SEND_SCOPE_N messages
# (default 200000) to a sink on the same host and reports ns per send; the
# sink drops them. The two kinds of sender run interleaved, twice each. The issue's target: the scoped sends within 10 % of the
# plain ones. No assertions; exit 77 when build/wippy is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WIPPY=${WIPPY:-$BUILD/wippy}
N=${SEND_SCOPE_N:-200000}
[ -x "$WIPPY" ] || { echo "skip: $WIPPY missing"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/app/src"
{
	cat <<'EOF'
version: "1.0"
namespace: app
entries:
  - {name: terminal, kind: terminal.host}
  - {name: procs, kind: process.host, host: {workers: 1}, lifecycle: {auto_start: true}}
  - {name: cli, kind: process.lua, source: file://app.lua, method: cli, modules: [io, time, security]}
  - {name: sender, kind: process.lua, source: file://app.lua, method: sender, modules: [time]}
  - {name: sink, kind: process.lua, source: file://app.lua, method: sink}
EOF
	for i in $(seq 1 19); do
		printf '  - {name: p%02d, kind: security.policy, groups: [bench], policy: {actions: [process.send, other.%d], resources: "{app:none%d|*", effect: deny}}\n' "$i" "$i" "$i"
	done
	for i in $(seq 1 19); do
		printf '  - {name: q%02d, kind: security.policy, groups: [mixed], policy: {actions: [other.%d, "env.*"], resources: "{app:none%d|*", effect: deny}}\n' "$i" "$i" "$i"
	done
	printf '  - {name: p20, kind: security.policy, groups: [bench, mixed], policy: {actions: "*", resources: "*", effect: allow}}\n'
} >"$TMP/app/src/_index.yaml"
cat >"$TMP/app/src/app.lua" <<'EOF'
local M = {}

function M.sink()
  local inbox = process.inbox()
  while true do inbox:receive() end
end

-- Send n messages to sink, or alternately to sink and sink2.
function M.sender(sink, n, sink2)
  local time = require("time")
  local b = sink2 or sink
  for _ = 1, 1000 do process.send(sink, "m", 1) end  -- warm up
  local t0 = time.now()
  for _ = 1, n / 2 do
    process.send(sink, "m", 1)
    process.send(b, "m", 1)
  end
  return time.now():sub(t0):nanoseconds() / n
end

local function run(sp, sink, n, sink2)
  local pid = sp:spawn_monitored("app:sender", "app:procs", sink, n, sink2)
  local events = process.events()
  while true do
    local ev = events:receive()
    if ev.kind == process.event.EXIT and ev.from == pid then
      assert(ev.result.error == nil, tostring(ev.result.error))
      return ev.result.value
    end
  end
end

function M.cli()
  local io = require("io")
  local security = require("security")
  local n = tonumber(io.args()[1] or "200000")
  local sink = process.spawn("app:sink", "app:procs")
  local sink2 = process.spawn("app:sink", "app:procs")
  local worst, mixed = security.named_scope("app:bench"), security.named_scope("app:mixed")
  assert(#worst:policies() == 20 and #mixed:policies() == 20)
  local plain_sp = process.with_context({})
  local actor = security.new_actor("user:1")
  local worst_sp = process.with_context({}):with_actor(actor):with_scope(worst)
  local mixed_sp = process.with_context({}):with_actor(actor):with_scope(mixed)
  -- interleaved, twice each, so that drift (the sink's backlog, the
  -- allocator) falls on every side
  local base, w, m, base2, w2 = 0, 0, 0, 0, 0
  for _ = 1, 2 do
    base = base + run(plain_sp, sink, n) / 2
    w = w + run(worst_sp, sink, n) / 2
    m = m + run(mixed_sp, sink, n) / 2
    base2 = base2 + run(plain_sp, sink, n, sink2) / 2
    w2 = w2 + run(worst_sp, sink, n, sink2) / 2
  end
  local function pct(x, b) return (x - b) * 100 / b end
  io.print(string.format("send_scope N=%d, one target: no scope %.0f ns/send; 20 policies all on "
    .. "process.send %.0f (%+.1f %%); 20 policies, one on process.send %.0f (%+.1f %%)",
    n, base, w, pct(w, base), m, pct(m, base)))
  io.print(string.format("send_scope N=%d, two targets alternating (the last answer never "
    .. "reused): no scope %.0f ns/send; 20 policies all on process.send %.0f (%+.1f %%)",
    n, base2, w2, pct(w2, base2)))
  process.terminate(sink)
  process.terminate(sink2)
  return 0
end

return M
EOF
cd "$TMP/app" && timeout 120 "$WIPPY" run -x app:terminal/app:cli -- "$N" </dev/null 2>"$TMP/err" || {
	echo "send_scope: ERROR" >&2
	tail -n 5 "$TMP/err" >&2
	exit 1
}
