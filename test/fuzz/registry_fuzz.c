/*
** test/fuzz/registry_fuzz.c: libFuzzer driver for the registry loader: the
** YAML reader (runtime/yaml.c) and both load phases (runtime/registry.c
** and reg_*.c), through runtime/registry.h only.
**
** The registry reads a source directory, so each input is written as the
** one definition file of a scratch directory made at start-up
** (/tmp/wippy-registry-fuzz-<pid>/src/fuzz.yaml, removed at exit), then
** loaded with reg_parse and reg_decode (no env lookup: ${env:...} stays an
** error). The load must never crash, and a failed load must:
**   - count at least one error, and have a message of at most
**     REG_ERROR_MAX lines, each ending in a newline-free text;
**   - name a position on every line about the file: "fuzz.yaml:L:C:" with
**     L >= 1 and C >= 1 ("fuzz.yaml: ..." alone only for a file-level
**     fault such as a syntax error libfyaml gave no mark for).
** A successful load has count 0; every entry it holds has an id "ns:name"
** and a position in the file.
**
** Build and run: test/fuzz/run.sh [seconds] registry. Replaying one input
** with REGISTRY_FUZZ_PRINT=1 in the environment prints its error lines.
*/
#include "runtime/registry.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static char root[128], src[160], file[192];

static void check(int cond, const char *what, const char *line)
{
	if (!cond) {
		fprintf(stderr, "registry_fuzz: %s\n", what);
		if (line)
			fprintf(stderr, "registry_fuzz: line: %s\n", line);
		abort();
	}
}

static void cleanup(void)
{
	unlink(file);
	rmdir(src);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(root, sizeof root, "/tmp/wippy-registry-fuzz-%d", (int)getpid());
	snprintf(src, sizeof src, "%s/src", root);
	snprintf(file, sizeof file, "%s/fuzz.yaml", src);
	mkdir(root, 0700);
	mkdir(src, 0700);
	atexit(cleanup);
	return 0;
}

/* One error line: where it points must be a real place in the file. */
static void check_line(const char *line)
{
	const char *p = strstr(line, "fuzz.yaml");
	long l, c;
	char *end;

	if (p == NULL)
		return;		/* about something else (a cycle, a missing id) */
	p += strlen("fuzz.yaml");
	if (*p != ':')
		return;		/* the name inside a quoted value */
	p++;
	if (*p == ' ')
		return;		/* "fuzz.yaml: ...": a file-level fault */
	l = strtol(p, &end, 10);
	check(end != p && *end == ':', "a position without line:col", line);
	p = end + 1;
	c = strtol(p, &end, 10);
	check(end != p && *end == ':', "a position without a column", line);
	check(l >= 1 && c >= 1, "a position before 1:1", line);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct reg_error err = {0};
	struct registry *reg;
	struct reg_entry *e = NULL;
	bool env_ok;
	int fd, rc, lines = 0;

	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	check(fd >= 0, "cannot write the scratch file", NULL);
	check(write(fd, d, n) == (ssize_t)n, "short write of the scratch file", NULL);
	close(fd);

	reg = reg_parse(src, &env_ok);
	check(reg != NULL, "reg_parse returned NULL", NULL);
	rc = reg_decode(reg, NULL, &err);
	if (getenv("REGISTRY_FUZZ_PRINT"))
		fprintf(stderr, "registry_fuzz: rc %d, %d errors, %zu entries\n",
			rc, err.count, reg_count(reg));
	if (rc == 0) {
		check(err.count == 0, "a successful load counted errors", NULL);
		while ((e = reg_next(reg, e)) != NULL) {
			check(e->id && strchr(e->id, ':'), "an entry id without ':'", e->id);
			check(e->line >= 1 && e->col >= 1, "an entry without a position", e->id);
		}
	} else {
		char *s, *nl;

		check(err.count > 0 && err.msg != NULL, "a failed load without an error", NULL);
		if (getenv("REGISTRY_FUZZ_PRINT"))	/* replaying one input */
			fputs(err.msg, stderr);
		for (s = err.msg; *s; s = nl + 1) {
			nl = strchr(s, '\n');
			if (nl == NULL) {
				check_line(s);
				lines++;
				break;
			}
			*nl = '\0';
			check_line(s);
			*nl = '\n';
			lines++;
		}
		check(lines >= 1 && lines <= REG_ERROR_MAX + 1, "error line count", NULL);
	}
	reg_error_free(&err);
	reg_free(reg);
	return 0;
}
