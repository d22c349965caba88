#!/usr/bin/env bash
# test/integration/echo.sh: the echo-service example end to end.
#
# Copies examples/echo-service to a scratch dir and pipes lines into the
# terminal CLI (`wippy run -x ...`): every line must come back upper-cased
# from a worker process spawned by the relay service, an empty line or EOF
# must end the CLI with "Goodbye!", and the CLI's `return 0` must become
# the exit code of `wippy run`. The three spellings of the exec spec are
# all checked: the seed's host/process form, the plain process form (one
# terminal.host, found automatically) and the plain form with --host.
#
# The CLI colours its output with ANSI escapes; the checks match the plain
# words inside them (grep -F), so the colours do not matter.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUN_LIMIT=40   # seconds per `wippy run`: about 1 s of work, plus up to the
               # relay service's 10 s stop_timeout (it ignores CANCEL)

lib_require_wippy
lib_tmpdir
APP=$TMP/app
lib_copy_app "$LIB_ROOT/examples/echo-service" "$APP"

# run_cli NAME INPUT ARGS...: pipe INPUT (printf %b escapes) into
# `wippy ARGS` run in the app dir. Leaves stdout/stderr in $TMP/NAME.out
# and $TMP/NAME.err and the exit code in $RC.
run_cli() {
	local name=$1 input=$2
	shift 2
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	note "$name: printf '$input' | wippy $*"
	set +e
	(cd "$APP" && printf '%b' "$input" |
		timeout -k 5 "$RUN_LIMIT" "$WIPPY" "$@" >"$OUT" 2>"$ERR")
	RC=$?
	set -e
}

# check_session NAME WORDS...: the run exited 0, printed a response for each
# upper-cased WORD in order, each from a worker PID, and said goodbye.
check_session() {
	local name=$1
	shift
	check_no_sanitizer "$name stderr" "$ERR"
	if [ "$RC" -ne 0 ]; then
		show "$name stdout" "$OUT"
		show "$name stderr" "$ERR"
	fi
	check_exit "$name: wippy run" "$RC" 0

	if grep -qF "error: relay not available" "$OUT"; then
		show "$name stdout" "$OUT"
		show "$name stderr" "$ERR"
		die "$name: process.send(\"relay\", ...) failed: the relay service had not registered its name 200 ms after the CLI started"
	fi
	if grep -qF "  timeout" "$OUT"; then
		show "$name stdout" "$OUT"
		show "$name stderr" "$ERR"
		die "$name: no echo_response within 2 s (relay -> worker -> CLI path broken)"
	fi

	expect_fixed "$name stdout" "$OUT" "Echo Client"
	local word last=0 at
	for word in "$@"; do
		expect_fixed "$name stdout" "$OUT" "$word"
		at=$(grep -nF -- "$word" "$OUT" | head -n1 | cut -d: -f1)
		if [ "$at" -le "$last" ]; then
			show "$name stdout" "$OUT"
			die "$name: '$word' printed out of order (line $at, previous response at line $last)"
		fi
		last=$at
	done
	expect_fixed "$name stdout" "$OUT" "from worker: {app:processes|0x"
	expect_regex "$name stdout" "$OUT" 'from worker: \{app:processes\|0x[0-9a-fA-F]{5,}\}'
	local n
	n=$(count_regex "$OUT" 'from worker: ')
	if [ "$n" -ne $# ]; then
		show "$name stdout" "$OUT"
		die "$name: expected $# 'from worker:' lines (one per input line), got $n"
	fi
	expect_fixed "$name stdout" "$OUT" "Goodbye!"
	note "$name: ok"
}

# The seed tutorial's command: host/process exec spec.
run_cli legacy 'hello world\nabc\n\n' run -x app:terminal/app:cli
check_session legacy "HELLO WORLD" "ABC"

# The current form: the only terminal.host is found automatically.
run_cli exec 'hello world\nabc\n\n' run -x app:cli
check_session exec "HELLO WORLD" "ABC"

# The current form with the host named.
run_cli exec_host 'hello world\nabc\n\n' run -x app:cli --host app:terminal
check_session exec_host "HELLO WORLD" "ABC"

# EOF instead of an empty line: io.readline() returns nil and the loop ends.
run_cli eof 'hello world\n' run -x app:cli
check_session eof "HELLO WORLD"

# EOF right after a partial line: readline returns the partial "abc" first,
# then nil.
run_cli eof_partial 'hello world\nabc' run -x app:cli
check_session eof_partial "HELLO WORLD" "ABC"

echo "ok: echo-service via -x app:terminal/app:cli, -x app:cli, --host, and stdin EOF"
