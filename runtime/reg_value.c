/*
** runtime/reg_value.c: the registry's value trees: the memory they live in
** and the reg_value_* readers.
**
** Owns: the arena (every node, string and entry of one registry, freed at
** once by reg_free) and the read-only walk of a tree by dotted path. It
** may not parse YAML (yaml.c builds trees) nor know about kinds.
**
** The readers never allocate and never report: callers use them to probe
** optional fields, and a loaded registry is read from every shard at once.
*/
#include "runtime/reg_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {====================================================================
** Arena
** ===================================================================== */

struct reg_chunk {
	struct reg_chunk *next;
	size_t used, size;
	max_align_t data[];
};

/* Zeroed, max_align_t-aligned memory that lives until arena_free(). */
void *reg__alloc(struct reg_arena *a, size_t n)
{
	struct reg_chunk *c = a->head;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (c == NULL || c->used + n > c->size) {
		size_t size = n > 16384 ? n : 16384;
		c = xmalloc(sizeof(*c) + size);
		c->used = 0;
		c->size = size;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

char *reg__strndup(struct reg_arena *a, const char *s, size_t len)
{
	char *p = reg__alloc(a, len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *reg__strdup(struct reg_arena *a, const char *s)
{
	return reg__strndup(a, s, strlen(s));
}

char *reg__printf(struct reg_arena *a, const char *fmt, ...)
{
	va_list ap;
	char *tmp, *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();	/* only on allocation failure, like xmalloc */
	p = reg__strndup(a, tmp, (size_t)n);
	free(tmp);
	return p;
}

void reg__arena_free(struct reg_arena *a)
{
	struct reg_chunk *c, *next;

	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

const char *reg__show(const struct reg_value *v, char *buf, size_t size)
{
	if (v == NULL)
		return "nothing";
	switch (v->type) {
	case REG_SEQ:
		return "a sequence";
	case REG_MAP:
		return "a mapping";
	case REG_NULL:
		return "null";
	default:
		snprintf(buf, size, "\"%.120s\"", v->str);
		return buf;
	}
}

/* }==================================================================== */

/* {====================================================================
** Readers
** ===================================================================== */

/* Does key match the front of path up to a '.' or the end? Returns the
 * rest of path after it, or NULL. */
static const char *match_key(const char *path, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(path, key, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return path + n;
	if (path[n] == '.')
		return path + n + 1;
	return NULL;
}

struct reg_value *reg_value_get(const struct reg_value *v, const char *path)
{
	const char *rest;
	size_t i;

	if (v == NULL)
		return NULL;
	if (path == NULL || *path == '\0')
		return (struct reg_value *)v;
	if (v->type == REG_MAP) {
		/* Keys may contain dots ("cors.allow.origins"); every key
		 * that matches a prefix is tried, longest paths first come
		 * naturally since a full match ends the walk. */
		for (i = 0; i < v->n; i++) {
			struct reg_value *r;

			if ((rest = match_key(path, v->keys[i])) == NULL)
				continue;
			if (*rest == '\0')
				return v->items[i];
			if ((r = reg_value_get(v->items[i], rest)) != NULL)
				return r;
		}
		return NULL;
	}
	if (v->type == REG_SEQ && isdigit((unsigned char)*path)) {
		char *end;
		unsigned long idx = strtoul(path, &end, 10);

		if (idx >= v->n || (*end != '\0' && *end != '.'))
			return NULL;
		return *end ? reg_value_get(v->items[idx], end + 1) : v->items[idx];
	}
	return NULL;
}

const char *reg_value_str(const struct reg_value *v, const char *path)
{
	v = reg_value_get(v, path);
	return v && v->type == REG_STR ? v->str : NULL;
}

const char *reg_value_text(const struct reg_value *v, const char *path)
{
	v = reg_value_get(v, path);
	return v && v->str && v->type != REG_NULL ? v->str : NULL;
}

int64_t reg_value_int(const struct reg_value *v, const char *path, int64_t def)
{
	v = reg_value_get(v, path);
	return v && v->type == REG_INT ? v->i : def;
}

bool reg_value_bool(const struct reg_value *v, const char *path, bool def)
{
	v = reg_value_get(v, path);
	return v && v->type == REG_BOOL ? v->b : def;
}

const char *reg_value_type_name(enum reg_vtype t)
{
	static const char *const names[] = { "null", "bool", "int", "float",
		"string", "sequence", "mapping" };

	return (unsigned)t < countof(names) ? names[t] : "?";
}

/* }==================================================================== */
