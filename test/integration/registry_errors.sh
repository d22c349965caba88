#!/usr/bin/env bash
# test/integration/registry_errors.sh: invalid registries are rejected with
# a message that says where and what, and nothing starts.
#
# Table-driven over test/fixtures/apps/<case>/ (each a wippy.lock and src/):
#
#   bad-*   `wippy lint` and `wippy run` must both exit with an ordinary
#           error (1..125, not a hang or a crash) and every pattern of the
#           case's `expect` file must match stderr. Patterns are extended
#           regexes (grep -E), one per line; blank and '#' lines are notes.
#   good-*  `wippy lint` must exit 0; `wippy run` must start the services
#           and exit 0 on SIGINT. Patterns of the case's `expect` file (it
#           may have none) must match the stderr of both: that is where
#           warnings go (lint prints them, run logs them at boot).
#
# A pattern starting with '!' must match no line instead.
#
# "Nothing starts" is checked with a canary: test/fixtures/apps/_canary is
# copied into every case as src/zz_canary/, a valid file in its own
# namespace whose auto-start service logs "registry canary started". A bad
# case must never print that line; the good case must, which proves the
# canary would have been seen.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUN_LIMIT=15    # seconds for one lint/run of a bad app (it should take ms)
START_WAIT=15   # seconds for the good app's services to start
STOP_WAIT=5     # seconds for the good app to exit after SIGINT
CANARY_LINE="registry canary started"
WORKER_LINE="fixture worker started"

lib_require_wippy
lib_tmpdir
FIX=$LIB_ROOT/test/fixtures/apps

# prepare CASE: copy the fixture plus the canary to $TMP/CASE; sets $APP.
prepare() {
	APP=$TMP/$1
	[ -d "$FIX/$1/src" ] || die "fixture $1 has no src/ directory"
	lib_copy_app "$FIX/$1" "$APP"
	rm -f "$APP/expect"
	mkdir -p "$APP/src/zz_canary"
	cp "$FIX/_canary/canary.yaml" "$FIX/_canary/canary.lua" "$APP/src/zz_canary/"
}

# patterns CASE: print the case's expected-stderr patterns, one per line.
patterns() {
	[ -f "$FIX/$1/expect" ] || die "fixture $1 has no expect file"
	grep -vE '^[[:space:]]*(#|$)' "$FIX/$1/expect" || true
}

# match_all WHAT OUT ERR CASE PATTERN...: every pattern matches ERR (a '!'
# pattern: no line of ERR), else show both files and fail.
match_all() {
	local what=$1 out=$2 err=$3 name=$4 pat
	shift 4
	for pat in "$@"; do
		if [ "${pat#!}" != "$pat" ]; then
			grep -qE -- "${pat#!}" "$err" || continue
			show "$what stdout" "$out"
			show "$what stderr" "$err"
			die "$what: stderr matches /${pat#!}/, which it must not (from $FIX/$name/expect)"
		fi
		if ! grep -qE -- "$pat" "$err"; then
			show "$what stdout" "$out"
			show "$what stderr" "$err"
			die "$what: stderr does not match /$pat/ (from $FIX/$name/expect)"
		fi
	done
}

# check_no_start WHAT OUT ERR: the canary and the fixture worker never ran.
check_no_start() {
	local what=$1 out=$2 err=$3 f line
	for f in "$out" "$err"; do
		for line in "$CANARY_LINE" "$WORKER_LINE"; do
			if grep -qF "$line" "$f"; then
				show "$what stdout" "$out"
				show "$what stderr" "$err"
				die "$what: the registry is invalid, yet a service started ('$line' was logged)"
			fi
		done
	done
}

# check_bad CASE: lint and run both reject the registry with every pattern.
check_bad() {
	local name=$1 mode rc pat
	local -a pats
	mapfile -t pats < <(patterns "$name")
	[ ${#pats[@]} -gt 0 ] || die "fixture $name: expect file has no patterns"
	prepare "$name"
	for mode in lint run; do
		local what="$name: wippy $mode"
		local out=$TMP/$name.$mode.out err=$TMP/$name.$mode.err
		set +e
		(cd "$APP" && timeout -k 5 "$RUN_LIMIT" "$WIPPY" "$mode" </dev/null >"$out" 2>"$err")
		rc=$?
		set -e
		check_no_sanitizer "$what stderr" "$err"
		if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -gt 125 ]; then
			show "$what stdout" "$out"
			show "$what stderr" "$err"
			[ "$rc" -eq 124 ] && [ "$mode" = run ] &&
				note "a run that does not end was probably started instead of rejected"
		fi
		check_failed "$what" "$rc"
		check_no_start "$what" "$out" "$err"
		match_all "$what" "$out" "$err" "$name" "${pats[@]}"
	done
	note "$name: lint and run rejected it (exit $rc): $(head -n1 "$err")"
}

# check_good CASE: lint passes; run starts the services, stops on SIGINT.
check_good() {
	local name=$1 rc pid
	local out=$TMP/$name.lint.out err=$TMP/$name.lint.err
	local -a pats
	mapfile -t pats < <(patterns "$name")
	prepare "$name"
	set +e
	(cd "$APP" && timeout -k 5 "$RUN_LIMIT" "$WIPPY" lint </dev/null >"$out" 2>"$err")
	rc=$?
	set -e
	check_no_sanitizer "$name: wippy lint stderr" "$err"
	if [ "$rc" -ne 0 ]; then
		show "$name: wippy lint stdout" "$out"
		show "$name: wippy lint stderr" "$err"
	fi
	check_exit "$name: wippy lint (valid registry)" "$rc" 0
	match_all "$name: wippy lint" "$out" "$err" "$name" "${pats[@]}"

	out=$TMP/$name.run.out
	err=$TMP/$name.run.err
	# env --default-signal: a background job of a script starts with SIGINT
	# ignored; the runtime must see the signal as it would from a terminal.
	(cd "$APP" && exec env --default-signal=INT "$WIPPY" run </dev/null >"$out" 2>"$err") &
	pid=$!
	lib_track "$pid"
	rc=0
	wait_for_line "$START_WAIT" "$pid" "$err" "$CANARY_LINE" || rc=$?
	[ "$rc" -eq 0 ] && { wait_for_line "$START_WAIT" "$pid" "$err" "$WORKER_LINE" || rc=$?; }
	if [ "$rc" -ne 0 ]; then
		show "$name: wippy run stdout" "$out"
		show "$name: wippy run stderr" "$err"
		die "$name: wippy run did not start both auto-start services within ${START_WAIT}s (expected '$CANARY_LINE' and '$WORKER_LINE' on stderr)"
	fi
	kill -INT "$pid" 2>/dev/null || true
	wait_exit "$STOP_WAIT" "$pid"
	rc=$EXIT_RC
	if [ "$rc" = timeout ]; then
		show "$name: wippy run stderr" "$err"
		die "$name: wippy run still running ${STOP_WAIT}s after SIGINT"
	fi
	check_no_sanitizer "$name: wippy run stderr" "$err"
	[ "$rc" -eq 0 ] || show "$name: wippy run stderr" "$err"
	check_exit "$name: wippy run, stopped by SIGINT" "$rc" 0
	match_all "$name: wippy run" "$out" "$err" "$name" "${pats[@]}"
	note "$name: lint ok, run started and stopped"
}

nbad=0
ngood=0
for dir in "$FIX"/*/; do
	name=$(basename "$dir")
	case $name in
	_*) ;;
	bad-*) check_bad "$name"; nbad=$((nbad + 1)) ;;
	good-*) check_good "$name"; ngood=$((ngood + 1)) ;;
	*) die "fixture $name: name must start with bad- or good-" ;;
	esac
done
[ "$nbad" -ge 7 ] || die "expected at least 7 bad-* fixtures under $FIX, found $nbad"
[ "$ngood" -ge 4 ] || die "expected at least 4 good-* fixtures under $FIX, found $ngood"
echo "ok: $nbad invalid registries rejected by lint and run, $ngood valid ones accepted"
