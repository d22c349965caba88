/*
** test/unit/runtime/pgdb.c: what runtime/pgdb.c decides before any
** server is involved: the connection string of an entry (libpq quoting,
** the original's field order and checks, options sorted, keys libpq does
** not know sent as run-time parameters, a dsn used as given, a bad
** port_env), connect_timeout read from it, and the error kinds of
** SQLSTATEs and of connection failures. The server side is
** test/integration/postgres.sh.
*/
#include "runtime/pgdb.c"

#include "tap.h"

static struct reg_value scalar(const char *s)
{
	struct reg_value v = { .type = REG_STR, .str = s };
	return v;
}

/* The conninfo of fields (NULL: not given), or "ERR:<message>". */
static char *ci(struct reg_entry *e)
{
	struct rt rt = {0};
	char *err = NULL, *out = build_conninfo(&rt, e, &err);
	if (out)
		return out;
	size_t n = strlen(err) + 5;
	out = xmalloc(n);
	snprintf(out, n, "ERR:%s", err);
	free(err);
	return out;
}

static void is(char *got, const char *want, const char *what)
{
	ok(strcmp(got, want) == 0, "%s: %s (got %s)", what, want, got);
	free(got);
}

static void kind(const char *st, const char *want, int retry)
{
	const char *k;
	int r;
	kind_of_state(st, &k, &r);
	ok(strcmp(k, want) == 0 && r == retry, "sqlstate %s -> '%s' retry %d (got '%s' %d)",
	   st, want, retry, k, r);
}

static void conn_kind(const char *msg, const char *want, int retry)
{
	struct pgjob j = {0};
	set_conn_error(&j, msg);
	ok(strcmp(j.err_kind, want) == 0 && j.err_retry == retry && strchr(j.err, '\n') == NULL,
	   "connection error '%.40s' -> '%s' (got '%s', first line '%s')", msg, want, j.err_kind, j.err);
	free(j.err);
}

int main(void)
{
	struct reg_entry e;

	memset(&e, 0, sizeof e);
	e.u.db.host = "127.0.0.1";
	e.u.db.port = 5432;
	e.u.db.username = "app";
	e.u.db.password = "it's a \\secret";
	e.u.db.database = "db";
	is(ci(&e), "host='127.0.0.1' port='5432' user='app' password='it\\'s a \\\\secret' dbname='db'",
	   "fields, quoted as libpq reads them");

	/* options: sorted; libpq's keywords as they are, others as -c */
	struct reg_value k1 = scalar("disable"), k2 = scalar("app x"), k3 = scalar("s1,public"),
		k4 = scalar("5");
	struct reg_value *items[] = { &k3, &k1, &k2, &k4 };
	const char *keys[] = { "search_path", "sslmode", "application_name", "connect_timeout" };
	struct reg_value opts = { .type = REG_MAP, .n = 4, .items = items, .keys = keys };
	e.u.db.options = &opts;
	char *s = ci(&e);
	ok(strstr(s, "dbname='db' application_name='app x' connect_timeout='5' sslmode='disable' options='-c search_path=s1,public'") != NULL,
	   "options sorted, an unknown key as a run-time parameter (%s)", s);
	ok(connect_timeout_of(s) == 5000, "connect_timeout read back: %d", connect_timeout_of(s));
	free(s);
	e.u.db.options = NULL;
	ok(connect_timeout_of("host=x connect_timeout=1") == 2000, "connect_timeout below 2 s counts as 2");
	ok(connect_timeout_of("host=x") == 0, "no connect_timeout");

	/* The original's checks, in its order. */
	e.u.db.host = NULL;
	is(ci(&e), "ERR:invalid connection config: host is empty", "no host");
	e.u.db.host = "h";
	e.u.db.port = 0;
	is(ci(&e), "ERR:invalid connection config: port is invalid: 0", "no port");
	e.u.db.port = 1;
	e.u.db.username = "";
	is(ci(&e), "ERR:invalid connection config: username is empty", "no username");
	e.u.db.username = "u";
	e.u.db.database = NULL;
	is(ci(&e), "ERR:invalid connection config: database is empty", "no database");
	e.u.db.database = "d";
	e.u.db.password = NULL;
	is(ci(&e), "host='h' port='1' user='u' password='' dbname='d'", "no password is allowed");

	/* A dsn wins, used as it is. */
	e.u.db.dsn = "postgres://u@h/d?sslmode=disable";
	is(ci(&e), "postgres://u@h/d?sslmode=disable", "dsn as given");
	e.u.db.dsn = NULL;

	/* port_env: no env registry here, so the variable has no value. */
	struct reg_value pe = scalar("NOPE_PORT");
	struct reg_value *ditems[] = { &pe };
	const char *dkeys[] = { "port_env" };
	struct reg_value data = { .type = REG_MAP, .n = 1, .items = ditems, .keys = dkeys };
	e.data = &data;
	is(ci(&e), "ERR:invalid port value from env: ", "port_env without a value");
	e.data = NULL;

	kind("23505", ERRORS_CONFLICT, ERRORS_RETRY_NO);
	kind("23503", ERRORS_CONFLICT, ERRORS_RETRY_NO);
	kind("40001", ERRORS_CONFLICT, ERRORS_RETRY_YES);
	kind("40P01", ERRORS_CONFLICT, ERRORS_RETRY_YES);
	kind("42601", ERRORS_INVALID, ERRORS_RETRY_NO);
	kind("42P01", ERRORS_INVALID, ERRORS_RETRY_NO);
	kind("22012", ERRORS_INVALID, ERRORS_RETRY_NO);
	kind("25P02", ERRORS_INVALID, ERRORS_RETRY_NO);
	kind("08P01", ERRORS_INVALID, ERRORS_RETRY_NO);
	kind("42501", ERRORS_PERMISSION_DENIED, ERRORS_RETRY_NO);
	kind("28P01", ERRORS_PERMISSION_DENIED, ERRORS_RETRY_NO);
	kind("57014", ERRORS_CANCELED, ERRORS_RETRY_NO);
	kind("57P01", ERRORS_UNAVAILABLE, ERRORS_RETRY_YES);
	kind("08006", ERRORS_UNAVAILABLE, ERRORS_RETRY_YES);
	kind("53300", ERRORS_UNAVAILABLE, ERRORS_RETRY_YES);
	kind("XX000", ERRORS_INTERNAL, ERRORS_RETRY_NO);
	kind("P0001", ERRORS_UNKNOWN, ERRORS_RETRY_NO);
	kind("", ERRORS_UNKNOWN, ERRORS_RETRY_NO);

	conn_kind("connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running?",
		  ERRORS_UNAVAILABLE, ERRORS_RETRY_YES);
	conn_kind("connection to server at \"h\" failed: FATAL:  password authentication failed for user \"u\"\n",
		  ERRORS_PERMISSION_DENIED, ERRORS_RETRY_NO);
	conn_kind("FATAL:  database \"nope\" does not exist\n", ERRORS_NOT_FOUND, ERRORS_RETRY_NO);
	conn_kind("", ERRORS_UNAVAILABLE, ERRORS_RETRY_YES);
	return tap_done();
}
