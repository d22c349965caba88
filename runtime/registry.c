/*
** runtime/registry.c: load, validate and index the registry (spec 1).
**
** Loading runs in passes, because interpolation needs env values while
** entries are decoded, and env values come from entries:
**
**   1. parse: every definition file under the source root becomes a tree
**      of reg_value (built from libfyaml parser events, so every node keeps
**      its file:line:col) and a list of raw entries {id, kind, data};
**   2. index: ids go into a hash table (duplicates are errors) and kinds
**      are classified (unknown kinds are errors);
**   3. env: env.storage.* and env.variable entries are decoded without
**      interpolation (they are where values come from), then a temporary
**      env is built from them with env_create();
**   4. decode: every other entry's strings are interpolated against that
**      env, then its kind's fields are type-checked and decoded, and its
**      references are resolved to entry pointers (all ids are known since
**      pass 2, so order between entries does not matter);
**   5. check: unique env variable names, no cycles in lifecycle.requires.
**
** Every problem is collected into one reg_error instead of stopping at the
** first, so `wippy lint` shows them all. Messages read
** "file:line:col: entry-id: what (offending value)".
**
** Memory: everything a registry holds lives in one arena freed by
** reg_free(); only the entry array and the hash table are separate. The
** loaded registry is never written again, which is what lets every shard
** read it without locks.
*/
#include "runtime/registry.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/common.h"
#include "runtime/env.h"
#include "runtime/sha256.h"

/* Directory nesting we follow before assuming a symlink loop. */
#define MAX_DIR_DEPTH 32

/* Largest process.lua.bc bytecode file read to check its hash. */
#define MAX_BYTECODE (64u << 20)

/* {====================================================================
** Arena: all registry memory, freed at once
** ===================================================================== */

struct chunk {
	struct chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct chunk *head;
};

/* Zeroed, max_align_t-aligned memory that lives until arena_free(). */
static void *aalloc(struct arena *a, size_t n)
{
	struct chunk *c = a->head;
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

static char *astrndup(struct arena *a, const char *s, size_t len)
{
	char *p = aalloc(a, len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static char *astrdup(struct arena *a, const char *s)
{
	return astrndup(a, s, strlen(s));
}

static char *aprintf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static char *aprintf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *tmp, *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();	/* only on allocation failure, like xmalloc */
	p = astrndup(a, tmp, (size_t)n);
	free(tmp);
	return p;
}

static void arena_free(struct arena *a)
{
	struct chunk *c, *next;

	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* }==================================================================== */

struct registry {
	struct arena arena;
	struct reg_entry **entries;	/* file order */
	size_t n, cap;
	struct reg_entry **hash;	/* open addressing, hcap a power of 2 */
	size_t hcap;
	struct reg_error warn;		/* reg_warnings() */
};

/* State of one reg_load() call. */
struct loader {
	struct registry *reg;
	struct reg_error err;
	struct reg_error warn;	/* handed to the registry on success */
	const char *root;	/* realpath of the source root */
	struct env *env;	/* pass 4 only; NULL if env entries failed */
	struct anchor {
		const char *name;
		const struct reg_value *v;
	} *anchors;		/* of the file being parsed */
	size_t nanchors, capanchors;
};

/* {====================================================================
** Errors
** ===================================================================== */

void reg_error_free(struct reg_error *err)
{
	if (err == NULL)
		return;
	free(err->msg);
	memset(err, 0, sizeof(*err));
}

static void err_append(struct reg_error *err, const char *line)
{
	size_t len = strlen(line);

	if (err->_len + len + 2 > err->_cap) {
		err->_cap = (err->_len + len + 2) * 2;
		err->msg = xrealloc(err->msg, err->_cap);
	}
	memcpy(err->msg + err->_len, line, len);
	err->_len += len;
	err->msg[err->_len++] = '\n';
	err->msg[err->_len] = '\0';
}

/* Append one line; past REG_ERROR_MAX only the count grows. */
static void err_line(struct reg_error *err, const char *line)
{
	if (++err->count <= REG_ERROR_MAX)
		err_append(err, line);
}

/* Close the list: drop the last newline, note what the cap cut off. */
static void err_finish(struct reg_error *err)
{
	char tail[64];

	if (err->count > REG_ERROR_MAX) {
		snprintf(tail, sizeof(tail), "... and %d more errors",
			 err->count - REG_ERROR_MAX);
		err_append(err, tail);
	}
	if (err->_len > 0 && err->msg[err->_len - 1] == '\n')
		err->msg[--err->_len] = '\0';
}

/*
** Add one line about entry e (may be NULL) at node v (may be NULL; then at
** e's own position) to list. Prefix is "file:line:col: id: ".
*/
static void vreport(struct reg_error *list, const struct reg_entry *e,
		    const struct reg_value *v, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static void vreport(struct reg_error *list, const struct reg_entry *e,
		    const struct reg_value *v, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n = 0;

	if (v != NULL && v->file != NULL)
		n = (size_t)snprintf(buf, sizeof(buf), "%s:%d:%d: ",
				     v->file, v->line, v->col);
	else if (e != NULL)
		n = (size_t)snprintf(buf, sizeof(buf), "%s:%d:%d: ",
				     e->file, e->line, e->col);
	if (e != NULL && n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s: ", e->id);
	if (n < sizeof(buf))
		vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	err_line(list, buf);
}

/* An error (the load fails) about e at v, as vreport. */
static void errat(struct loader *L, const struct reg_entry *e,
		  const struct reg_value *v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void errat(struct loader *L, const struct reg_entry *e,
		  const struct reg_value *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(&L->err, e, v, fmt, ap);
	va_end(ap);
}

/* A warning (kept in the registry, the load goes on) about e at v. */
static void warnat(struct reg_error *list, const struct reg_entry *e,
		   const struct reg_value *v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void warnat(struct reg_error *list, const struct reg_entry *e,
		   const struct reg_value *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(list, e, v, fmt, ap);
	va_end(ap);
}

/* A short printable form of v for messages: "\"text\"" or "a mapping". */
static const char *show(const struct reg_value *v, char *buf, size_t size)
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
** YAML -> reg_value, from libfyaml parser events
** ===================================================================== */

/* Is s (len bytes) matched entirely by the predicate-driven number forms? */
static bool all_digits(const char *s, int (*pred)(int))
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!pred((unsigned char)*s))
			return false;
	return true;
}

static int isodigit_(int c) { return c >= '0' && c <= '7'; }

/*
** Type a plain scalar by the YAML 1.2 core schema: null, bool, int
** (decimal, 0x, 0o), float (incl. .inf/.nan), else string. Integers that
** overflow int64 stay strings rather than silently wrapping.
*/
static void type_scalar(struct reg_value *v)
{
	const char *s = v->str;
	const char *d = s + (*s == '-' || *s == '+');
	char *end;

	v->type = REG_STR;
	if (!v->_plain)
		return;
	if (!strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") ||
	    !strcmp(s, "Null") || !strcmp(s, "NULL")) {
		v->type = REG_NULL;
	} else if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
		v->type = REG_BOOL;
		v->b = true;
	} else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
		v->type = REG_BOOL;
		v->b = false;
	} else if (all_digits(d, isdigit)) {
		errno = 0;
		v->i = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
			v->type = REG_INT;
	} else if (!strncmp(s, "0x", 2) && all_digits(s + 2, isxdigit)) {
		errno = 0;
		v->i = (int64_t)strtoll(s + 2, &end, 16);
		if (errno == 0 && *end == '\0')
			v->type = REG_INT;
	} else if (!strncmp(s, "0o", 2) && all_digits(s + 2, isodigit_)) {
		errno = 0;
		v->i = strtoll(s + 2, &end, 8);
		if (errno == 0 && *end == '\0')
			v->type = REG_INT;
	} else if (!strcmp(d, ".inf") || !strcmp(d, ".Inf") || !strcmp(d, ".INF")) {
		v->type = REG_FLOAT;
		v->f = *s == '-' ? -INFINITY : INFINITY;
	} else if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
		v->type = REG_FLOAT;
		v->f = NAN;
	} else if (strspn(d, "0123456789.eE+-") == strlen(d) &&
		   strpbrk(d, "0123456789") != NULL) {
		/* strtod accepts more (hex floats, "inf"), so the charset
		 * filter above keeps it to the YAML float forms. */
		v->f = strtod(s, &end);
		if (*end == '\0' && end != s)
			v->type = REG_FLOAT;
	}
}

static struct reg_value *newval(struct loader *L, enum reg_vtype t,
				const char *file, const struct fy_mark *m)
{
	struct reg_value *v = aalloc(&L->reg->arena, sizeof(*v));

	v->type = t;
	v->file = file;
	v->line = m ? m->line + 1 : 1;
	v->col = m ? m->column + 1 : 1;
	return v;
}

/* Deep copy for aliases: interpolation rewrites strings in place, so an
 * aliased subtree must not be shared (it would be expanded twice). */
static struct reg_value *copyval(struct loader *L, const struct reg_value *src)
{
	struct arena *a = &L->reg->arena;
	struct reg_value *v = aalloc(a, sizeof(*v));
	size_t i;

	*v = *src;
	if (src->n > 0) {
		v->items = aalloc(a, src->n * sizeof(*v->items));
		for (i = 0; i < src->n; i++)
			v->items[i] = copyval(L, src->items[i]);
	}
	return v;
}

/* A container under construction; items grow in a heap vector and move
 * into the arena when the container ends. */
struct frame {
	struct reg_value *v;
	struct reg_value **items;
	const char **keys;
	size_t n, cap;
	const char *key;	/* map: key waiting for its value */
	bool have_key;
	const char *anchor;
};

static void frame_push_item(struct frame *f, const char *key,
			    struct reg_value *v)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->items = xrealloc(f->items, f->cap * sizeof(*f->items));
		f->keys = xrealloc(f->keys, f->cap * sizeof(*f->keys));
	}
	f->keys[f->n] = key;
	f->items[f->n++] = v;
}

static void add_anchor(struct loader *L, const char *name,
		       const struct reg_value *v)
{
	if (L->nanchors == L->capanchors) {
		L->capanchors = L->capanchors ? L->capanchors * 2 : 8;
		L->anchors = xrealloc(L->anchors,
				      L->capanchors * sizeof(*L->anchors));
	}
	L->anchors[L->nanchors].name = name;
	L->anchors[L->nanchors++].v = v;
}

static const char *token_text(struct loader *L, struct fy_token *t)
{
	size_t len = 0;
	const char *s = t ? fy_token_get_text(t, &len) : NULL;

	return s ? astrndup(&L->reg->arena, s, len) : NULL;
}

/*
** Attach a finished value to the container on top of the stack, or make it
** the root. Returns -1 (error recorded) for a non-scalar or duplicate key.
*/
static int attach(struct loader *L, struct frame *stack, int depth,
		  struct reg_value **root, struct reg_value *v)
{
	struct frame *f;
	size_t i;

	if (depth == 0) {
		*root = v;
		return 0;
	}
	f = &stack[depth - 1];
	if (f->v->type == REG_SEQ) {
		frame_push_item(f, NULL, v);
		return 0;
	}
	if (!f->have_key) {
		if (v->type == REG_SEQ || v->type == REG_MAP) {
			errat(L, NULL, v, "mapping keys must be scalars, got %s",
			      reg_value_type_name(v->type));
			return -1;
		}
		for (i = 0; i < f->n; i++) {
			if (!strcmp(f->keys[i], v->str)) {
				errat(L, NULL, v, "duplicate mapping key \"%s\"",
				      v->str);
				return -1;
			}
		}
		f->key = v->str;
		f->have_key = true;
		return 0;
	}
	frame_push_item(f, f->key, v);
	f->have_key = false;
	return 0;
}

/* Move a finished container's vectors into the arena. */
static void seal(struct loader *L, struct frame *f)
{
	struct reg_value *v = f->v;
	struct arena *a = &L->reg->arena;

	v->n = f->n;
	if (f->n > 0) {
		v->items = aalloc(a, f->n * sizeof(*v->items));
		memcpy(v->items, f->items, f->n * sizeof(*v->items));
		if (v->type == REG_MAP) {
			v->keys = aalloc(a, f->n * sizeof(*v->keys));
			memcpy(v->keys, f->keys, f->n * sizeof(*v->keys));
		}
	}
	free(f->items);
	free(f->keys);
	f->items = NULL;
	f->keys = NULL;
}

/* Report libfyaml's collected diagnostics as our own error lines. */
static void report_diag(struct loader *L, struct fy_diag *diag, const char *file)
{
	struct fy_diag_error *de;
	void *it = NULL;
	char buf[1024];
	int found = 0;

	while ((de = fy_diag_errors_iterate(diag, &it)) != NULL) {
		if (de->type < FYET_ERROR)
			continue;
		/* Unlike struct fy_mark, collected errors are 1-based. */
		snprintf(buf, sizeof(buf), "%s:%d:%d: YAML syntax error: %s",
			 file, de->line, de->column, de->msg);
		err_line(&L->err, buf);
		found++;
	}
	if (!found) {
		snprintf(buf, sizeof(buf), "%s: YAML syntax error", file);
		err_line(&L->err, buf);
	}
}

/*
** Parse one YAML file into a value tree. Only the first document is used.
** Returns the root (NULL for an empty file) and sets *ok to false if
** anything was reported.
*/
static struct reg_value *parse_yaml(struct loader *L, const char *path,
				    const char *file, bool *ok)
{
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	struct fy_diag *diag;
	struct fy_parser *fyp;
	struct fy_event *fye;
	struct frame stack[FYPCF_GUARANTEED_MINIMUM_DEPTH_LIMIT + 1];
	struct reg_value *root = NULL, *v;
	int depth = 0, docs = 0, i;
	bool failed = false;
	const struct reg_value *found;
	const char *name;
	size_t k;

	*ok = true;
	L->nanchors = 0;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;		/* never print: errors are collected */
	dcfg.output_fn = NULL;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (diag == NULL)
		abort();	/* libfyaml allocation failure, like xmalloc */
	fy_diag_set_collect_errors(diag, true);
	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
	pcfg.diag = diag;
	fyp = fy_parser_create(&pcfg);
	if (fyp == NULL)
		abort();
	if (fy_parser_set_input_file(fyp, path) != 0) {
		errat(L, NULL, NULL, "%s: cannot read: %s", file, strerror(errno));
		failed = true;
		goto out;
	}
	while (!failed && (fye = fy_parser_parse(fyp)) != NULL) {
		const struct fy_mark *m = fy_event_start_mark(fye);

		switch (fye->type) {
		case FYET_DOCUMENT_START:
			docs++;
			break;
		case FYET_MAPPING_START:
		case FYET_SEQUENCE_START:
			if (docs > 1)
				break;
			if (depth >= (int)countof(stack)) {
				errat(L, NULL, NULL, "%s:%d:%d: nesting too deep",
				      file, m ? m->line + 1 : 0, m ? m->column + 1 : 0);
				failed = true;
				break;
			}
			memset(&stack[depth], 0, sizeof(stack[depth]));
			stack[depth].v = newval(L, fye->type == FYET_MAPPING_START
						? REG_MAP : REG_SEQ, file, m);
			stack[depth].anchor = token_text(L, fye->type == FYET_MAPPING_START
				? fye->mapping_start.anchor : fye->sequence_start.anchor);
			depth++;
			break;
		case FYET_MAPPING_END:
		case FYET_SEQUENCE_END:
			if (docs > 1)
				break;
			depth--;
			seal(L, &stack[depth]);
			if (stack[depth].anchor)
				add_anchor(L, stack[depth].anchor, stack[depth].v);
			if (attach(L, stack, depth, &root, stack[depth].v) < 0)
				failed = true;
			break;
		case FYET_SCALAR: {
			struct fy_token *tag = fye->scalar.tag;
			const char *suffix = tag ? fy_tag_token_suffix0(tag) : NULL;

			if (docs > 1)
				break;
			v = newval(L, REG_STR, file, m);
			v->str = token_text(L, fye->scalar.value);
			if (v->str == NULL)
				v->str = "";
			v->_plain = fy_token_scalar_style(fye->scalar.value) == FYSS_PLAIN &&
				    !(suffix && !strcmp(suffix, "str"));
			type_scalar(v);
			name = token_text(L, fye->scalar.anchor);
			if (name)
				add_anchor(L, name, v);
			if (attach(L, stack, depth, &root, v) < 0)
				failed = true;
			break;
		}
		case FYET_ALIAS:
			if (docs > 1)
				break;
			name = token_text(L, fye->alias.anchor);
			found = NULL;
			for (k = L->nanchors; k-- > 0;) {
				if (!strcmp(L->anchors[k].name, name)) {
					found = L->anchors[k].v;
					break;
				}
			}
			if (found == NULL) {
				errat(L, NULL, newval(L, REG_NULL, file, m),
				      "unknown alias \"*%s\"", name);
				failed = true;
				break;
			}
			v = copyval(L, found);
			v->file = file;
			v->line = m ? m->line + 1 : 1;
			v->col = m ? m->column + 1 : 1;
			if (attach(L, stack, depth, &root, v) < 0)
				failed = true;
			break;
		default:
			break;
		}
		fy_parser_event_free(fyp, fye);
	}
	if (!failed && fy_parser_get_stream_error(fyp)) {
		report_diag(L, diag, file);
		failed = true;
	}
out:
	for (i = 0; i < depth; i++) {	/* only on error: unwind frames */
		free(stack[i].items);
		free(stack[i].keys);
	}
	fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	if (failed) {
		*ok = false;
		return NULL;
	}
	return root;
}

/* }==================================================================== */

/* {====================================================================
** Pass 1: files -> raw entries
** ===================================================================== */

/* Entries are appended in load order; build_index() later compacts the
 * array when it drops duplicates, and renumbers _index to match. */
static void add_entry(struct loader *L, struct reg_entry *e)
{
	struct registry *reg = L->reg;

	if (reg->n == reg->cap) {
		reg->cap = reg->cap ? reg->cap * 2 : 64;
		reg->entries = xrealloc(reg->entries,
					reg->cap * sizeof(*reg->entries));
	}
	e->_index = reg->n;
	reg->entries[reg->n++] = e;
}

/* Namespaces are dot-separated words of [A-Za-z0-9_-]. */
static bool valid_ns(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '.')
		return false;
	for (p = s; *p; p++) {
		if (*p == '.' && (p[1] == '.' || p[1] == '\0'))
			return false;
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return false;
	}
	return true;
}

/* Names are anything printable without ':' or whitespace. */
static bool valid_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s == ':' || isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return false;
	return true;
}

/* Make one raw entry from mapping m in namespace ns. */
static void raw_entry(struct loader *L, struct reg_value *m, const char *ns,
		      const char *file, const char *dir)
{
	struct reg_entry *e;
	struct reg_value *name, *kind;
	char buf[160];

	if (m->type != REG_MAP) {
		errat(L, NULL, m, "an entry must be a mapping, got %s",
		      show(m, buf, sizeof(buf)));
		return;
	}
	name = reg_value_get(m, "name");
	kind = reg_value_get(m, "kind");
	if (name == NULL || name->type == REG_NULL) {
		errat(L, NULL, m, "entry in namespace %s: missing required field \"name\"", ns);
		return;
	}
	if (name->type != REG_STR && name->type != REG_INT) {
		errat(L, NULL, name, "entry name must be a string, got %s",
		      show(name, buf, sizeof(buf)));
		return;
	}
	if (!valid_name(name->str)) {
		errat(L, NULL, name, "invalid entry name %s: no ':' or spaces allowed",
		      show(name, buf, sizeof(buf)));
		return;
	}
	e = aalloc(&L->reg->arena, sizeof(*e));
	e->ns = ns;
	e->name = name->str;
	e->id = aprintf(&L->reg->arena, "%s:%s", ns, name->str);
	e->file = file;
	e->_dir = dir;
	e->line = m->line;
	e->col = m->col;
	e->data = m;
	e->meta = reg_value_get(m, "meta");
	if (kind == NULL || kind->type == REG_NULL) {
		errat(L, e, NULL, "missing required field \"kind\"");
		return;
	}
	if (kind->type != REG_STR) {
		errat(L, e, kind, "kind must be a string, got %s",
		      show(kind, buf, sizeof(buf)));
		return;
	}
	e->kind = kind->str;
	if (e->meta != NULL && e->meta->type != REG_MAP) {
		errat(L, e, e->meta, "meta must be a mapping, got %s",
		      show(e->meta, buf, sizeof(buf)));
		e->meta = NULL;
	}
	add_entry(L, e);
}

/* Parse one definition file (spec 1.1) and add its entries. */
static void load_file(struct loader *L, const char *path, const char *dir)
{
	struct arena *a = &L->reg->arena;
	const char *file = astrdup(a, path);
	struct reg_value *root, *ns, *entries;
	bool ok;
	size_t i;
	char buf[160];

	root = parse_yaml(L, path, file, &ok);
	if (!ok)
		return;
	if (root == NULL) {
		errat(L, NULL, NULL, "%s:1:1: empty definition file "
		      "(expected namespace and entries)", file);
		return;
	}
	if (root->type != REG_MAP) {
		errat(L, NULL, root, "a definition file must be a mapping "
		      "with namespace and entries, got %s", show(root, buf, sizeof(buf)));
		return;
	}
	ns = reg_value_get(root, "namespace");
	if (ns == NULL) {
		errat(L, NULL, root, "missing required field \"namespace\"");
		return;
	}
	if (ns->type != REG_STR || !valid_ns(ns->str)) {
		errat(L, NULL, ns, "invalid namespace %s: expected dot-separated "
		      "names like app.api", show(ns, buf, sizeof(buf)));
		return;
	}
	entries = reg_value_get(root, "entries");
	if (entries != NULL) {
		if (entries->type == REG_NULL)
			return;		/* "entries:" with nothing: no entries */
		if (entries->type != REG_SEQ) {
			errat(L, NULL, entries, "entries must be a sequence, got %s",
			      show(entries, buf, sizeof(buf)));
			return;
		}
		for (i = 0; i < entries->n; i++)
			raw_entry(L, entries->items[i], ns->str, file, dir);
	} else if (reg_value_get(root, "name") && reg_value_get(root, "kind")) {
		raw_entry(L, root, ns->str, file, dir);
	} else {
		errat(L, NULL, root, "missing required field \"entries\" "
		      "(or a top-level name and kind)");
	}
}

/* Byte order, not the locale's collation: load order (and so error order
 * and entry iteration order) must be the same on every machine. */
static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static bool is_def_file(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") ||
		       !strcmp(dot, ".json"));
}

/*
** Walk dir (path as shown to users) whose absolute form is adir, loading
** definition files in sorted order. Dot-names are skipped (.wippy module
** caches, editor files).
*/
static void walk(struct loader *L, const char *dir, const char *adir, int depth)
{
	struct dirent **list;
	struct stat st;
	int n, i;

	if (depth > MAX_DIR_DEPTH) {
		errat(L, NULL, NULL, "%s: directories nested deeper than %d "
		      "(symlink loop?)", dir, MAX_DIR_DEPTH);
		return;
	}
	n = scandir(dir, &list, NULL, name_cmp);
	if (n < 0) {
		errat(L, NULL, NULL, "%s: cannot read directory: %s", dir,
		      strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		const char *nm = list[i]->d_name;
		char *path, *apath;

		if (nm[0] == '.') {
			free(list[i]);
			continue;
		}
		path = aprintf(&L->reg->arena, "%s/%s", dir, nm);
		apath = aprintf(&L->reg->arena, "%s/%s", adir, nm);
		if (stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				walk(L, path, apath, depth + 1);
			else if (S_ISREG(st.st_mode) && is_def_file(nm))
				load_file(L, path, adir);
		}
		free(list[i]);
	}
	free(list);
}

/* }==================================================================== */

/* {====================================================================
** Pass 2: index and kinds
** ===================================================================== */

/* The id index: open addressing, at most half full, linear probing. It
 * is built once in pass 2 and only read afterwards. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Insert all entries; duplicate ids are errors naming both places. */
static void build_index(struct loader *L)
{
	struct registry *reg = L->reg;
	size_t i, j, w = 0;

	reg->hcap = 16;
	while (reg->hcap < reg->n * 2)
		reg->hcap *= 2;
	reg->hash = xcalloc(reg->hcap, sizeof(*reg->hash));
	for (i = 0; i < reg->n; i++) {
		struct reg_entry *e = reg->entries[i];
		bool dup = false;

		for (j = hash_str(e->id) & (reg->hcap - 1); reg->hash[j];
		     j = (j + 1) & (reg->hcap - 1)) {
			if (!strcmp(reg->hash[j]->id, e->id)) {
				errat(L, e, NULL, "duplicate entry id \"%s\" "
				      "(first defined at %s:%d:%d)", e->id,
				      reg->hash[j]->file, reg->hash[j]->line,
				      reg->hash[j]->col);
				dup = true;
				break;
			}
		}
		if (dup)
			continue;
		reg->hash[j] = e;
		e->_index = w;
		reg->entries[w++] = e;	/* the duplicate is dropped */
	}
	reg->n = w;
}

typedef void (*decode_fn)(struct loader *L, struct reg_entry *e);

static void dec_process_host(struct loader *L, struct reg_entry *e);
static void dec_lua(struct loader *L, struct reg_entry *e);
static void dec_service(struct loader *L, struct reg_entry *e);
static void dec_terminal(struct loader *L, struct reg_entry *e);
static void dec_storage(struct loader *L, struct reg_entry *e);
static void dec_variable(struct loader *L, struct reg_entry *e);
static void dec_http_service(struct loader *L, struct reg_entry *e);
static void dec_router(struct loader *L, struct reg_entry *e);
static void dec_endpoint(struct loader *L, struct reg_entry *e);

/* The kinds with typed fields; lifecycle marks service-like kinds. */
static const struct kind_desc {
	const char *name;
	enum reg_kind k;
	decode_fn decode;
	bool lifecycle;
} kinds[] = {
	{ "process.host",	REG_K_PROCESS_HOST,	dec_process_host, true },
	{ "process.lua",	REG_K_PROCESS_LUA,	dec_lua,	  false },
	{ "library.lua",	REG_K_LIBRARY_LUA,	dec_lua,	  false },
	{ "function.lua",	REG_K_FUNCTION_LUA,	dec_lua,	  false },
	{ "process.service",	REG_K_PROCESS_SERVICE,	dec_service,	  true },
	{ "terminal.host",	REG_K_TERMINAL_HOST,	dec_terminal,	  true },
	{ "env.storage.os",	REG_K_ENV_OS,		dec_storage,	  false },
	{ "env.storage.static",	REG_K_ENV_STATIC,	dec_storage,	  false },
	{ "env.storage.memory",	REG_K_ENV_MEMORY,	dec_storage,	  false },
	{ "env.storage.file",	REG_K_ENV_FILE,		dec_storage,	  false },
	{ "env.storage.router",	REG_K_ENV_ROUTER,	dec_storage,	  false },
	{ "env.variable",	REG_K_ENV_VARIABLE,	dec_variable,	  false },
	{ "http.service",	REG_K_HTTP_SERVICE,	dec_http_service, true },
	{ "http.router",	REG_K_HTTP_ROUTER,	dec_router,	  false },
	{ "http.endpoint",	REG_K_HTTP_ENDPOINT,	dec_endpoint,	  false },
	{ "registry.entry",	REG_K_REGISTRY_ENTRY,	NULL,		  false },
	{ "process.lua.bc",	REG_K_PROCESS_LUA_BC,	dec_lua,	  false },
};

/*
** Kinds the original documents (spec 1.4 "other kinds", and the entry-kind
** reference of its docs) that this runtime does not run: they load, are
** kept as generic data, and each such entry gets a warning naming it, so
** an app written for the original still boots and says what is inert. A
** trailing '.' or '*' in the table means "prefix". Any other kind is an
** error: a typo must not pass as an ignored entry.
*/
static const char *const other_kinds[] = {
	"http.static", "workflow.lua", "module.lua", "btea.app.lua", "pg.scope",
	"function.wasm", "function.wat", "process.wasm",
	"ns.definition", "ns.requirement", "ns.dependency",
	"db.sql.", "db.cdc.", "store.", "queue.", "temporal.", "fs.", "exec.",
	"security.policy*", "security.token_store", "contract.", "template.",
	"network", "network.", "cloudstorage.", "config.",
};

static bool is_other_kind(const char *kind)
{
	size_t i, len, klen = strlen(kind);

	if (klen > 7 && !strcmp(kind + klen - 7, ".lua.bc"))
		return true;	/* process.lua.bc, function.lua.bc, ... */
	for (i = 0; i < countof(other_kinds); i++) {
		const char *o = other_kinds[i];

		len = strlen(o);
		if (o[len - 1] == '.' && !strncmp(kind, o, len))
			return true;
		if (o[len - 1] == '*' && !strncmp(kind, o, len - 1))
			return true;
		if (!strcmp(kind, o))
			return true;
	}
	return false;
}

static const struct kind_desc *find_kind(enum reg_kind k)
{
	size_t i;

	for (i = 0; i < countof(kinds); i++)
		if (kinds[i].k == k)
			return &kinds[i];
	return NULL;
}

/* Classify every entry; returns false (error recorded) for unknown kinds. */
static bool classify(struct loader *L, struct reg_entry *e)
{
	size_t i;

	for (i = 0; i < countof(kinds); i++) {
		if (!strcmp(kinds[i].name, e->kind)) {
			e->k = kinds[i].k;
			e->has_lifecycle = kinds[i].lifecycle;
			return true;
		}
	}
	if (is_other_kind(e->kind)) {
		e->k = REG_K_OTHER;	/* warned about after decoding */
		return true;
	}
	errat(L, e, reg_value_get(e->data, "kind"), "unknown kind \"%s\"", e->kind);
	return false;
}

/* env.* kinds are decoded in pass 3, before everything else, and are
 * never interpolated: they are where interpolated values come from. */
static bool is_env_kind(enum reg_kind k)
{
	return k >= REG_K_ENV_OS && k <= REG_K_ENV_VARIABLE;
}

/* }==================================================================== */

/* {====================================================================
** Field access with type checks
** ===================================================================== */

#define KMASK(k) (1u << (k))
#define MASK_STORAGE (KMASK(REG_K_ENV_OS) | KMASK(REG_K_ENV_STATIC) | \
		      KMASK(REG_K_ENV_MEMORY) | KMASK(REG_K_ENV_FILE) | \
		      KMASK(REG_K_ENV_ROUTER))
#define MASK_SERVICE (KMASK(REG_K_PROCESS_HOST) | KMASK(REG_K_PROCESS_SERVICE) | \
		      KMASK(REG_K_TERMINAL_HOST) | KMASK(REG_K_HTTP_SERVICE))

/* The value at path, treating an explicit null like a missing field. */
/*
** The get_* helpers below share one contract: path is a dotted path into
** the entry's data; a missing (or explicit null) field yields the default,
** or an error naming the field when it is required; a present field of
** the wrong type records an error at the value's own file:line:col, with
** the offending value quoted, and yields the default so decoding goes on
** and later fields still get checked.
*/
static struct reg_value *field(const struct reg_entry *e, const char *path)
{
	struct reg_value *v = reg_value_get(e->data, path);

	return v && v->type != REG_NULL ? v : NULL;
}

static const char *get_str(struct loader *L, struct reg_entry *e,
			   const char *path, bool required)
{
	struct reg_value *v = field(e, path);
	char buf[160];

	if (v == NULL) {
		if (required)
			errat(L, e, NULL, "missing required field \"%s\"", path);
		return NULL;
	}
	if (v->type != REG_STR) {
		errat(L, e, v, "field \"%s\" must be a string, got %s %s", path,
		      reg_value_type_name(v->type), show(v, buf, sizeof(buf)));
		return NULL;
	}
	return v->str;
}

static bool get_bool(struct loader *L, struct reg_entry *e, const char *path,
		     bool def)
{
	struct reg_value *v = field(e, path);
	char buf[160];

	if (v == NULL)
		return def;
	if (v->type != REG_BOOL) {
		errat(L, e, v, "field \"%s\" must be true or false, got %s",
		      path, show(v, buf, sizeof(buf)));
		return def;
	}
	return v->b;
}

/* An integer in [min, INT_MAX]. */
static int get_int(struct loader *L, struct reg_entry *e, const char *path,
		   int def, int min)
{
	struct reg_value *v = field(e, path);
	char buf[160];

	if (v == NULL)
		return def;
	if (v->type != REG_INT || v->i < min || v->i > INT_MAX) {
		errat(L, e, v, "field \"%s\" must be an integer >= %d, got %s",
		      path, min, show(v, buf, sizeof(buf)));
		return def;
	}
	return (int)v->i;
}

static double get_num(struct loader *L, struct reg_entry *e, const char *path,
		      double def)
{
	struct reg_value *v = field(e, path);
	char buf[160];

	if (v == NULL)
		return def;
	if (v->type == REG_INT)
		return (double)v->i;
	if (v->type != REG_FLOAT || v->f < 0 || isnan(v->f)) {
		errat(L, e, v, "field \"%s\" must be a non-negative number, got %s",
		      path, show(v, buf, sizeof(buf)));
		return def;
	}
	return v->f;
}

/*
** Parse a Go duration ("1.5s", "2h15m", "300ms", "0") into nanoseconds.
** Returns -1 for malformed or negative input or overflow.
*/
static int64_t parse_duration(const char *s)
{
	static const struct { const char *u; double ns; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 },
		{ "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	double total = 0;
	size_t i;

	if (*s == '+')
		s++;
	if (!strcmp(s, "0"))
		return 0;
	if (*s == '\0')
		return -1;
	while (*s) {
		char *end;
		double x;
		size_t best = countof(units), blen = 0;

		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		x = strtod(s, &end);
		if (end == s)
			return -1;
		s = end;
		/* Longest unit match, so "ms" is not read as "m" + "s". */
		for (i = 0; i < countof(units); i++) {
			size_t ul = strlen(units[i].u);
			if (ul > blen && !strncmp(s, units[i].u, ul)) {
				best = i;
				blen = ul;
			}
		}
		if (best == countof(units))
			return -1;
		total += x * units[best].ns;
		s += blen;
	}
	if (total >= 9.2e18)
		return -1;
	return (int64_t)total;
}

static int64_t get_dur(struct loader *L, struct reg_entry *e, const char *path,
		       int64_t def)
{
	struct reg_value *v = field(e, path);
	int64_t d;
	char buf[160];

	if (v == NULL)
		return def;
	if (v->type == REG_INT && v->i == 0)
		return 0;
	d = v->type == REG_STR ? parse_duration(v->str) : -1;
	if (d < 0) {
		errat(L, e, v, "field \"%s\" must be a duration like \"5s\", "
		      "\"300ms\" or \"2h15m\", got %s", path, show(v, buf, sizeof(buf)));
		return def;
	}
	return d;
}

/* The mapping at path, or NULL; anything else there is an error. */
static struct reg_value *get_map(struct loader *L, struct reg_entry *e,
				 const char *path)
{
	struct reg_value *v = field(e, path);
	char buf[160];

	if (v != NULL && v->type != REG_MAP) {
		errat(L, e, v, "field \"%s\" must be a mapping, got %s", path,
		      show(v, buf, sizeof(buf)));
		return NULL;
	}
	return v;
}

static struct reg_value *get_seq(struct loader *L, struct reg_entry *e,
				 const char *path)
{
	struct reg_value *v = field(e, path);
	char buf[160];

	if (v != NULL && v->type != REG_SEQ) {
		errat(L, e, v, "field \"%s\" must be a sequence, got %s", path,
		      show(v, buf, sizeof(buf)));
		return NULL;
	}
	return v;
}

static const char *kind_list(unsigned mask, char *buf, size_t size)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < countof(kinds) && n < size; i++)
		if (mask & KMASK(kinds[i].k))
			n += (size_t)snprintf(buf + n, size - n, "%s%s",
					      n ? " or " : "", kinds[i].name);
	return buf;
}

/*
** Resolve the reference in node v (field named what) to an entry whose
** kind is in mask. A bare name resolves in e's namespace (spec 1.2).
** Returns NULL (error recorded) when v is not a string, names a missing
** entry, or an entry of the wrong kind.
*/
static struct reg_entry *ref_at(struct loader *L, struct reg_entry *e,
				const struct reg_value *v, const char *what,
				unsigned mask)
{
	struct reg_entry *t;
	const char *id;
	char buf[160], kl[256];

	if (v == NULL)
		return NULL;
	if (v->type != REG_STR || v->str[0] == '\0') {
		errat(L, e, v, "%s: a reference must be an entry id string, got %s",
		      what, show(v, buf, sizeof(buf)));
		return NULL;
	}
	id = strchr(v->str, ':') ? v->str
		: aprintf(&L->reg->arena, "%s:%s", e->ns, v->str);
	t = reg_find(L->reg, id);
	if (t == NULL) {
		errat(L, e, v, "%s: reference to missing entry \"%s\"", what, id);
		return NULL;
	}
	if (!(mask & KMASK(t->k)) || t->kind == NULL) {
		errat(L, e, v, "%s: \"%s\" is a %s, expected %s", what, id,
		      t->kind ? t->kind : "?", kind_list(mask, kl, sizeof(kl)));
		return NULL;
	}
	return t;
}

static struct reg_entry *get_ref(struct loader *L, struct reg_entry *e,
				 const char *path, bool required, unsigned mask)
{
	struct reg_value *v = field(e, path);

	if (v == NULL) {
		if (required)
			errat(L, e, NULL, "missing required field \"%s\"", path);
		return NULL;
	}
	return ref_at(L, e, v, path, mask);
}

/* }==================================================================== */

/* {====================================================================
** Pass 4a: ${env:...} interpolation
** ===================================================================== */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static bool is_upper_snake(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    s[i] != '_')
			return false;
	return true;
}

/*
** Expand one string (spec 1.4): "$${" -> "${"; "${env:NAME}" and
** "${env:NAME|def}" -> the env value of NAME (a variable name or entry
** id); "${NAME|def}" likewise for UPPER_SNAKE names. Any other "${...}"
** is left as written. Returns a new arena string, or NULL if nothing
** changed; an unset variable without default is an error.
*/
static const char *expand(struct loader *L, struct reg_entry *e,
			  const struct reg_value *v)
{
	const char *s = v->str, *p = s;
	struct sbuf b = { 0 };
	const char *out;
	bool changed = false, failed = false;

	if (strchr(s, '$') == NULL)
		return NULL;
	while (*p) {
		const char *close, *name, *bar, *def = NULL;
		size_t nlen;
		char *val = NULL, *key;
		int rc;

		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			sb_add(&b, "${", 2);
			p += 3;
			changed = true;
			continue;
		}
		if (p[0] != '$' || p[1] != '{' || (close = strchr(p + 2, '}')) == NULL) {
			sb_add(&b, p, 1);
			p++;
			continue;
		}
		name = p + 2;
		bar = memchr(name, '|', (size_t)(close - name));
		nlen = (size_t)((bar ? bar : close) - name);
		if (nlen > 4 && !strncmp(name, "env:", 4)) {
			name += 4;
			nlen -= 4;
		} else if (!bar || !is_upper_snake(name, nlen)) {
			sb_add(&b, p, (size_t)(close + 1 - p));	/* not ours */
			p = close + 1;
			continue;
		}
		key = astrndup(&L->reg->arena, name, nlen);
		if (bar)
			def = astrndup(&L->reg->arena, bar + 1,
				       (size_t)(close - bar - 1));
		rc = L->env ? env_get(L->env, key, &val) : ENV_NOT_FOUND;
		if (rc == 0) {
			sb_add(&b, val, strlen(val));
			free(val);
		} else if (def != NULL) {
			sb_add(&b, def, strlen(def));
		} else if (L->env != NULL) {
			errat(L, e, v, "%.*s: env variable \"%s\" is not set and "
			      "has no default (%s)", (int)(close + 1 - p), p,
			      key, env_strerror(rc));
			failed = true;
		}
		changed = true;
		p = close + 1;
	}
	/* On error keep the text as written: decoding it further would only
	 * add follow-up errors about an empty value. */
	out = changed && !failed ? astrdup(&L->reg->arena, b.p ? b.p : "") : NULL;
	free(b.p);
	return out;
}

/* Interpolate every string in the tree, and retype changed plain scalars
 * (a plain "${env:PORT|8080}" becomes the integer 8080). Keys are left. */
static void interpolate(struct loader *L, struct reg_entry *e,
			struct reg_value *v)
{
	size_t i;
	const char *s;

	if (v->type == REG_SEQ || v->type == REG_MAP) {
		for (i = 0; i < v->n; i++)
			interpolate(L, e, v->items[i]);
		return;
	}
	if (v->type != REG_STR || (s = expand(L, e, v)) == NULL)
		return;
	v->str = s;
	type_scalar(v);
}

/* }==================================================================== */

/* {====================================================================
** Pass 3/4b: kind decoders
** ===================================================================== */

/*
** lifecycle (spec 1.3): fill the spec defaults first, so an entry without
** the block, or with a bad field, still has a usable lifecycle. requires
** may name any service-like entry (a service can wait for an http.service
** or a host as well as for another process.service).
*/
static void dec_lifecycle(struct loader *L, struct reg_entry *e)
{
	struct reg_lifecycle *lc = &e->lifecycle;
	static const char *const lists[] = { "lifecycle.requires",
					     "lifecycle.depends_on" };
	const char *startup;
	struct reg_value *seq;
	size_t i, j, k, total = 0;

	lc->start_timeout = 10000000000ll;
	lc->stop_timeout = 10000000000ll;
	lc->stable_threshold = 5000000000ll;
	lc->restart.initial_delay = 1000000000ll;
	lc->restart.max_delay = 90000000000ll;
	lc->restart.backoff_factor = 2.0;
	lc->restart.jitter = 0.1;
	if (get_map(L, e, "lifecycle") == NULL)
		return;
	lc->auto_start = get_bool(L, e, "lifecycle.auto_start", false);
	lc->start_timeout = get_dur(L, e, "lifecycle.start_timeout", lc->start_timeout);
	lc->stop_timeout = get_dur(L, e, "lifecycle.stop_timeout", lc->stop_timeout);
	lc->stable_threshold = get_dur(L, e, "lifecycle.stable_threshold",
				       lc->stable_threshold);
	startup = get_str(L, e, "lifecycle.startup", false);
	if (startup && strcmp(startup, "required") && strcmp(startup, "optional"))
		errat(L, e, field(e, "lifecycle.startup"), "field \"lifecycle.startup\" "
		      "must be \"required\" or \"optional\", got \"%s\"", startup);
	lc->startup_optional = startup && !strcmp(startup, "optional");
	lc->security = get_map(L, e, "lifecycle.security");
	if (get_map(L, e, "lifecycle.restart")) {
		lc->restart.initial_delay = get_dur(L, e, "lifecycle.restart.initial_delay",
						    lc->restart.initial_delay);
		lc->restart.max_delay = get_dur(L, e, "lifecycle.restart.max_delay",
						lc->restart.max_delay);
		lc->restart.backoff_factor = get_num(L, e, "lifecycle.restart.backoff_factor",
						     lc->restart.backoff_factor);
		lc->restart.jitter = get_num(L, e, "lifecycle.restart.jitter",
					     lc->restart.jitter);
		lc->restart.max_attempts = get_int(L, e, "lifecycle.restart.max_attempts",
						   0, 0);
	}
	for (i = 0; i < countof(lists); i++)
		if ((seq = get_seq(L, e, lists[i])) != NULL)
			total += seq->n;
	if (total == 0)
		return;
	lc->requires = aalloc(&L->reg->arena, total * sizeof(*lc->requires));
	for (i = 0; i < countof(lists); i++) {
		if ((seq = field(e, lists[i])) == NULL || seq->type != REG_SEQ)
			continue;
		for (j = 0; j < seq->n; j++) {
			struct reg_entry *t = ref_at(L, e, seq->items[j], lists[i],
						     MASK_SERVICE);
			if (t == NULL)
				continue;
			for (k = 0; k < lc->nrequires && lc->requires[k] != t; k++)
				;
			if (k == lc->nrequires)		/* merge: no duplicates */
				lc->requires[lc->nrequires++] = t;
		}
	}
}

/*
** process.host: workers 0 means "not given" and is left for the scheduler
** to turn into the CPU count; an explicit 0 or negative is an error, as in
** the Go config's Validate. The upper bound only catches typos.
*/
static void dec_process_host(struct loader *L, struct reg_entry *e)
{
	struct reg_value *w;
	char buf[160];

	e->u.host.queue_size = 1024;
	e->u.host.local_queue_size = 256;
	if (get_map(L, e, "host") == NULL)
		return;
	w = field(e, "host.workers");
	if (w != NULL && (w->type != REG_INT || w->i <= 0 || w->i > 65536))
		errat(L, e, w, "field \"host.workers\" must be an integer > 0, got %s",
		      show(w, buf, sizeof(buf)));
	else if (w != NULL)
		e->u.host.workers = (int)w->i;
	e->u.host.queue_size = get_int(L, e, "host.queue_size", 1024, 1);
	e->u.host.local_queue_size = get_int(L, e, "host.local_queue_size", 256, 1);
}

/* Lexically normalise an absolute path: drop ".", "//", resolve "..". */
static void normalize(char *path)
{
	char *out = path, *p = path;

	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		if (p[0] == '.' && (p[1] == '/' || p[1] == '\0')) {
			p += 1;
		} else if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')) {
			p += 2;
			while (out > path && *--out != '/')
				;
		} else {
			*out++ = '/';
			while (*p && *p != '/')
				*out++ = *p++;
		}
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

/*
** Resolve source: file://rel (relative to the YAML file's directory, and
** not allowed to leave the source root) or file:///abs. The file must
** exist. Returns the absolute path or NULL (error recorded).
*/
static const char *resolve_source(struct loader *L, struct reg_entry *e)
{
	struct reg_value *v = field(e, "source");
	const char *s = get_str(L, e, "source", true);
	char *path;
	size_t rl = strlen(L->root);
	struct stat st;

	if (s == NULL)
		return NULL;
	if (strncmp(s, "file://", 7) != 0 || s[7] == '\0') {
		errat(L, e, v, "source must be a file:// URL like "
		      "\"file://main.lua\", got \"%s\"", s);
		return NULL;
	}
	s += 7;
	if (s[0] == '/') {
		path = astrdup(&L->reg->arena, s);
		normalize(path);
	} else {
		path = aprintf(&L->reg->arena, "%s/%s", e->_dir, s);
		normalize(path);
		if (strncmp(path, L->root, rl) != 0 ||
		    (path[rl] != '/' && strcmp(L->root, "/") != 0)) {
			errat(L, e, v, "source \"file://%s\" escapes the source "
			      "directory %s", s, L->root);
			return NULL;
		}
	}
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		errat(L, e, v, "missing source file \"file://%s\" (%s: %s)", s, path,
		      stat(path, &st) != 0 ? strerror(errno) : "not a regular file");
		return NULL;
	}
	return path;
}

/* The whole of file path in a malloc'd buffer (*len bytes), or NULL with
** errno set; files past MAX_BYTECODE fail with EFBIG. */
static unsigned char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	unsigned char *buf;
	size_t got = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || (st.st_size > MAX_BYTECODE && (errno = EFBIG))) {
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0) {
			if (r == 0)
				break;	/* shrank under us: hash what is there */
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return buf;
}

/*
** process.lua.bc (the original's precompiled process): fs names an
** fs.directory entry, path a file under its directory, hash that file's
** "sha256:<hex>". The file is read here, its hash checked and its header
** too: only Lua 5.4 bytecode (luac5.4 output) can run on this runtime.
** The original's own `wippy pack --bytecode` writes go-lua bytecode (magic
** "CAUL", a different instruction set), which stock Lua cannot load; such
** a file is an error that says so, at load, not a crash at spawn. Returns
** the absolute path of the file or NULL (error recorded).
*/
static const char *bc_source(struct loader *L, struct reg_entry *e)
{
	struct reg_value *fv = field(e, "fs"), *hv = field(e, "hash");
	const char *fsid = get_str(L, e, "fs", true);
	const char *rel = get_str(L, e, "path", true);
	const char *hash = get_str(L, e, "hash", true);
	const char *dir;
	struct reg_entry *fs;
	unsigned char *data;
	char hex[65], *path;
	size_t len;

	if (fsid == NULL || rel == NULL || hash == NULL)
		return NULL;
	fs = reg_find(L->reg, strchr(fsid, ':') ? fsid :
		      aprintf(&L->reg->arena, "%s:%s", e->ns, fsid));
	if (fs == NULL || fs->kind == NULL || strcmp(fs->kind, "fs.directory") != 0) {
		errat(L, e, fv, "fs \"%s\" must name an fs.directory entry (%s)",
		      fsid, fs ? fs->kind : "no such entry");
		return NULL;
	}
	fs->_used = true;	/* it serves this entry: not "ignored" */
	dir = reg_value_str(fs->data, "directory");
	if (dir == NULL || dir[0] == '\0') {
		errat(L, fs, field(fs, "directory"), "fs.directory needs a "
		      "\"directory\" string (used by %s)", e->id);
		return NULL;
	}
	if (rel[0] == '/' || !strcmp(rel, "..") || !strncmp(rel, "../", 3) ||
	    strstr(rel, "/../") || (strlen(rel) >= 3 && !strcmp(rel + strlen(rel) - 3, "/.."))) {
		errat(L, e, field(e, "path"), "path \"%s\" must stay inside the "
		      "directory of %s", rel, fs->id);
		return NULL;
	}
	if (dir[0] == '/') {
		path = aprintf(&L->reg->arena, "%s/%s", dir, rel);
	} else {
		char *cwd = getcwd(NULL, 0);
		path = aprintf(&L->reg->arena, "%s/%s/%s", cwd ? cwd : ".", dir, rel);
		free(cwd);
	}
	normalize(path);
	if ((data = read_all(path, &len)) == NULL) {
		errat(L, e, field(e, "path"), "cannot read bytecode \"%s\" (%s: %s)",
		      rel, path, strerror(errno));
		return NULL;
	}
	sha256_hex(data, len, hex);
	if (strncmp(hash, "sha256:", 7) != 0) {
		errat(L, e, hv, "hash must be \"sha256:<64 hex digits>\", got \"%s\"", hash);
		path = NULL;
	} else if (strcasecmp(hash + 7, hex) != 0) {
		errat(L, e, hv, "hash mismatch for %s: the file is sha256:%s", rel, hex);
		path = NULL;
	} else if (len >= 4 && !memcmp(data, "CAUL", 4)) {
		errat(L, e, field(e, "path"), "%s is go-lua bytecode (the original "
		      "runtime's `wippy pack --bytecode`), which Lua 5.4 cannot load; "
		      "use the process.lua entry with its source, or luac5.4 output", rel);
		path = NULL;
	} else if (len < 5 || memcmp(data, "\x1bLua", 4) != 0) {
		errat(L, e, field(e, "path"), "%s is not Lua bytecode", rel);
		path = NULL;
	} else if (data[4] != 0x54) {
		errat(L, e, field(e, "path"), "%s is bytecode of Lua %d.%d; this "
		      "runtime runs Lua 5.4", rel, data[4] >> 4, data[4] & 15);
		path = NULL;
	}
	free(data);
	return path;
}

/*
** process.lua / library.lua / function.lua: source must exist (it is
** compiled later, by the process code, not here); method is required
** except for libraries; modules are bare names (the allow-list for
** require), imports map a require() name to a library.lua entry.
*/
static void dec_lua(struct loader *L, struct reg_entry *e)
{
	struct reg_lua *lua = &e->u.lua;
	struct reg_value *mods, *imps;
	char buf[160];
	size_t i;

	lua->source = e->k == REG_K_PROCESS_LUA_BC ? bc_source(L, e)
						     : resolve_source(L, e);
	if (e->k != REG_K_LIBRARY_LUA) {
		lua->method = get_str(L, e, "method", true);
		if (lua->method && lua->method[0] == '\0')
			errat(L, e, field(e, "method"), "field \"method\" must not be empty");
	}
	if (e->k == REG_K_FUNCTION_LUA)
		get_map(L, e, "pool");		/* accepted; pools are ours to size */
	if ((mods = get_seq(L, e, "modules")) != NULL && mods->n > 0) {
		lua->modules = aalloc(&L->reg->arena, mods->n * sizeof(char *));
		for (i = 0; i < mods->n; i++) {
			struct reg_value *m = mods->items[i];

			if (m->type != REG_STR || m->str[0] == '\0')
				errat(L, e, m, "modules: a module name must be a "
				      "string, got %s", show(m, buf, sizeof(buf)));
			else if (strchr(m->str, ':'))
				errat(L, e, m, "modules: module name \"%s\" must not "
				      "contain a namespace", m->str);
			else
				lua->modules[lua->nmodules++] = m->str;
		}
	}
	if ((imps = get_map(L, e, "imports")) != NULL && imps->n > 0) {
		lua->imports = aalloc(&L->reg->arena, imps->n * sizeof(*lua->imports));
		for (i = 0; i < imps->n; i++) {
			struct reg_entry *t = ref_at(L, e, imps->items[i], "imports",
						     KMASK(REG_K_LIBRARY_LUA));
			if (t == NULL)
				continue;
			lua->imports[lua->nimports].name = imps->keys[i];
			lua->imports[lua->nimports++].entry = t;
		}
	}
}

/* process.service: both refs are required; input stays a raw sequence
 * since its items are passed to Lua as they are. */
static void dec_service(struct loader *L, struct reg_entry *e)
{
	struct reg_value *h = field(e, "host");

	e->u.service.process = get_ref(L, e, "process", true, KMASK(REG_K_PROCESS_LUA) | KMASK(REG_K_PROCESS_LUA_BC));
	if (h && h->type == REG_STR && !strcmp(h->str, "node:control"))
		errat(L, e, h, "host \"node:control\" cannot run services");
	else
		e->u.service.host = get_ref(L, e, "host", true,
					    KMASK(REG_K_PROCESS_HOST));
	e->u.service.input = get_seq(L, e, "input");
}

static void dec_terminal(struct loader *L, struct reg_entry *e)
{
	e->u.terminal.hide_logs = get_bool(L, e, "hide_logs", false);
}

/* file_mode: 0644 in YAML 1.2 is decimal 644, so re-read the text as octal. */
static int get_mode(struct loader *L, struct reg_entry *e, const char *path, int def)
{
	struct reg_value *v = field(e, path);
	const char *s;
	char *end, buf[160];
	long m;

	if (v == NULL)
		return def;
	s = v->str ? v->str : "";
	if (!strncmp(s, "0o", 2))
		s += 2;
	m = strtol(s, &end, 8);
	if (v->type != REG_INT || *end != '\0' || m < 0 || m > 07777) {
		errat(L, e, v, "field \"%s\" must be an octal mode like 0644, got %s",
		      path, show(v, buf, sizeof(buf)));
		return def;
	}
	return (int)m;
}

/*
** env.storage.*: only static, file and router have fields. A router may
** list other routers (env.c bounds the depth) but not itself.
*/
static void dec_storage(struct loader *L, struct reg_entry *e)
{
	struct reg_env_storage *st = &e->u.storage;
	struct reg_value *vals, *list;
	char buf[160];
	size_t i;

	switch (e->k) {
	case REG_K_ENV_STATIC:
		if ((vals = get_map(L, e, "values")) == NULL)
			break;
		for (i = 0; i < vals->n; i++)
			if (vals->items[i]->type == REG_SEQ || vals->items[i]->type == REG_MAP)
				errat(L, e, vals->items[i], "values.%s must be a scalar, "
				      "got %s", vals->keys[i],
				      show(vals->items[i], buf, sizeof(buf)));
		st->values = vals;
		break;
	case REG_K_ENV_FILE:
		st->file_path = get_str(L, e, "file_path", true);
		st->auto_create = get_bool(L, e, "auto_create", false);
		st->file_mode = get_mode(L, e, "file_mode", 0644);
		st->dir_mode = get_mode(L, e, "dir_mode", 0755);
		break;
	case REG_K_ENV_ROUTER:
		list = get_seq(L, e, "storages");
		if (list == NULL) {
			if (!field(e, "storages"))
				errat(L, e, NULL, "missing required field \"storages\"");
			break;
		}
		st->storages = aalloc(&L->reg->arena, (list->n + 1) * sizeof(*st->storages));
		for (i = 0; i < list->n; i++) {
			struct reg_entry *t = ref_at(L, e, list->items[i], "storages",
						     MASK_STORAGE);
			if (t == e)
				errat(L, e, list->items[i], "storages: a router "
				      "cannot contain itself");
			else if (t)
				st->storages[st->nstorages++] = t;
		}
		break;
	default:
		break;
	}
}

/*
** env.variable: the public name is optional; its uniqueness across all
** variables is checked once every variable is decoded (check_variables).
** A default may be any scalar and is kept as its text.
*/
static void dec_variable(struct loader *L, struct reg_entry *e)
{
	struct reg_env_variable *var = &e->u.var;
	struct reg_value *d = field(e, "default");
	const char *p;
	char buf[160];

	var->variable = get_str(L, e, "variable", false);
	if (var->variable) {
		for (p = var->variable; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '_')
				break;
		if (*p || p == var->variable) {
			errat(L, e, field(e, "variable"), "variable name \"%s\" may "
			      "only contain A-Z, a-z, 0-9 and _", var->variable);
			var->variable = NULL;
		}
	}
	var->storage = get_ref(L, e, "storage", true, MASK_STORAGE);
	if (d && (d->type == REG_SEQ || d->type == REG_MAP))
		errat(L, e, d, "field \"default\" must be a scalar, got %s",
		      show(d, buf, sizeof(buf)));
	else if (d)
		var->def = d->str;
	var->readonly = get_bool(L, e, "readonly", false);
}

/* http.service: addr is kept as written (":8080", "127.0.0.1:0"); the
 * listener parses it. Absent timeouts are 0, which disables them. */
static void dec_http_service(struct loader *L, struct reg_entry *e)
{
	struct reg_http_service *h = &e->u.http;

	h->addr = get_str(L, e, "addr", true);
	if (h->addr && h->addr[0] == '\0')
		errat(L, e, field(e, "addr"), "field \"addr\" must not be empty");
	if (get_map(L, e, "timeouts")) {
		h->read_timeout = get_dur(L, e, "timeouts.read", 0);
		h->write_timeout = get_dur(L, e, "timeouts.write", 0);
		h->idle_timeout = get_dur(L, e, "timeouts.idle", 0);
	}
}

/* http.router: parents are named in meta (spec 1.4), and the Go
 * validator's own wording "missing metadata: server" is kept. */
static void dec_router(struct loader *L, struct reg_entry *e)
{
	struct reg_http_router *r = &e->u.router;

	if (field(e, "meta.server") == NULL)
		errat(L, e, NULL, "missing metadata: server (meta.server must "
		      "name an http.service)");
	else
		r->server = get_ref(L, e, "meta.server", true,
				    KMASK(REG_K_HTTP_SERVICE));
	r->prefix = get_str(L, e, "prefix", false);
	if (r->prefix && r->prefix[0] != '/' && r->prefix[0] != '\0')
		errat(L, e, field(e, "prefix"), "field \"prefix\" must start "
		      "with '/', got \"%s\"", r->prefix);
	if (r->prefix == NULL)
		r->prefix = "";
}

/* Path: "/" then segments; "{name}" is a whole segment, "{name...}" only
 * as the last one. Returns NULL or what is wrong. */
static const char *check_path(const char *path)
{
	const char *p = path, *seg, *end;

	if (path[0] != '/')
		return "must start with '/'";
	while (*p) {
		seg = ++p;
		end = strchr(seg, '/');
		if (end == NULL)
			end = seg + strlen(seg);
		if (memchr(seg, '{', (size_t)(end - seg)) ||
		    memchr(seg, '}', (size_t)(end - seg))) {
			const char *q;
			bool wild;

			if (seg[0] != '{' || end[-1] != '}' || end - seg < 3)
				return "a {param} must be a whole path segment";
			wild = end - seg > 5 && !strncmp(end - 4, "...}", 4);
			for (q = seg + 1; q < end - (wild ? 4 : 1); q++)
				if (!isalnum((unsigned char)*q) && *q != '_')
					return "a {param} name may only contain "
					       "A-Z, a-z, 0-9 and _";
			if (wild && *end != '\0')
				return "a {name...} wildcard must be the last segment";
		}
		p = end;
	}
	return NULL;
}

/* http.endpoint: method must be upper case as in the Go validator; the
 * path syntax is checked here so the route table never sees a bad one. */
static void dec_endpoint(struct loader *L, struct reg_entry *e)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE",
		"PATCH", "HEAD", "OPTIONS", "TRACE" };
	struct reg_http_endpoint *ep = &e->u.endpoint;
	const char *why;
	size_t i;

	if (field(e, "meta.router") == NULL)
		errat(L, e, NULL, "missing metadata: router (meta.router must "
		      "name an http.router)");
	else
		ep->router = get_ref(L, e, "meta.router", true,
				     KMASK(REG_K_HTTP_ROUTER));
	ep->method = get_str(L, e, "method", true);
	for (i = 0; ep->method && i < countof(methods); i++)
		if (!strcmp(ep->method, methods[i]))
			break;
	if (ep->method && i == countof(methods)) {
		errat(L, e, field(e, "method"), "field \"method\" must be one of "
		      "GET POST PUT DELETE PATCH HEAD OPTIONS TRACE, got \"%s\"",
		      ep->method);
		ep->method = NULL;
	}
	ep->path = get_str(L, e, "path", true);
	if (ep->path && (why = check_path(ep->path)) != NULL) {
		errat(L, e, field(e, "path"), "path \"%s\": %s", ep->path, why);
		ep->path = NULL;
	}
	ep->func = get_ref(L, e, "func", true, KMASK(REG_K_FUNCTION_LUA));
}

/* Run e's decoder and, for service-like kinds, the lifecycle block. */
static void decode(struct loader *L, struct reg_entry *e)
{
	const struct kind_desc *kd = find_kind(e->k);

	if (kd && kd->decode)
		kd->decode(L, e);
	if (e->has_lifecycle)
		dec_lifecycle(L, e);
}

/* Variable names are public keys: no two variables may share one. */
static void check_variables(struct loader *L)
{
	struct registry *reg = L->reg;
	size_t i, j;

	for (i = 0; i < reg->n; i++) {
		struct reg_entry *a = reg->entries[i];

		if (a->k != REG_K_ENV_VARIABLE || a->u.var.variable == NULL)
			continue;
		for (j = 0; j < i; j++) {
			struct reg_entry *b = reg->entries[j];

			if (b->k == REG_K_ENV_VARIABLE && b->u.var.variable &&
			    !strcmp(a->u.var.variable, b->u.var.variable)) {
				errat(L, a, field(a, "variable"), "variable name "
				      "\"%s\" is already used by %s (%s:%d:%d)",
				      a->u.var.variable, b->id, b->file, b->line,
				      b->col);
				break;
			}
		}
	}
}

/* }==================================================================== */

/* {====================================================================
** Public API
** ===================================================================== */

struct registry *reg_load(const char *src_dir, struct reg_error *err)
{
	struct loader L;
	struct registry *reg = xcalloc(1, sizeof(*reg));
	char *root = realpath(src_dir, NULL);
	struct reg_entry **order;
	size_t i, n;
	int env_errors;

	memset(&L, 0, sizeof(L));
	L.reg = reg;
	if (root == NULL) {
		errat(&L, NULL, NULL, "%s: cannot open source directory: %s",
		      src_dir, strerror(errno));
		goto fail;
	}
	L.root = astrdup(&reg->arena, root);
	free(root);

	/* Each pass runs over every entry even after errors, so one run
	 * reports as much as possible; only interpolation is skipped when
	 * the env entries themselves are broken. */
	walk(&L, src_dir, L.root, 0);			/* pass 1 */
	build_index(&L);				/* pass 2 */
	for (i = 0; i < reg->n; i++)
		classify(&L, reg->entries[i]);
	env_errors = L.err.count;
	for (i = 0; i < reg->n; i++)			/* pass 3 */
		if (is_env_kind(reg->entries[i]->k))
			decode(&L, reg->entries[i]);
	check_variables(&L);
	/* With broken env entries, interpolation would only add noise. */
	if (L.err.count == env_errors)
		L.env = env_create(reg);
	for (i = 0; i < reg->n; i++) {			/* pass 4 */
		struct reg_entry *e = reg->entries[i];

		if (is_env_kind(e->k) || e->kind == NULL)
			continue;
		interpolate(&L, e, e->data);
		decode(&L, e);
	}
	env_destroy(L.env);
	L.env = NULL;
	if (reg_service_order(reg, &order, &n, &L.err) == 0)	/* pass 5 */
		free(order);
	for (i = 0; i < reg->n; i++) {
		struct reg_entry *e = reg->entries[i];

		if (e->kind != NULL && e->k == REG_K_OTHER && !e->_used)
			warnat(&L.warn, e, reg_value_get(e->data, "kind"),
			       "kind \"%s\" is not supported by this runtime; "
			       "entry ignored", e->kind);
	}
	if (L.err.count > 0)
		goto fail;
	free(L.anchors);
	err_finish(&L.warn);
	reg->warn = L.warn;
	if (err)
		memset(err, 0, sizeof(*err));
	return reg;
fail:
	err_finish(&L.err);
	reg_error_free(&L.warn);
	free(L.anchors);
	reg_free(reg);
	if (err)
		*err = L.err;
	else
		reg_error_free(&L.err);
	return NULL;
}

void reg_free(struct registry *reg)
{
	if (reg == NULL)
		return;
	arena_free(&reg->arena);
	free(reg->entries);
	free(reg->hash);
	reg_error_free(&reg->warn);
	free(reg);
}

const struct reg_error *reg_warnings(const struct registry *reg)
{
	return &reg->warn;
}

/* The node of e's modules: list that holds name (for its position). */
static const struct reg_value *module_node(const struct reg_entry *e,
					   const char *name)
{
	const struct reg_value *mods = reg_value_get(e->data, "modules");

	for (size_t i = 0; mods && mods->type == REG_SEQ && i < mods->n; i++)
		if (mods->items[i]->str && !strcmp(mods->items[i]->str, name))
			return mods->items[i];
	return NULL;
}

int reg_check_modules(const struct registry *reg,
		      int (*provides)(const char *name), struct reg_error *out)
{
	int n = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < reg->n; i++) {
		const struct reg_entry *e = reg->entries[i];

		if (!reg_kind_is_lua(e->k))
			continue;
		for (size_t j = 0; j < e->u.lua.nmodules; j++) {
			const char *m = e->u.lua.modules[j];
			bool imported = false;

			for (size_t k = 0; k < e->u.lua.nimports; k++)
				imported |= !strcmp(e->u.lua.imports[k].name, m);
			if (imported || provides(m))
				continue;
			warnat(out, e, module_node(e, m), "module \"%s\" is not "
			       "provided by this runtime; require(\"%s\") will fail",
			       m, m);
			n++;
		}
	}
	err_finish(out);
	return n;
}

struct reg_entry *reg_find(const struct registry *reg, const char *id)
{
	size_t j;

	if (reg->hash == NULL || id == NULL)
		return NULL;
	for (j = hash_str(id) & (reg->hcap - 1); reg->hash[j];
	     j = (j + 1) & (reg->hcap - 1))
		if (!strcmp(reg->hash[j]->id, id))
			return reg->hash[j];
	return NULL;
}

size_t reg_count(const struct registry *reg)
{
	return reg->n;
}

struct reg_entry *reg_next(const struct registry *reg,
			   const struct reg_entry *prev)
{
	size_t i = prev ? prev->_index + 1 : 0;

	return i < reg->n ? reg->entries[i] : NULL;
}

struct reg_entry *reg_next_kind(const struct registry *reg, const char *kind,
				const struct reg_entry *prev)
{
	struct reg_entry *e = reg_next(reg, prev);

	while (e && (e->kind == NULL || strcmp(e->kind, kind) != 0))
		e = reg_next(reg, e);
	return e;
}

/* DFS state for reg_service_order(). */
/*
** Service order is a depth-first post-order walk in file order: each node
** is emitted after everything it depends on, and ties keep file order, so
** the result is deterministic. GRAY marks the current path; meeting a GRAY
** node again is a cycle, and the path from it is the cycle's text.
*/
enum { WHITE, GRAY, BLACK };

struct order {
	const struct registry *reg;
	unsigned char *color;
	struct reg_entry **stack;	/* the current DFS path */
	size_t depth;
	struct reg_entry **out;
	size_t n;
	struct reg_error *err;
};

static int visit(struct order *o, struct reg_entry *e);

static int visit_dep(struct order *o, struct reg_entry *d)
{
	char buf[1024];
	size_t i, k, len = 0;

	if (d == NULL || !d->has_lifecycle)
		return 0;
	if (o->color[d->_index] == GRAY) {
		for (k = 0; k < o->depth && o->stack[k] != d; k++)
			;
		len = (size_t)snprintf(buf, sizeof(buf), "%s:%d:%d: %s: "
				       "dependency cycle: ", d->file, d->line,
				       d->col, d->id);
		for (i = k; i < o->depth && len < sizeof(buf); i++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
						"%s -> ", o->stack[i]->id);
		if (len < sizeof(buf))
			snprintf(buf + len, sizeof(buf) - len, "%s", d->id);
		if (o->err)
			err_line(o->err, buf);
		return -ELOOP;
	}
	return visit(o, d);
}

static int visit(struct order *o, struct reg_entry *e)
{
	size_t i;
	int rc;

	if (o->color[e->_index] != WHITE)
		return 0;
	o->color[e->_index] = GRAY;
	o->stack[o->depth++] = e;
	if (e->k == REG_K_PROCESS_SERVICE &&
	    (rc = visit_dep(o, e->u.service.host)) < 0)
		return rc;
	for (i = 0; i < e->lifecycle.nrequires; i++)
		if ((rc = visit_dep(o, e->lifecycle.requires[i])) < 0)
			return rc;
	o->depth--;
	o->color[e->_index] = BLACK;
	o->out[o->n++] = e;
	return 0;
}

int reg_service_order(const struct registry *reg, struct reg_entry ***out,
		      size_t *n, struct reg_error *err)
{
	struct order o = { .reg = reg, .err = err };
	size_t i;
	int rc = 0;

	o.color = xcalloc(reg->n + 1, 1);
	o.stack = xcalloc(reg->n + 1, sizeof(*o.stack));
	o.out = xcalloc(reg->n + 1, sizeof(*o.out));
	for (i = 0; i < reg->n && rc == 0; i++)
		if (reg->entries[i]->has_lifecycle)
			rc = visit(&o, reg->entries[i]);
	free(o.color);
	free(o.stack);
	if (rc < 0) {
		free(o.out);
		*out = NULL;
		*n = 0;
		return rc;
	}
	*out = o.out;
	*n = o.n;
	return 0;
}

int reg_lock_read(const char *lock_path, char **src_dir, char **modules_dir)
{
	struct loader L;
	struct registry tmp;
	struct reg_value *root, *d, *s, *m;
	bool ok;
	int rc = 0;

	if (access(lock_path, R_OK) != 0)
		return -errno;
	memset(&L, 0, sizeof(L));
	memset(&tmp, 0, sizeof(tmp));
	L.reg = &tmp;
	root = parse_yaml(&L, lock_path, lock_path, &ok);
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
	free(L.anchors);
	reg_error_free(&L.err);
	arena_free(&tmp.arena);
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

/* }==================================================================== */

/* {====================================================================
** Value helpers
** ===================================================================== */

/* Does key match the front of path up to a '.' or the end? */
/* reg_value_get() resolves against the tree only: it never allocates and
 * never fails loudly, since callers use it to probe optional fields. */
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
