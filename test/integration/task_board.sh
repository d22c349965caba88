#!/usr/bin/env bash
# test/integration/task_board.sh: examples/task-board, unchanged but for
# its port, driven with curl: tasks created (201), listed from SQLite,
# finished; the queue consumer's counters in the store; bad input answered
# 400 (no title, not JSON, a non-integer id) and 404 (an unknown task, a
# task finished twice); the data survives a restart (the SQLite file).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_require_wippy
command -v curl >/dev/null || skip "curl is missing"
lib_tmpdir

APP=$TMP/app
ERR=$TMP/err
RUNS=0
# start: one more run; $ERR keeps every run's lines, so wait for this
# run's own "listening" line (the RUNS-th), not the first run's.
start() {
	local rc=0
	RUNS=$((RUNS + 1))
	(cd "$APP" && exec "$WIPPY" run </dev/null >"$TMP/out" 2>>"$ERR") &
	PID=$!
	lib_track "$PID"
	wait_for_line 15 "$PID" "$ERR" "listening on .*:$PORT" "$RUNS" || rc=$?
	[ "$rc" -eq 0 ] || { show stderr "$ERR"; die "task-board did not start"; }
}
lib_copy_app "$LIB_ROOT/examples/task-board" "$APP"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i "s/addr: \":8090\"/addr: \"127.0.0.1:$PORT\"/" "$APP/src/_index.yaml"
rm -f "$APP/tasks.db"
start
URL=http://127.0.0.1:$PORT

# call METHOD PATH [BODY] -> sets CODE and BODY
call() {
	local out
	out=$(curl -s -m 5 -X "$1" -w '\n%{http_code}' ${3:+-H 'Content-Type: application/json' -d "$3"} "$URL$2")
	CODE=${out##*$'\n'}
	BODY=${out%$'\n'*}
}
want() { # CODE PATTERN WHAT
	[ "$CODE" = "$1" ] || { show stderr "$ERR"; die "$3: expected $1, got $CODE: $BODY"; }
	[[ $BODY =~ $2 ]] || die "$3: body '$BODY' does not match '$2'"
}

call POST /tasks '{"title":"write the report"}'; want 201 '"id":1' "create 1"
call POST /tasks '{"title":"review it"}';       want 201 '"id":2' "create 2"
call GET /tasks;                                 want 200 '"title":"write the report".*"title":"review it"' "list"
call POST /tasks/1/done;                         want 200 '"ok":true' "finish 1"
call GET /tasks;                                 want 200 '"done":true' "finished shows"
call POST /tasks/1/done;                         want 404 'no open task 1' "finish twice"
call POST /tasks/99/done;                        want 404 'no open task 99' "unknown task"
call POST /tasks/abc/done;                       want 400 'integer' "bad id"
call POST /tasks '{"name":"x"}';                 want 400 'title' "no title"
call POST /tasks 'not json';                     want 400 'title' "not JSON"
# The counters are the consumer's, asynchronous: wait for them.
for i in $(seq 50); do
	call GET /stats
	[[ $BODY =~ '"created":2' && $BODY =~ '"done":1' ]] && break
	sleep 0.1
done
want 200 '"created":2' "stats created"
want 200 '"done":1' "stats done"
note "ok: create, list, finish, stats, and the 400s and 404s"

kill -INT "$PID"
wait_exit 15 "$PID"
check_exit "task-board" "$EXIT_RC" 0
# A clean stop checkpoints the WAL and closes the database: SQLite then
# removes its -wal and -shm files.
for f in tasks.db-wal tasks.db-shm; do
	[ ! -e "$APP/$f" ] || die "after SIGINT: $f left behind (the database was not closed cleanly)"
done
start
call GET /tasks; want 200 '"title":"review it"' "after a restart"
kill -INT "$PID"
wait_exit 15 "$PID"
check_exit "task-board, second run" "$EXIT_RC" 0
check_no_sanitizer stderr "$ERR"
echo "ok: task-board: funcs, sql (SQLite), queue and store behind HTTP"
