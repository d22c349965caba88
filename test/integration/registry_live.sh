#!/usr/bin/env bash
# test/integration/registry_live.sh: the runtime follows registry changes
# applied at run time (registry module, changes:apply / apply_version).
#
# The fixture's /ctl endpoint (127.0.0.1:18471) applies one change per
# request. Checked: a created process.service starts (its process logs
# "worker up"), a deleted one is stopped (CANCEL: "worker stopping"); a
# created http.endpoint is routed, an updated one moves to its new path;
# apply_version back to version 1 undoes all of it; invalid changes answer
# an error with its kind and leave the runtime serving; the watcher
# service sees the registry's entry events and the supervisor's
# service.update state changes on the event bus.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
lib_tmpdir
APP=$TMP/app
lib_copy_app "$LIB_ROOT/test/fixtures/runtime/registry_live" "$APP"
BASE=http://127.0.0.1:18471

OUT=$TMP/out ERR=$TMP/err
(cd "$APP" && exec "$WIPPY" run >"$OUT" 2>"$ERR") &
PID=$!
lib_track "$PID"

up() { curl -s -o /dev/null "$BASE/hello"; }
wait_for 15 "$PID" "the gateway" up || { show stderr "$ERR"; die "gateway did not come up"; }
wait_for_line 10 "$PID" "$ERR" 'watcher up' || { show stderr "$ERR"; die "watcher did not start"; }

# get PATH: body of GET PATH; code PATH: its status.
get() { curl -s "$BASE$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$BASE$1"; }
ctl() {
	local r
	r=$(get "/ctl?op=$1")
	note "ctl $1: $r" >&2
	printf '%s' "$r"
}
expect_body() {
	local what=$1 got=$2 re=$3
	[[ $got =~ $re ]] || { show stderr "$ERR"; die "$what: got '$got', want /$re/"; }
}

# 1. A created process.service starts; deleting it stops it.
r=$(ctl service); expect_body "create service" "$r" '^ok 2$'
wait_for_line 10 "$PID" "$ERR" 'worker up w1' || { show stderr "$ERR"; die "created service did not start"; }
r=$(ctl unservice); expect_body "delete service" "$r" '^ok 3$'
wait_for_line 10 "$PID" "$ERR" 'worker stopping w1' || { show stderr "$ERR"; die "deleted service was not stopped"; }

# 2. A created endpoint is routed; an updated one moves.
[ "$(code /dyn)" = 404 ] || die "/dyn routed before it exists"
r=$(ctl route); expect_body "create endpoint" "$r" '^ok 4$'
expect_body "GET /dyn" "$(get /dyn)" '^dynamic /dyn$'
r=$(ctl reroute); expect_body "update endpoint" "$r" '^ok 5$'
[ "$(code /dyn)" = 404 ] || die "/dyn still routed after the update"
expect_body "GET /dyn2" "$(get /dyn2)" '^dynamic /dyn2$'

# 3. Invalid changes: an error with its kind, nothing applied, still serving.
r=$(ctl bad_ref); expect_body "dangling func" "$r" '^error Invalid .*app:missing'
r=$(ctl bad_field); expect_body "missing field" "$r" '^error Invalid .*process'
r=$(ctl dup); expect_body "duplicate id" "$r" '^error AlreadyExists .*app:hello'
[ "$(code /bad)" = 404 ] || die "/bad routed from a rejected change"
expect_body "GET /hello" "$(get /hello)" '^hello$'
expect_body "GET /dyn2 after errors" "$(get /dyn2)" '^dynamic /dyn2$'

# 4. The service again, then back to version 1: endpoint and service gone.
r=$(ctl service); expect_body "create service again" "$r" '^ok 6$'
wait_for_line 10 "$PID" "$ERR" 'worker up w1' 2 || { show stderr "$ERR"; die "service did not start again"; }
r=$(ctl rollback); expect_body "apply_version(1)" "$r" '^ok 1$'
[ "$(code /dyn2)" = 404 ] || die "/dyn2 still routed after apply_version(1)"
wait_for_line 10 "$PID" "$ERR" 'worker stopping w1' 2 || { show stderr "$ERR"; die "rollback did not stop the service"; }
expect_body "GET /hello after rollback" "$(get /hello)" '^hello$'

# 5. The event bus carried the registry's entry events.
expect_fixed "stderr" "$ERR" "bus entry.create app:worker.service"
expect_fixed "stderr" "$ERR" "bus entry.delete app:worker.service"
expect_fixed "stderr" "$ERR" "bus entry.update app:dyn.endpoint"
reject_fixed "stderr" "$ERR" "bus entry.create app:bad"
# and the supervisor's state changes of the service it ran
for st in starting running stopping stopped; do
	expect_fixed "stderr" "$ERR" "svc app:worker.service $st"
done

kill -TERM "$PID"
wait_exit 15 "$PID"
check_no_sanitizer "stderr" "$ERR"
[ "$EXIT_RC" = timeout ] && { show stderr "$ERR"; die "wippy run did not exit after SIGTERM"; }
check_exit "wippy run (registry_live)" "$EXIT_RC" 0
echo "PASS registry_live"
