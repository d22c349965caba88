/*
** bench/pg_raw.c: the baseline of bench/postgres.sh, statements per
** second from C with raw libpq doing the work the `sql` module does for
** Lua on db.sql.postgres.
**
**   pg_raw CONNINFO N        (no arguments: exit 77, a skip)
**
** One connection, blocking calls (the best case for C: nothing else runs).
** Three runs of N statements each, as bench/apps/postgres does them:
** "query" (PQexecParams of SELECT $1::int8 + 1, one row back), "insert"
** (PQexecParams of an INSERT, each its own transaction) and "tx" (the
** same INSERT prepared once and run N times between BEGIN and COMMIT,
** parameters in text as the module sends them). Prints one line per run:
** "raw MODE N=...: R stmts/s".
*/
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check(PGconn *c, PGresult *r, const char *what)
{
	ExecStatusType s = PQresultStatus(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		fprintf(stderr, "pg_raw: %s: %s", what, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
}

static const char INSERT[] = "INSERT INTO bench (n, name) VALUES ($1, $2)";

static void run(PGconn *c, const char *mode, long n)
{
	char num[32], name[32];
	const char *vals[2] = { num, name };
	double t0;

	check(c, PQexec(c, "DROP TABLE IF EXISTS bench; CREATE TABLE bench (id serial PRIMARY KEY, n int8, name text)"), "create");
	t0 = now_s();
	if (mode[0] == 't') {
		check(c, PQexec(c, "BEGIN"), "begin");
		check(c, PQprepare(c, "ins", INSERT, 0, NULL), "prepare");
	}
	for (long i = 0; i < n; i++) {
		snprintf(num, sizeof num, "%ld", i);
		snprintf(name, sizeof name, "row%ld", i);
		if (mode[0] == 'q')
			check(c, PQexecParams(c, "SELECT $1::int8 + 1 AS n", 1, NULL, vals, NULL, NULL, 0), "query");
		else if (mode[0] == 'i')
			check(c, PQexecParams(c, INSERT, 2, NULL, vals, NULL, NULL, 0), "insert");
		else
			check(c, PQexecPrepared(c, "ins", 2, vals, NULL, NULL, 0), "tx insert");
	}
	if (mode[0] == 't')
		check(c, PQexec(c, "COMMIT"), "commit");
	printf("raw %s N=%ld: %.0f stmts/s\n", mode, n, n / (now_s() - t0));
}

int main(int argc, char **argv)
{
	PGconn *c;
	long n;

	if (argc < 3) {	/* bench/run.sh runs every program bare */
		printf("skip: pg_raw CONNINFO N needs a server (bench/postgres.sh runs it)\n");
		return 77;
	}
	n = atol(argv[2]);
	c = PQconnectdb(argv[1]);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pg_raw: connect: %s", PQerrorMessage(c));
		return 1;
	}
	run(c, "query", n);
	run(c, "insert", n);
	run(c, "tx", n);
	PQfinish(c);
	return 0;
}
