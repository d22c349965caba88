#!/usr/bin/env bash
# test/integration/conf.sh: the runtime's knobs from config files and flags.
#
# An app whose terminal process builds a 8 MiB string runs with the app's
# .wippy.yaml, then with --config FILE, then with both and a flag: the
# process memory limit decides whether it fails, and the shard count shows
# in the boot log (logmanager.min_level: debug from the file). A flag beats
# every file, --config replaces .wippy.yaml, an unknown key is a warning,
# and a malformed or mistyped file is an error at file:line:col with
# nothing started.
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
  - name: terminal
    kind: terminal.host
  - name: cli
    kind: process.lua
    source: file://cli.lua
    method: main
    modules: [io]
EOF
cat >"$APP/src/cli.lua" <<'EOF'
local io = require("io")
local function main()
  local s = string.rep("x", 8 * 1024 * 1024)
  io.print("built " .. #s)
  return 0
end
return { main = main }
EOF

OUT=$TMP/out ERR=$TMP/err
# run NAME EXPECTED_RC ARGS...: wippy run -x app:cli in the app.
run() {
	local name=$1 want=$2 rc
	shift 2
	set +e
	(cd "$APP" && timeout -k 5 30 "$WIPPY" run "$@" -x app:cli </dev/null >"$OUT" 2>"$ERR")
	rc=$?
	set -e
	check_no_sanitizer "stderr" "$ERR"
	[ "$rc" -eq "$want" ] || { show stdout "$OUT"; show stderr "$ERR"; }
	check_exit "$name" "$rc" "$want"
}

note "the defaults: 512M is plenty"
run "defaults" 0
expect_fixed "stdout" "$OUT" "built 8388608"

note ".wippy.yaml: a 4M limit makes the process fail; shards and log level from it"
cat >"$APP/.wippy.yaml" <<'EOF'
scheduler:
  shards: 1
process:
  memory_limit: 4M
logmanager:
  min_level: debug
override:
  app:cli: 1
EOF
run ".wippy.yaml" 1
expect_fixed "stderr" "$ERR" "not enough memory"
expect_fixed "stderr" "$ERR" "engine started: 1 shards"
expect_regex "stderr" "$ERR" 'WARN .*\.wippy\.yaml:8:3: unknown setting "override" \(ignored\)'
reject_fixed "stdout" "$OUT" "built"

note "a flag beats .wippy.yaml"
run "flags over .wippy.yaml" 0 --proc-memory-limit 64M --shards 2
expect_fixed "stdout" "$OUT" "built 8388608"
expect_fixed "stderr" "$ERR" "engine started: 2 shards"

note "--config FILE replaces .wippy.yaml; later files win"
cat >"$TMP/a.yaml" <<'EOF'
process: {memory_limit: 4M}
scheduler: {shards: 2}
EOF
cat >"$TMP/b.yaml" <<'EOF'
process:
  memory_limit: 64M
logmanager: {min_level: -1}
EOF
run "--config a b" 0 --config "$TMP/a.yaml" --config "$TMP/b.yaml"
expect_fixed "stdout" "$OUT" "built 8388608"
expect_fixed "stderr" "$ERR" "engine started: 2 shards"
run "--config a" 1 --config "$TMP/a.yaml" -v
expect_fixed "stderr" "$ERR" "not enough memory"
expect_fixed "stderr" "$ERR" "engine started: 2 shards"
run "--config a, flag" 0 --config "$TMP/a.yaml" --proc-memory-limit 0
expect_fixed "stdout" "$OUT" "built 8388608"

note "errors name file:line:col and nothing starts"
printf 'scheduler:\n  shards: [1\n' >"$APP/.wippy.yaml"
run "malformed .wippy.yaml" 1
expect_regex "stderr" "$ERR" '^wippy: \.wippy\.yaml:[0-9]+:[0-9]+: YAML syntax error'
expect_fixed "stderr" "$ERR" "nothing started"
reject_fixed "stdout" "$OUT" "built"
printf 'shutdown:\n  timeout: soon\n' >"$APP/.wippy.yaml"
run "wrong type" 1
expect_fixed "stderr" "$ERR" 'wippy: .wippy.yaml:2:12: shutdown.timeout: must be a duration like "10s", got "soon"'
reject_fixed "stdout" "$OUT" "built"
rm "$APP/.wippy.yaml"
run "a bad flag" 2 --stop-timeout soon
expect_fixed "stderr" "$ERR" "invalid --stop-timeout 'soon'"
run "a missing --config" 1 --config "$TMP/none.yaml"
expect_fixed "stderr" "$ERR" "none.yaml: cannot read"
note "ok: config files, flags over them, and their errors"
