/*
** test/unit/runtime/reg_change.c: registry versions derived at run time
** (reg_derive) from the echo fixture: a create, its sharing of unchanged
** entries, an update that re-decodes what refers to it, and each error
** path with its code (an existing id, a missing one, a dangling
** reference, a bad id, an unknown kind, a kind built only at boot), the
** base never changing. Run under ASan: every version frees its own.
*/
#include "runtime/registry.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/env.h"
#include "tap.h"

static struct registry *load_echo(void)
{
	struct registry *reg = NULL;
	struct stat st;
	const char *dir = stat("test/fixtures/registry/echo", &st) == 0
		? "test/fixtures/registry/echo" : "../../fixtures/registry/echo";
	env_load(dir, &reg, NULL, NULL);
	return reg;
}

/* A change set of one create/update of a registry.entry-like entry. */
static struct reg_changes *one(enum reg_op op, const char *id, const char *kind,
			       const char *key, const char *val)
{
	struct reg_changes *c = reg_changes_new();
	struct reg_value *data = NULL;
	if (key) {
		data = reg_cv_map(c, 1);
		data->keys[0] = reg_cv_key(c, key, strlen(key));
		data->items[0] = reg_cv_str(c, val, strlen(val));
	}
	reg_changes_add(c, op, id, kind, NULL, data);
	return c;
}

static int derive(struct registry *base, struct reg_changes *c, struct registry **out,
		  char *msg, size_t cap)
{
	struct reg_error err = {0};
	int rc = reg_derive(base, c, out, &err);
	snprintf(msg, cap, "%s", err.msg ? err.msg : "");
	reg_error_free(&err);
	reg_changes_free(c);
	return rc;
}

int main(void)
{
	struct registry *base = load_echo(), *v2 = NULL, *v3 = NULL, *bad = NULL;
	char msg[2048];
	int rc;

	ok(base != NULL, "echo fixture loads");
	if (base == NULL)
		return tap_done();
	size_t n0 = reg_count(base);

	/* create */
	rc = derive(base, one(REG_OP_CREATE, "app:cfg", "registry.entry", "x", "1"), &v2,
		    msg, sizeof(msg));
	ok(rc == 0 && v2, "create of a registry.entry applies (%s)", msg);
	ok(v2 && reg_count(v2) == n0 + 1 && reg_count(base) == n0, "one more entry; base unchanged");
	ok(v2 && reg_find(v2, "app:cfg") && !reg_find(base, "app:cfg"), "new entry only in the new version");
	ok(v2 && reg_find(v2, "app:relay") == reg_find(base, "app:relay"), "unchanged entry is shared");
	ok(v2 && !strcmp(reg_value_str(reg_find(v2, "app:cfg")->data, "x"), "1"),
	   "data kept flat beside name and kind");

	/* update of what a service refers to: the service is decoded again */
	{
		struct reg_changes *c = reg_changes_new();
		struct reg_value *d = reg_cv_map(c, 2);
		d->keys[0] = reg_cv_key(c, "source", 6);
		d->items[0] = reg_cv_str(c, "file://worker.lua", 17);
		d->keys[1] = reg_cv_key(c, "method", 6);
		d->items[1] = reg_cv_str(c, "main", 4);
		reg_changes_add(c, REG_OP_UPDATE, "app:relay", "process.lua", NULL, d);
		rc = derive(v2, c, &v3, msg, sizeof(msg));
	}
	ok(rc == 0 && v3, "update of a process.lua applies (%s)", msg);
	if (v3) {
		struct reg_entry *svc = reg_find(v3, "app:relay-service");
		ok(svc != reg_find(v2, "app:relay-service"), "its service is decoded again");
		ok(svc->u.service.process == reg_find(v3, "app:relay"),
		   "and refers to the new process entry");
		ok(strstr(reg_find(v3, "app:relay")->u.lua.source, "worker.lua") != NULL,
		   "source resolved against the source root");
		ok(reg_find(v3, "app:cfg") == reg_find(v2, "app:cfg"), "untouched entry still shared");
	}

	/* error paths: nothing made, base untouched */
	rc = derive(v2, one(REG_OP_CREATE, "app:cfg", "registry.entry", NULL, NULL), &bad, msg, sizeof(msg));
	ok(rc == -EEXIST && bad == NULL && strstr(msg, "app:cfg"), "create of an existing id: -EEXIST (%s)", msg);
	rc = derive(v2, one(REG_OP_UPDATE, "app:nope", "registry.entry", NULL, NULL), &bad, msg, sizeof(msg));
	ok(rc == -ENOENT && bad == NULL, "update of a missing id: -ENOENT (%s)", msg);
	rc = derive(v2, one(REG_OP_DELETE, "app:nope", NULL, NULL, NULL), &bad, msg, sizeof(msg));
	ok(rc == -ENOENT && bad == NULL, "delete of a missing id: -ENOENT (%s)", msg);
	rc = derive(v2, one(REG_OP_DELETE, "app:relay", NULL, NULL, NULL), &bad, msg, sizeof(msg));
	ok(rc == -EINVAL && bad == NULL && strstr(msg, "app:relay-service"),
	   "deleting what a service runs: -EINVAL naming the service (%s)", msg);
	ok(reg_find(v2, "app:relay") != NULL, "and the entry is still there");
	rc = derive(v2, one(REG_OP_CREATE, "bad id", "registry.entry", NULL, NULL), &bad, msg, sizeof(msg));
	ok(rc == -EINVAL && bad == NULL, "an id without namespace: -EINVAL (%s)", msg);
	rc = derive(v2, one(REG_OP_CREATE, "app:k", "no.such.kind", NULL, NULL), &bad, msg, sizeof(msg));
	ok(rc == -EINVAL && bad == NULL && strstr(msg, "app:k"), "an unknown kind: -EINVAL (%s)", msg);
	rc = derive(v2, one(REG_OP_CREATE, "app:h", "process.host", NULL, NULL), &bad, msg, sizeof(msg));
	ok(rc == -ENOTSUP && bad == NULL, "a boot-only kind: -ENOTSUP (%s)", msg);
	rc = derive(v2, one(REG_OP_CREATE, "app:svc2", "process.service", "process", "app:missing"),
		    &bad, msg, sizeof(msg));
	ok(rc == -EINVAL && bad == NULL && strstr(msg, "app:svc2"),
	   "a service of a missing process: -EINVAL naming it (%s)", msg);

	/* delete of the service, then of its process */
	{
		struct reg_changes *c = reg_changes_new();
		struct registry *v4 = NULL;
		reg_changes_add(c, REG_OP_DELETE, "app:relay-service", NULL, NULL, NULL);
		reg_changes_add(c, REG_OP_DELETE, "app:relay", NULL, NULL, NULL);
		rc = derive(v2, c, &v4, msg, sizeof(msg));
		ok(rc == 0 && v4 && !reg_find(v4, "app:relay") && reg_count(v4) == n0 - 1,
		   "service and process deleted together (%s)", msg);
		reg_free(v4);
	}

	reg_free(v3);
	reg_free(v2);
	reg_free(base);
	return tap_done();
}
