/*
** runtime/reg_lock.c: wippy.lock, the file that says where an app's
** sources and modules are ("directories: {modules: .wippy, src: ./src}").
**
** Owns: reading it (through the YAML reader) and writing it atomically.
** It may not load a registry: it only names the directory reg_parse()
** reads.
*/
#include "runtime/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/reg_int.h"
#include "runtime/yaml.h"

int reg_lock_read(const char *lock_path, char **src_dir, char **modules_dir)
{
	struct reg_arena arena = { 0 };
	struct reg_error err = { 0 };
	struct reg_value *root, *d, *s, *m;
	bool ok;
	int rc = 0;

	if (access(lock_path, R_OK) != 0)
		return -errno;
	root = yaml_read_file(lock_path, lock_path, &arena, &err, &ok);
	d = root ? reg_value_get(root, "directories") : NULL;
	s = reg_value_get(d, "src");
	m = reg_value_get(d, "modules");
	if (!ok || (root && root->type != REG_MAP) ||
	    (d && d->type != REG_MAP && d->type != REG_NULL) ||
	    (s && s->type != REG_STR) || (m && m->type != REG_STR)) {
		rc = -EINVAL;
	} else {
		*src_dir = xstrdup(s ? s->str : "./src");
		*modules_dir = xstrdup(m ? m->str : ".wippy");
	}
	reg_error_free(&err);
	reg__arena_free(&arena);
	return rc;
}

/* Double-quoted YAML scalar, so any path survives the round trip. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int reg_lock_write(const char *lock_path, const char *src_dir,
		   const char *modules_dir)
{
	char *tmp;
	FILE *f;
	int rc = 0;

	if (asprintf(&tmp, "%s.tmp.%d", lock_path, (int)getpid()) < 0)
		abort();
	f = fopen(tmp, "w");
	if (f == NULL) {
		rc = -errno;
		free(tmp);
		return rc;
	}
	fputs("directories:\n  modules: ", f);
	put_quoted(f, modules_dir);
	fputs("\n  src: ", f);
	put_quoted(f, src_dir);
	fputc('\n', f);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, lock_path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}
