#!/usr/bin/env bash
# test/integration/memory.sh: a process.host's max_memory bounds each of
# its processes, and a big process next to it runs and ends normally.
#
# The fixture (test/fixtures/runtime/memory) runs app:driver on the
# terminal host; each line fed to its stdin spawns app:hog, monitored,
# which fills its heap with small tables, and the driver prints the hog's
# EXIT. With the runtime's VmRSS (/proc/PID/status) read around it:
#   - a ~300 MB hog on app:procs (the runtime's 512 MiB limit) returns its
#     count, twice, and after each the RSS is back within 20 MB of what it
#     was before the first (its small blocks lived in its own region,
#     unmapped when it ended; its large ones went back through malloc_trim);
#   - the same hog on app:small (host.max_memory: "64MB") ends with a
#     memory error its monitor sees (the overdraft's, naming the limit),
#     and the runtime goes on: a churn of ~40 MB live and 400 MB of garbage
#     on app:small runs to its end, a last hog on app:procs still works,
#     then "quit" ends the run with exit 0;
#     the limited hog gives its memory back the same way;
#   - a max_memory that is no size ("lots") is a lint error at its line.
# Under a sanitizer the hogs are smaller and the RSS is not bounded (every
# block is the sanitizer's malloc, with its quarantine); the limit is
# checked the same.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HOG_N=2200          # groups of 1000 small tables: ~300 MB
LIMITED_N=2200      # the hog on app:small: always past its 64 MB
CHURN_N=300         # app:churn on app:small: ~40 MB live

lib_require_wippy
lib_tmpdir
if [ -n "${SANITIZER:-}" ]; then
	HOG_N=300
	note "smaller hogs under SANITIZER=$SANITIZER"
fi

APP=$TMP/app
lib_copy_app "$LIB_ROOT/test/fixtures/runtime/memory" "$APP"

# A max_memory that is not a size is refused at its line, and nothing runs.
BAD=$TMP/bad
lib_copy_app "$LIB_ROOT/test/fixtures/runtime/memory" "$BAD"
sed -i 's/max_memory: "64MB"/max_memory: "lots"/' "$BAD/src/_index.yaml"
set +e
(cd "$BAD" && timeout -k 5 15 "$WIPPY" lint >"$TMP/lint" 2>&1)
rc=$?
set -e
check_failed "wippy lint with max_memory: lots" "$rc"
expect_regex "lint output" "$TMP/lint" '_index\.yaml:[0-9]+:[0-9]+: .*host\.max_memory.*lots'
note "ok: a bad max_memory is a lint error at its line"
OUT=$TMP/out
ERR=$TMP/err
mkfifo "$TMP/in"
(cd "$APP" && exec "$WIPPY" run -x app:driver <"$TMP/in" >"$OUT" 2>"$ERR") &
PID=$!
lib_track "$PID"
exec 3>"$TMP/in"   # held open: the driver's stdin ends only at "quit"

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status" 2>/dev/null || echo 0
}

# hog HOST: run one hog on HOST and wait for its EXIT line (the n-th).
exits=0
hog() { # HOST [GROUPS]
	echo "hog $1 ${2:-$HOG_N}" >&3
	exits=$((exits + 1))
	wait_for_line 120 "$PID" "$OUT" '^exit ' "$exits" || {
		show stdout "$OUT"; show stderr "$ERR"
		die "no EXIT from the hog on $1"
	}
	LAST=$(grep -E '^exit ' "$OUT" | sed -n "${exits}p")
}

wait_for_line 15 "$PID" "$OUT" '^ready$' || { show stderr "$ERR"; die "the driver did not start"; }
sleep 0.5
base=$(rss_kb)
note "RSS before the first hog: ${base} kB"

RSS_SLACK_KB=$((20 * 1024))
# rss_back WHAT: the RSS is within RSS_SLACK_KB of base (not under a sanitizer).
# A big state is closed by the reaper thread after the EXIT, so allow it
# a few seconds.
rss_back() {
	local now i
	for i in $(seq 50); do
		now=$(rss_kb)
		[ "$now" -le $((base + RSS_SLACK_KB)) ] && break
		sleep 0.1
	done
	note "$1: RSS after it ${now} kB (before: ${base} kB)"
	[ -n "${SANITIZER:-}" ] && return 0
	[ "$now" -le $((base + RSS_SLACK_KB)) ] || {
		show stderr "$ERR"
		die "$1: RSS ${now} kB is more than 20 MB over the ${base} kB before it"
	}
}

for round in 1 2; do
	hog app:procs
	[ "$LAST" = "exit ok $((HOG_N * 1000))" ] || {
		show stdout "$OUT"; show stderr "$ERR"
		die "hog $round on app:procs: expected 'exit ok $((HOG_N * 1000))', got '$LAST'"
	}
	rss_back "hog $round"
done

hog app:small "$LIMITED_N"
case $LAST in
"exit error "*memory*) note "limited hog: $LAST"; rss_back "limited hog" ;;
*)	show stdout "$OUT"; show stderr "$ERR"
	die "hog on app:small (max_memory 64MB): expected 'exit error ...memory...', got '$LAST'" ;;
esac

# The overdraft's verdict names the limit (runtime/pmem.c: pmem_overdraw).
case $LAST in
*"stays past the process's memory limit"*) ;;
*)	die "limited hog: expected the overdraft's verdict, got '$LAST'" ;;
esac

# A message that does not fit in what is left of the receiver's limit
# fails its receive with a memory error; the message is freed with the
# process (a sanitizer build reports it otherwise), and the runtime goes on.
echo "sink app:small 55" >&3
exits=$((exits + 1))
wait_for_line 60 "$PID" "$OUT" '^exit ' "$exits" || { show stderr "$ERR"; die "no EXIT from the sink"; }
LAST=$(grep -E '^exit ' "$OUT" | sed -n "${exits}p")
case $LAST in
"exit error "*memory*) note "sink: $LAST" ;;
*)	show stdout "$OUT"; show stderr "$ERR"
	die "sink on app:small: expected 'exit error ...memory...', got '$LAST'" ;;
esac
echo "sink app:small 1" >&3
exits=$((exits + 1))
wait_for_line 60 "$PID" "$OUT" '^exit ' "$exits" || { show stderr "$ERR"; die "no EXIT from the second sink"; }
LAST=$(grep -E '^exit ' "$OUT" | sed -n "${exits}p")
[ "$LAST" = "exit ok $((21 * 1024 * 1024))" ] || {
	show stdout "$OUT"; show stderr "$ERR"
	die "sink with room: expected 'exit ok $((21 * 1024 * 1024))', got '$LAST'"
}
note "a message past the receiver's limit fails its receive; one with room arrives whole"

# Garbage past the limit is collected, not fatal.
echo "churn app:small $CHURN_N" >&3
exits=$((exits + 1))
wait_for_line 120 "$PID" "$OUT" '^exit ' "$exits" || { show stderr "$ERR"; die "no EXIT from the churn"; }
LAST=$(grep -E '^exit ' "$OUT" | sed -n "${exits}p")
[ "$LAST" = "exit ok $((CHURN_N * 10000))" ] || {
	show stdout "$OUT"; show stderr "$ERR"
	die "churn on app:small: expected 'exit ok $((CHURN_N * 10000))', got '$LAST'"
}
note "churn: ~40 MB live and 400 MB of garbage on a 64 MB host ran to its end"

hog app:procs
[ "$LAST" = "exit ok $((HOG_N * 1000))" ] || {
	show stdout "$OUT"; show stderr "$ERR"
	die "a hog after the limited one: expected 'exit ok', got '$LAST'"
}

echo quit >&3
exec 3>&-
wait_exit 15 "$PID"
[ "$EXIT_RC" != timeout ] || { show stderr "$ERR"; die "the driver did not end after quit"; }
check_exit "wippy run -x app:driver" "$EXIT_RC" 0
check_no_sanitizer stderr "$ERR"
echo "ok: a ~300 MB hog runs and ends (twice) and its memory comes back, host.max_memory ends a hog with a memory error, the runtime goes on"
