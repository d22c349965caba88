/*
** test/unit/runtime/yaml.c: what the YAML reader (runtime/yaml.c) does with
** hostile input, through the registry's load (runtime/registry.h), on
** files written to a scratch directory. Cases the fuzzer
** (test/fuzz/registry_fuzz.c) found stay here:
**   - nested aliases (the "billion laughs"): nine lines that would expand
**     to 9^9 nodes are refused with an error at the alias, file:line:col,
**     instead of taking all memory; aliases of ordinary size still copy;
**   - bytes that are not UTF-8: an error at their line:col. libfyaml 0.7
**     loops forever on a "%" line that ends in a truncated sequence, so
**     without the reader's own check these cases hang (the test runner's
**     timeout fails them).
*/
#include "runtime/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static char dir[64], src[96], file[128];

static void write_file(const char *text)
{
	FILE *f = fopen(file, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(file);
		exit(1);
	}
}

/* Load src (both phases, no env); returns reg_decode's result. */
static int load(struct registry **reg, struct reg_error *err)
{
	bool env_ok;

	*reg = reg_parse(src, &env_ok);
	return reg_decode(*reg, NULL, err);
}

static void alias_bomb(void)
{
	char text[2048], *p = text;
	struct reg_error err = {0};
	struct registry *reg;
	int rc;

	p += sprintf(p, "l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
	for (int i = 1; i < 9; i++) {
		p += sprintf(p, "l%d: &l%d [", i, i);
		for (int j = 0; j < 9; j++)
			p += sprintf(p, "%s*l%d", j ? "," : "", i - 1);
		p += sprintf(p, "]\n");
	}
	write_file(text);
	rc = load(&reg, &err);
	ok(rc == -EINVAL, "a 9^9-node alias bomb is an error (rc %d)", rc);
	ok(err.msg && strstr(err.msg, "fuzz.yaml:6:") &&
	   strstr(err.msg, "aliases expand to more than"),
	   "at the first alias past the bound, with file:line:col: %s", err.msg ? err.msg : "(none)");
	reg_error_free(&err);
	reg_free(reg);
}

static void alias_ordinary(void)
{
	struct reg_error err = {0};
	struct registry *reg;
	struct reg_entry *e;
	int rc;

	write_file("version: \"1.0\"\n"
		   "namespace: a\n"
		   "entries:\n"
		   "  - &h {name: h1, kind: process.host, lifecycle: {auto_start: true}}\n"
		   "  - {name: h2, kind: process.host, lifecycle: *lc}\n"
		   "lc: &lc {auto_start: true, stop_timeout: 5s}\n");
	rc = load(&reg, &err);
	ok(rc == -EINVAL && err.msg && strstr(err.msg, "unknown alias \"*lc\""),
	   "an alias before its anchor is still an unknown alias: %s", err.msg ? err.msg : "(none)");
	reg_error_free(&err);
	reg_free(reg);

	write_file("version: \"1.0\"\n"
		   "namespace: a\n"
		   "entries:\n"
		   "  - {name: h1, kind: process.host, lifecycle: &lc {auto_start: true, stop_timeout: 5s}}\n"
		   "  - {name: h2, kind: process.host, lifecycle: *lc}\n");
	rc = load(&reg, &err);
	ok(rc == 0, "ordinary aliases load: %s", err.msg ? err.msg : "");
	e = reg_find(reg, "a:h2");
	ok(e && e->has_lifecycle && e->lifecycle.auto_start &&
	   e->lifecycle.stop_timeout == 5000000000ll, "and copy the anchored mapping");
	reg_error_free(&err);
	reg_free(reg);
}

static void bad_utf8(const char *text, const char *where, const char *what)
{
	struct reg_error err = {0};
	struct registry *reg;
	int rc;

	write_file(text);
	rc = load(&reg, &err);
	ok(rc == -EINVAL && err.msg && strstr(err.msg, where) &&
	   strstr(err.msg, "invalid UTF-8"), "%s: %s", what, err.msg ? err.msg : "(none)");
	reg_error_free(&err);
	reg_free(reg);
}

static void utf8(void)
{
	struct reg_error err = {0};
	struct registry *reg;

	bad_utf8("%\xed", "fuzz.yaml:1:2: YAML syntax error: invalid UTF-8 (byte 0xed)",
		 "a directive line ending in a truncated sequence");
	bad_utf8("a: w\n%\xc3", "fuzz.yaml:2:2:", "the same on a later line");
	bad_utf8("a: \"\xc0\xaf\"\n", "fuzz.yaml:1:5:", "an overlong form");
	bad_utf8("a: b\nc: \xed\xa0\x80\n", "fuzz.yaml:2:4:", "a surrogate");
	bad_utf8("a: \xf4\x90\x80\x80\n", "fuzz.yaml:1:4:", "past U+10FFFF");
	write_file("version: \"1.0\"\nnamespace: u\nentries:\n"
		   "  - {name: h\xc3\xa9, kind: process.host, note: \"\xe2\x82\xac \xf0\x9f\x98\x80\"}\n");
	ok(load(&reg, &err) == 0 && reg_find(reg, "u:h\xc3\xa9"),
	   "well-formed UTF-8 of every length loads: %s", err.msg ? err.msg : "");
	reg_error_free(&err);
	reg_free(reg);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/wippy-yaml-test-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(src, sizeof src, "%s/src", dir);
	snprintf(file, sizeof file, "%s/fuzz.yaml", src);
	mkdir(src, 0700);
	alias_bomb();
	alias_ordinary();
	utf8();
	unlink(file);
	rmdir(src);
	rmdir(dir);
	return tap_done();
}
