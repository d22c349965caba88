/*
** test/unit/runtime/conf.c: the knob table and the config file reader.
**
** conf/wippy.yaml must set every row of the table to the row's default and
** nothing else, so the documented defaults cannot drift from the code's.
** Then good and bad files: nesting, every type, the original's integer log
** levels, unknown keys as warnings, and malformed YAML, wrong types and
** out-of-range values as errors at file:line:col.
*/
#include "runtime/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/common.h"
#include "runtime/log.h"
#include "runtime/registry.h"
#include "tap.h"

static char tmpdir[] = "/tmp/conf-test-XXXXXX";

/* Write text to a fresh file in tmpdir and return its path (static buf). */
static const char *file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* Read text as a config file over the defaults. Returns conf_read_file's
** result; *err and *warn hold the messages (caller frees). */
static int read_text(struct conf *c, const char *text,
		     struct reg_error *err, struct reg_error *warn)
{
	conf_defaults(c);
	memset(err, 0, sizeof(*err));
	memset(warn, 0, sizeof(*warn));
	return conf_read_file(c, file("t.yaml", text), err, warn);
}

static int has(const struct reg_error *e, const char *s)
{
	return e->msg && strstr(e->msg, s) != NULL;
}

static void test_docs_match_table(void)
{
	struct reg_error err = {0}, warn = {0};
	const struct conf_key *k;
	struct conf c;
	size_t n;
	int rc;

	/* From the repository root (test/run.sh), or from test/unit/runtime. */
	const char *path = access("conf/wippy.yaml", R_OK) == 0 ? "conf/wippy.yaml"
			   : "../../../conf/wippy.yaml";
	/* Start from values no row has, so an absent key shows. */
	memset(&c, 0x5a, sizeof(c));
	c.given = 0;
	rc = conf_read_file(&c, path, &err, &warn);
	ok(rc == 0 && err.count == 0, "conf/wippy.yaml reads without error%s%s",
	   err.msg ? ": " : "", err.msg ? err.msg : "");
	ok(warn.count == 0, "conf/wippy.yaml has no key the table lacks%s%s",
	   warn.msg ? ": " : "", warn.msg ? warn.msg : "");
	k = conf_keys(&n);
	for (size_t i = 0; i < n; i++) {
		int64_t v = *(const int64_t *)((const char *)&c + k[i].off);
		char a[64], b[64];
		if (k[i].type == CONF_STR) { /* the default is "" */
			const char *sv = (const char *)&c + k[i].off;
			ok(conf_given(&c, k[i].key) && sv[0] == '\0',
			   "conf/wippy.yaml %s = \"%s\", the code's default \"\"", k[i].key,
			   conf_given(&c, k[i].key) ? sv : "(absent)");
			continue;
		}
		ok(conf_given(&c, k[i].key) && v == k[i].def,
		   "conf/wippy.yaml %s = %s, the code's default %s", k[i].key,
		   conf_given(&c, k[i].key) ? conf_format(&k[i], v, a, sizeof(a)) : "(absent)",
		   conf_format(&k[i], k[i].def, b, sizeof(b)));
	}
	reg_error_free(&err);
	reg_error_free(&warn);
}

static void test_table(void)
{
	const struct conf_key *k;
	struct conf c;
	size_t n;

	k = conf_keys(&n);
	conf_defaults(&c);
	ok(n >= 8 && c.given == 0, "defaults: %zu rows, none given", n);
	ok(c.shards == 0 && c.slice_ns == 2000000 && c.runaway_ns == 5000000000LL &&
	   c.proc_mem_bytes == 512LL << 20 && c.stop_timeout_ns == 10000000000LL &&
	   c.log_level == LOG_LEVEL_INFO && c.log_format == LOG_FORMAT_TEXT &&
	   c.http_pool_idle == 32, "the defaults the README documents");
	for (size_t i = 0; i < n; i++) {
		ok(k[i].why && *k[i].why && k[i].origin &&
		   (!strcmp(k[i].origin, "original") || !strcmp(k[i].origin, "wippy")) &&
		   conf_find(k[i].key) == &k[i],
		   "%s: has a why, an origin and is found by name", k[i].key);
	}
	ok(conf_find("nope") == NULL && !conf_given(&c, "nope"), "unknown key: no row");
}

static void test_set(void)
{
	struct conf c;
	char why[256], buf[64];

	conf_defaults(&c);
	ok(conf_set(&c, "scheduler.shards", "3", why, sizeof(why)) == 0 && c.shards == 3 &&
	   conf_given(&c, "scheduler.shards"), "--shards 3");
	ok(conf_set(&c, "shutdown.timeout", "1m30s", why, sizeof(why)) == 0 &&
	   c.stop_timeout_ns == 90000000000LL, "--stop-timeout 1m30s");
	ok(conf_set(&c, "process.memory_limit", "16M", why, sizeof(why)) == 0 &&
	   c.proc_mem_bytes == 16 << 20, "--proc-memory-limit 16M");
	ok(conf_set(&c, "process.memory_limit", "2GiB", why, sizeof(why)) == 0 &&
	   c.proc_mem_bytes == 2LL << 30, "2GiB");
	ok(conf_set(&c, "process.memory_limit", "0", why, sizeof(why)) == 0 &&
	   c.proc_mem_bytes == 0, "0: no limit");
	ok(conf_set(&c, "logmanager.format", "json", why, sizeof(why)) == 0 &&
	   c.log_format == LOG_FORMAT_JSON, "--log-format json");
	ok(conf_set(&c, "logmanager.format", "xml", why, sizeof(why)) < 0 &&
	   strstr(why, "text or json"), "--log-format xml: %s", why);
	ok(conf_set(&c, "scheduler.shards", "two", why, sizeof(why)) < 0 &&
	   strstr(why, "an integer"), "--shards two: %s", why);
	ok(conf_set(&c, "scheduler.shards", "-1", why, sizeof(why)) < 0 &&
	   strstr(why, "between 0 and"), "--shards -1: %s", why);
	ok(conf_set(&c, "shutdown.timeout", "10", why, sizeof(why)) < 0,
	   "a duration needs a unit: %s", why);
	ok(conf_set(&c, "no.such", "1", why, sizeof(why)) < 0, "no such key: %s", why);
	ok(!strcmp(conf_format(conf_find("process.memory_limit"), 512LL << 20, buf, sizeof(buf)), "512M") &&
	   !strcmp(conf_format(conf_find("scheduler.slice"), 10000000, buf, sizeof(buf)), "10ms") &&
	   !strcmp(conf_format(conf_find("logmanager.min_level"), LOG_LEVEL_WARN, buf, sizeof(buf)), "warn"),
	   "formats: 512M, 10ms, warn");
}

static void test_good_files(void)
{
	struct reg_error err, warn;
	struct conf c;

	ok(read_text(&c, "scheduler:\n  shards: 2\n  slice: 20ms\n"
		     "shutdown: {timeout: 3s}\nprocess:\n  memory_limit: 1048576\n"
		     "logmanager:\n  min_level: -1\n  format: json\n"
		     "http:\n  handler_pool:\n    idle_max: 0\n", &err, &warn) == 0 &&
	   err.count == 0 && warn.count == 0, "a file that sets every section");
	ok(c.shards == 2 && c.slice_ns == 20000000 && c.stop_timeout_ns == 3000000000LL &&
	   c.proc_mem_bytes == 1 << 20 && c.log_level == LOG_LEVEL_DEBUG &&
	   c.log_format == LOG_FORMAT_JSON && c.http_pool_idle == 0 &&
	   c.runaway_ns == 5000000000LL && !conf_given(&c, "scheduler.runaway_limit"),
	   "values set, the rest default");
	reg_error_free(&err);
	reg_error_free(&warn);

	ok(read_text(&c, "logmanager:\n  min_level: 2\n", &err, &warn) == 0 &&
	   c.log_level == LOG_LEVEL_ERROR, "the original's min_level 2 is error");
	reg_error_free(&err);
	reg_error_free(&warn);

	ok(read_text(&c, "", &err, &warn) == 0 && c.given == 0, "an empty file");
	reg_error_free(&err);
	reg_error_free(&warn);

	ok(read_text(&c, "override:\n  app:x: 1\nlogmanager:\n  stream_to_events: true\n"
		     "scheduler:\n  shards: 1\n", &err, &warn) == 0 && c.shards == 1 &&
	   warn.count == 2 && has(&warn, "t.yaml:2:10: unknown setting \"override.app:x\"") == 0 &&
	   has(&warn, "unknown setting \"override\"") &&
	   has(&warn, "t.yaml:4:21: unknown setting \"logmanager.stream_to_events\""),
	   "unknown keys warn by name and place: %s", warn.msg ? warn.msg : "");
	reg_error_free(&err);
	reg_error_free(&warn);
}

static void test_bad_files(void)
{
	struct reg_error err, warn;
	struct conf c;
	char path[300];

	ok(read_text(&c, "scheduler:\n  shards: [1\n", &err, &warn) < 0 &&
	   has(&err, "t.yaml:") && has(&err, "YAML syntax error"),
	   "malformed YAML: %s", err.msg ? err.msg : "");
	reg_error_free(&err);
	reg_error_free(&warn);

	ok(read_text(&c, "scheduler:\n  shards: many\n", &err, &warn) < 0 &&
	   has(&err, "t.yaml:2:11: scheduler.shards: must be an integer, got \"many\""),
	   "wrong type at file:line:col: %s", err.msg ? err.msg : "");
	reg_error_free(&err);
	reg_error_free(&warn);

	ok(read_text(&c, "shutdown:\n  timeout: 5\nprocess:\n  memory_limit: lots\n"
		     "logmanager:\n  format: xml\n", &err, &warn) < 0 && err.count == 3 &&
	   has(&err, "t.yaml:2:12: shutdown.timeout: must be a duration") &&
	   has(&err, "t.yaml:4:17: process.memory_limit: must be a size") &&
	   has(&err, "t.yaml:6:11: logmanager.format: must be text or json"),
	   "every bad value is reported: %s", err.msg ? err.msg : "");
	reg_error_free(&err);
	reg_error_free(&warn);

	ok(read_text(&c, "scheduler: 3\n", &err, &warn) < 0 &&
	   has(&err, "t.yaml:1:12: scheduler: must be a mapping, got int"),
	   "a section that is not a mapping: %s", err.msg ? err.msg : "");
	reg_error_free(&err);
	reg_error_free(&warn);

	ok(read_text(&c, "scheduler:\n  slice: {a: 1}\n  runaway_limit: 0s\n", &err, &warn) < 0 &&
	   has(&err, "scheduler.slice: must be a duration like \"10s\", got mapping") &&
	   has(&err, "t.yaml:3:18: scheduler.runaway_limit: must be between 1ms and 1h0m0s"),
	   "a mapping for a scalar, a value out of range: %s", err.msg ? err.msg : "");
	reg_error_free(&err);
	reg_error_free(&warn);

	ok(read_text(&c, "- 1\n- 2\n", &err, &warn) < 0 && has(&err, "must be a mapping"),
	   "a file that is a sequence");
	reg_error_free(&err);
	reg_error_free(&warn);

	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	conf_defaults(&c);
	memset(&err, 0, sizeof(err));
	memset(&warn, 0, sizeof(warn));
	ok(conf_read_file(&c, path, &err, &warn) < 0 && has(&err, "missing.yaml: cannot read"),
	   "a missing file: %s", err.msg ? err.msg : "");
	reg_error_free(&err);
	reg_error_free(&warn);
}

int main(void)
{
	char cmd[300];

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	test_docs_match_table();
	test_table();
	test_set();
	test_good_files();
	test_bad_files();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
