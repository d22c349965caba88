# shellcheck shell=bash
# test/integration/lib.sh: shared helpers for the integration scripts.
#
# Source it from a script that runs under `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib.sh"
#   lib_require_wippy            # $WIPPY must be an absolute, executable path
#   lib_tmpdir                   # sets $TMP; removed (and our children killed) on exit
#
# test/run.sh runs each script in its own process with a timeout; exit 0 is
# a pass, 77 a skip, anything else a failure. Every wait in these scripts is
# bounded on its own as well, so a hung runtime is reported by name instead
# of by the runner's timeout. Failures print what was expected and what came
# out (the tail of the captured stdout/stderr).
#
# test/run.sh skips this file. Run directly (`bash test/integration/lib.sh`)
# it tests its own helpers against sleep(1) and sh(1), with no wippy binary:
# do that after changing a helper.

# Repository root, found from this file so the scripts work from any cwd.
# shellcheck disable=SC2034  # used by the scripts that source this file
LIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=
LIB_BG_PIDS=()

# die MSG...: report a failure and exit 1.
die() {
	echo "FAIL: $*" >&2
	exit 1
}

# skip MSG...: report a skip and exit 77 (test/run.sh shows the SKIP line).
skip() {
	echo "SKIP: $*"
	exit 77
}

# note MSG...: progress line, so a failing log shows how far the test got.
note() {
	echo "# $*"
}

# show LABEL FILE: print the last 60 lines of a captured output, indented.
show() {
	local label=$1 file=$2
	echo "---- $label ($file) ----" >&2
	if [ -s "$file" ]; then
		tail -n 60 "$file" | sed 's/^/    /' >&2
	else
		echo "    (empty)" >&2
	fi
}

# lib_require_wippy: $WIPPY names the binary under test (test/run.sh sets it
# to an absolute path). A missing binary is a failure, not a skip: the
# runtime not being built is exactly what these tests must report.
lib_require_wippy() {
	[ -n "${WIPPY:-}" ] || die "WIPPY is not set (test/run.sh sets it to the wippy binary)"
	case $WIPPY in
	/*) ;;
	*) die "WIPPY must be an absolute path, got '$WIPPY'" ;;
	esac
	[ -x "$WIPPY" ] || die "wippy binary '$WIPPY' does not exist or is not executable (run make)"
}

# lib_cleanup: EXIT trap. Kills the background processes this script
# started (by pid, nothing else) and removes $TMP.
lib_cleanup() {
	local pid
	for pid in "${LIB_BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		rm -rf "$TMP"
	fi
}

# lib_tmpdir: create the scratch directory $TMP and arm the cleanup trap.
lib_tmpdir() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/wippy-it.XXXXXX")
	trap lib_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# lib_track PID: register a background process for the cleanup trap.
lib_track() {
	LIB_BG_PIDS+=("$1")
}

# lib_copy_app SRC DEST: copy an app tree (wippy.lock + src/) to DEST,
# leaving out any installed modules or state a developer left in SRC.
lib_copy_app() {
	local src=$1 dest=$2
	[ -f "$src/wippy.lock" ] || die "no wippy.lock in $src"
	mkdir -p "$dest"
	cp -R "$src/." "$dest/"
	rm -rf "$dest/.wippy"
}

# check_exit WHAT GOT WANT: compare an exit code. 124 from timeout(1) is
# reported as a hang, 126/127 as "could not execute", >128 as a signal.
check_exit() {
	local what=$1 got=$2 want=$3
	[ "$got" -eq "$want" ] && return 0
	case $got in
	124) die "$what: did not finish within its time limit (hung?); expected exit $want" ;;
	126|127) die "$what: could not execute (exit $got); expected exit $want" ;;
	esac
	if [ "$got" -gt 128 ]; then
		die "$what: killed by signal $((got - 128)) (exit $got); expected exit $want"
	fi
	die "$what: exit code $got, expected $want"
}

# check_failed WHAT GOT: a rejected input must give an ordinary error exit
# (1..125 except 124): not 0, not a hang, not a crash.
check_failed() {
	local what=$1 got=$2
	case $got in
	0) die "$what: exit code 0, expected a non-zero error exit" ;;
	124) die "$what: did not finish within its time limit (hung?); expected a prompt error exit" ;;
	126|127) die "$what: could not execute (exit $got)" ;;
	esac
	if [ "$got" -gt 128 ]; then
		die "$what: killed by signal $((got - 128)) (exit $got); expected a clean error exit"
	fi
}

# check_no_sanitizer WHAT FILE: a sanitizer report in a captured stream is a
# failure even when the exit code looks right.
check_no_sanitizer() {
	local what=$1 file=$2
	if grep -qE '(Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer' "$file"; then
		show "$what" "$file"
		die "$what: sanitizer report in the output"
	fi
}

# expect_fixed WHAT FILE STRING: FILE must contain STRING (fixed string).
expect_fixed() {
	local what=$1 file=$2 str=$3
	grep -qF -- "$str" "$file" && return 0
	show "$what" "$file"
	die "$what: expected to find '$str'"
}

# expect_regex WHAT FILE ERE: FILE must have a line matching ERE.
expect_regex() {
	local what=$1 file=$2 re=$3
	grep -qE -- "$re" "$file" && return 0
	show "$what" "$file"
	die "$what: expected a line matching /$re/"
}

# reject_fixed WHAT FILE STRING: FILE must not contain STRING.
reject_fixed() {
	local what=$1 file=$2 str=$3
	grep -qF -- "$str" "$file" || return 0
	show "$what" "$file"
	die "$what: did not expect '$str'"
}

# count_regex FILE ERE: number of lines of FILE matching ERE (0 if none).
count_regex() {
	grep -cE -- "$2" "$1" 2>/dev/null || true
}

# wait_for SECONDS PID DESC CMD...: poll CMD (every 0.1 s) until it succeeds.
# Returns 0 on success. Returns 1 when SECONDS pass, or 2 when PID (if not
# empty) has exited first, since then the condition can no longer change
# (CMD is tried once more to catch output written just before the exit).
wait_for() {
	local secs=$1 pid=$2 desc=$3
	shift 3
	local deadline=$(($(date +%s%N) + secs * 1000000000))
	while :; do
		"$@" && return 0
		if [ -n "$pid" ] && ! lib_alive "$pid"; then
			"$@" && return 0
			note "process $pid exited while waiting for: $desc"
			return 2
		fi
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			note "gave up after ${secs}s waiting for: $desc"
			return 1
		fi
		sleep 0.1
	done
}

# wait_for_line SECONDS PID FILE ERE [COUNT]: wait until FILE has at least
# COUNT (default 1) lines matching ERE. Same return codes as wait_for.
wait_for_line() {
	local secs=$1 pid=$2 file=$3 re=$4 count=${5:-1}
	wait_for "$secs" "$pid" "$count line(s) matching /$re/ in $file" \
		lib_has_lines "$file" "$re" "$count"
}

lib_has_lines() {
	[ "$(count_regex "$1" "$2")" -ge "$3" ]
}

# wait_exit SECONDS PID: wait for a background child of this shell to exit
# and set EXIT_RC to its exit status, or to "timeout" if it is still running
# after SECONDS (the caller decides what to do with it). Call it directly,
# not inside $(...): a subshell cannot wait for its parent's children.
# shellcheck disable=SC2034
wait_exit() {
	local secs=$1 pid=$2
	EXIT_RC=0
	if ! wait_for "$secs" "" "pid $pid to exit" lib_gone "$pid"; then
		EXIT_RC=timeout
		return 0
	fi
	wait "$pid" || EXIT_RC=$?
}

lib_gone() {
	! lib_alive "$1"
}

# lib_alive PID: the process exists and is not a zombie (bash normally reaps
# its children at once, but do not rely on it).
lib_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	# The state follows the last ')' (the command name may contain spaces).
	st=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

# lib_free_port: a TCP port on 127.0.0.1 that is free now.
lib_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# lib_nats_start: skip (77) without nats-server or curl, else start a
# nats-server with JetStream (its store in $TMP/js) on free ports, tracked,
# and wait for it. Sets PORT, MPORT (its monitoring port), URL, NATS_PID.
lib_nats_start() {
	command -v nats-server >/dev/null || skip "nats-server is not installed (scripts/deps.sh)"
	command -v curl >/dev/null || skip "curl is not installed"
	PORT=$(lib_free_port)
	MPORT=$(lib_free_port)
	URL=nats://127.0.0.1:$PORT
	mkdir -p "$TMP/js"
	nats-server -js -sd "$TMP/js" -a 127.0.0.1 -p "$PORT" -m "$MPORT" >"$TMP/nats.log" 2>&1 &
	NATS_PID=$!
	lib_track "$NATS_PID"
	wait_for 10 "$NATS_PID" "nats-server to listen" \
		curl -sf "http://127.0.0.1:$MPORT/varz" -o /dev/null ||
		{ show nats "$TMP/nats.log"; die "nats-server did not start"; }
}

# lib_app_base DIR: an app in DIR (wippy.lock, src/) whose src/_index.yaml
# holds the namespace "app" with a terminal host and a process host, both
# auto-started; append its other entries to src/_index.yaml.
lib_app_base() {
	mkdir -p "$1/src"
	printf 'src: ./src\nmodules: .wippy\n' >"$1/wippy.lock"
	printf '%s\n' 'version: "1.0"' 'namespace: app' 'entries:' \
		'  - name: terminal' '    kind: terminal.host' '    lifecycle:' '      auto_start: true' \
		'  - name: processes' '    kind: process.host' '    lifecycle:' '      auto_start: true' \
		>"$1/src/_index.yaml"
}

# lib_start_app FIXTURE [PREPARE]: copy the app FIXTURE to $APP, replace its
# __PORT__, __PORT2__ and __PORT3__ with free ports (PORT, PORT2, PORT3), call the function
# PREPARE if given, and run `wippy run --shards 2` in it, stdout in $TMP/out
# and stderr in $ERR, until it listens on PORT; sets PID. A port taken in
# between is tried again with others (three times).
lib_start_app() {
	local fixture=$1 prepare=${2:-} try rc
	for try in 1 2 3; do
		rm -rf "$APP"
		lib_copy_app "$fixture" "$APP"
		PORT=$(lib_free_port)
		PORT2=$(lib_free_port)
		PORT3=$(lib_free_port)
		sed -i "s/__PORT__/$PORT/; s/__PORT2__/$PORT2/; s/__PORT3__/$PORT3/" "$APP/src/_index.yaml"
		[ -z "$prepare" ] || "$prepare"
		(cd "$APP" && exec "$WIPPY" run --shards 2 </dev/null >"$TMP/out" 2>"$ERR") &
		PID=$!
		lib_track "$PID"
		rc=0
		wait_for_line 15 "$PID" "$ERR" "listening on 127\.0\.0\.1:$PORT" || rc=$?
		[ "$rc" -eq 0 ] && return 0
		grep -q "cannot listen" "$ERR" || { show stderr "$ERR"; die "wippy run did not start"; }
	done
	die "no free port in three tries"
}

# lib_get NAME CURL-ARGS...: one request with curl (the path as written:
# --path-as-is), its head in $TMP/NAME.h and its body in $TMP/NAME.b;
# prints the status.
lib_get() {
	local name=$1
	shift
	curl -s --path-as-is -D "$TMP/$name.h" -o "$TMP/$name.b" -w '%{http_code}' "$@"
}

# lib_status_is GOT WANT NAME: the status of lib_get NAME, else fail.
lib_status_is() {
	[ "$1" = "$2" ] || { show head "$TMP/$3.h" 2>/dev/null || true; die "$3: status $1, expected $2"; }
}

# lib_header FIELD NAME: the value of a header of lib_get NAME's answer.
lib_header() {
	grep -i "^$1:" "$TMP/$2.h" | head -1 | cut -d' ' -f2- | tr -d '\r'
}

# lib_no_header FIELD NAME: the answer has no such header, else fail.
lib_no_header() {
	! grep -qi "^$1:" "$TMP/$2.h" || die "$2: unexpected header $1"
}

# ---- self-test: `bash test/integration/lib.sh` --------------------------

lib_selftest() {
	set -euo pipefail
	local rc pid t0 dir
	lib_tmpdir
	dir=$TMP
	[ -d "$dir" ] || die "lib_tmpdir: no directory"

	printf 'a\nstats x\nstats y\n' >"$TMP/log"
	wait_for_line 2 "" "$TMP/log" '^stats' 2 || die "wait_for_line: 2 present lines not found"
	[ "$(count_regex "$TMP/log" '^stats')" -eq 2 ] || die "count_regex: expected 2"
	[ "$(count_regex "$TMP/log" '^none')" -eq 0 ] || die "count_regex: expected 0"

	# A missing line times out (return 1) within the bound.
	t0=$(date +%s)
	rc=0
	wait_for_line 1 "" "$TMP/log" '^never' >/dev/null || rc=$?
	[ "$rc" -eq 1 ] || die "wait_for_line: expected timeout (1), got $rc"
	[ $(($(date +%s) - t0)) -le 5 ] || die "wait_for_line: 1 s bound not honoured"

	# A watched process that exits ends the wait early (return 2).
	sh -c 'sleep 0.2; exit 3' &
	pid=$!
	lib_track "$pid"
	rc=0
	wait_for_line 30 "$pid" "$TMP/log" '^never' >/dev/null || rc=$?
	[ "$rc" -eq 2 ] || die "wait_for_line: expected early exit (2), got $rc"
	wait_exit 5 "$pid" >/dev/null
	[ "$EXIT_RC" = 3 ] || die "wait_exit: expected status 3, got $EXIT_RC"
	lib_alive "$pid" && die "lib_alive: exited pid reported alive"

	# A line written later by a background writer is found.
	(sleep 0.3; echo "late line" >>"$TMP/log") &
	lib_track $!
	wait_for_line 5 "" "$TMP/log" '^late line$' >/dev/null || die "wait_for_line: late line not found"

	# wait_exit reports a process that does not exit; cleanup kills it.
	sleep 60 &
	pid=$!
	disown "$pid"   # no "Killed" job notice when the cleanup below kills it
	lib_track "$pid"
	lib_alive "$pid" || die "lib_alive: running pid reported dead"
	wait_exit 1 "$pid" >/dev/null
	[ "$EXIT_RC" = timeout ] || die "wait_exit: expected timeout, got $EXIT_RC"

	# The checkers fail (in a subshell) exactly when they should.
	(check_exit x 0 0) 2>/dev/null || die "check_exit: 0 vs 0 failed"
	! (check_exit x 1 0) 2>/dev/null || die "check_exit: 1 vs 0 passed"
	! (check_failed x 0) 2>/dev/null || die "check_failed: 0 passed"
	! (check_failed x 124) 2>/dev/null || die "check_failed: 124 (hang) passed"
	! (check_failed x 139) 2>/dev/null || die "check_failed: 139 (SIGSEGV) passed"
	(check_failed x 1) 2>/dev/null || die "check_failed: 1 failed"
	(expect_fixed x "$TMP/log" "stats y") 2>/dev/null || die "expect_fixed: present string failed"
	! (expect_fixed x "$TMP/log" "stats z") 2>/dev/null || die "expect_fixed: absent string passed"
	! (expect_regex x "$TMP/log" '^z') 2>/dev/null || die "expect_regex: absent pattern passed"
	! (reject_fixed x "$TMP/log" "stats x") 2>/dev/null || die "reject_fixed: present string passed"
	echo "==ERROR: AddressSanitizer: heap-use-after-free" >"$TMP/asan"
	! (check_no_sanitizer x "$TMP/asan") 2>/dev/null || die "check_no_sanitizer: report missed"
	(check_no_sanitizer x "$TMP/log") 2>/dev/null || die "check_no_sanitizer: false report"

	# Cleanup (run in a child shell, as at a test's exit) removes the dir
	# and kills the tracked process.
	(lib_cleanup)
	[ ! -d "$dir" ] || die "lib_cleanup: $dir still exists"
	sleep 0.2
	lib_alive "$pid" && die "lib_cleanup: tracked process $pid still running"
	echo "ok: lib.sh helpers"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	lib_selftest
fi
