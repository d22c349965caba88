/*
** bench/sqlite_raw.c: the baseline of bench/sql.sh, SQLite inserts per
** second from C with the same work the `sql` module does for Lua.
**
**   sqlite_raw FILE N     (defaults: a temp file, N = 2000)
**
** The database is opened as runtime/sqldb.c opens one (WAL journal, 5 s
** busy timeout) and two runs insert N rows each into a fresh table:
** "tx" prepares one INSERT and steps it N times inside BEGIN/COMMIT (what
** db:begin + tx:prepare + stmt:execute do); "autocommit" prepares, steps
** and finalizes one INSERT per row outside a transaction (what
** db:execute does). Prints one line per run: "raw MODE N=...: R inserts/s".
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(sqlite3 *c, const char *what)
{
	fprintf(stderr, "sqlite_raw: %s: %s\n", what, sqlite3_errmsg(c));
	exit(1);
}

static void exec(sqlite3 *c, const char *sql)
{
	if (sqlite3_exec(c, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(c, sql);
}

static const char INSERT[] = "INSERT INTO bench (n, name) VALUES (?, ?)";

static void insert_one(sqlite3 *c, sqlite3_stmt *st, long i)
{
	char name[32];
	int len = snprintf(name, sizeof(name), "row%ld", i);

	sqlite3_bind_int64(st, 1, i);
	sqlite3_bind_text(st, 2, name, len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		die(c, "step");
	sqlite3_reset(st);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/sqlite_raw.XXXXXX";
	const char *file = argc > 1 ? argv[1] : NULL;
	long n = argc > 2 ? atol(argv[2]) : 2000;
	sqlite3 *c;
	sqlite3_stmt *st;
	double t0, dt;
	int fd = -1;

	if (file == NULL) {
		if ((fd = mkstemp(tmpl)) < 0)
			return 1;
		file = tmpl;
	}
	if (sqlite3_open_v2(file, &c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		die(c, "open");
	exec(c, "PRAGMA journal_mode=WAL");
	sqlite3_busy_timeout(c, 5000);

	exec(c, "DROP TABLE IF EXISTS bench; CREATE TABLE bench (id INTEGER PRIMARY KEY, n INTEGER, name TEXT)");
	t0 = now_s();
	exec(c, "BEGIN");
	if (sqlite3_prepare_v2(c, INSERT, -1, &st, NULL) != SQLITE_OK)
		die(c, "prepare");
	for (long i = 0; i < n; i++)
		insert_one(c, st, i);
	sqlite3_finalize(st);
	exec(c, "COMMIT");
	dt = now_s() - t0;
	printf("raw tx N=%ld: %.0f inserts/s\n", n, n / dt);

	exec(c, "DROP TABLE IF EXISTS bench; CREATE TABLE bench (id INTEGER PRIMARY KEY, n INTEGER, name TEXT)");
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		if (sqlite3_prepare_v2(c, INSERT, -1, &st, NULL) != SQLITE_OK)
			die(c, "prepare");
		insert_one(c, st, i);
		sqlite3_finalize(st);
	}
	dt = now_s() - t0;
	printf("raw autocommit N=%ld: %.0f inserts/s\n", n, n / dt);
	sqlite3_close(c);
	if (fd >= 0) {
		char p[64];
		close(fd);
		unlink(tmpl);
		snprintf(p, sizeof(p), "%s-wal", tmpl);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", tmpl);
		unlink(p);
	}
	return 0;
}
