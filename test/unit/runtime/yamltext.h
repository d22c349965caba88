/*
** test/unit/runtime/yamltext.h: YAML text to a registry value tree, for
** the tests that need trees with the types and positions a loaded entry
** has (the policy engine's). Writes text to dir/p.yaml and reads it with
** the registry's own reader into arena; NULL (and the reader's message on
** stderr) when it does not parse.
*/
#ifndef TEST_UNIT_RUNTIME_YAMLTEXT_H
#define TEST_UNIT_RUNTIME_YAMLTEXT_H

#include <stdio.h>
#include <unistd.h>

#include "runtime/reg_int.h"
#include "runtime/yaml.h"

static inline struct reg_value *yamltext(const char *dir, struct reg_arena *arena,
					 const char *text)
{
	char path[256];
	struct reg_error err = {0};
	struct reg_value *v;
	bool okay;
	FILE *f;

	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	if ((f = fopen(path, "w")) == NULL)
		return NULL;
	fputs(text, f);
	fclose(f);
	v = yaml_read_file(path, "p.yaml", arena, &err, &okay);
	if (!okay)
		fprintf(stderr, "yaml: %s\n", err.msg);
	reg_error_free(&err);
	return okay ? v : NULL;
}

/* Remove dir/p.yaml and dir. */
static inline void yamltext_cleanup(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	unlink(path);
	rmdir(dir);
}

#endif
