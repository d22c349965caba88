/*
** runtime/yaml.c: the YAML reader (libfyaml parser events -> reg_value).
**
** Owns: turning one file into a value tree with positions, YAML 1.2 core
** schema typing, anchors and aliases. It may not know what an entry or a
** kind is: the registry (registry.c and reg_*.c) reads the tree, this file
** only builds it, in the arena and error list its caller passes.
**
** Built from parser events rather than libfyaml's document tree, so every
** node keeps the mark of its first token (1-based line and column) and the
** tree lives in the registry's arena instead of libfyaml's allocations.
*/
#include "runtime/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/reg_int.h"

/*
** An alias is a deep copy, so nested aliases multiply: nine lines of
** "l1: &l1 [*l0, *l0, ...]" would make 9^9 nodes from 400 bytes (the
** "billion laughs"). The copies one file may make are bounded instead; a
** real registry shares small lifecycle blocks and stays far below.
*/
#define YAML_MAX_ALIAS_NODES 100000

/* One read: where nodes and errors go, and the anchors seen so far. */
struct reader {
	struct reg_arena *a;
	struct reg_error *err;
	size_t copied;		/* nodes made by alias copies so far */
	struct anchor {
		const char *name;
		const struct reg_value *v;
	} *anchors;
	size_t nanchors, capanchors;
};

/* An error at node v (may be NULL: the message carries its own place). */
static void rerr(struct reader *R, const struct reg_value *v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rerr(struct reader *R, const struct reg_value *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reg__vreport(R->err, NULL, v, fmt, ap);
	va_end(ap);
}

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
void yaml_type_scalar(struct reg_value *v)
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

static struct reg_value *newval(struct reader *R, enum reg_vtype t,
				const char *file, const struct fy_mark *m)
{
	struct reg_value *v = reg__alloc(R->a, sizeof(*v));

	v->type = t;
	v->file = file;
	v->line = m ? m->line + 1 : 1;
	v->col = m ? m->column + 1 : 1;
	return v;
}

/* Deep copy for aliases: interpolation rewrites strings in place, so an
 * aliased subtree must not be shared (it would be expanded twice). */
static struct reg_value *copyval(struct reader *R, const struct reg_value *src)
{
	struct reg_arena *a = R->a;
	struct reg_value *v = reg__alloc(a, sizeof(*v));
	size_t i;

	*v = *src;
	if (src->n > 0) {
		v->items = reg__alloc(a, src->n * sizeof(*v->items));
		for (i = 0; i < src->n; i++)
			v->items[i] = copyval(R, src->items[i]);
	}
	return v;
}

/* Nodes in the tree at v, counting no further than limit + 1. The tree
** is already built, so this walk is bounded by what the file made. */
static size_t count_nodes(const struct reg_value *v, size_t limit)
{
	size_t n = 1;

	for (size_t i = 0; i < v->n && n <= limit; i++)
		n += count_nodes(v->items[i], limit - n);
	return n;
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

static void add_anchor(struct reader *R, const char *name,
		       const struct reg_value *v)
{
	if (R->nanchors == R->capanchors) {
		R->capanchors = R->capanchors ? R->capanchors * 2 : 8;
		R->anchors = xrealloc(R->anchors,
				      R->capanchors * sizeof(*R->anchors));
	}
	R->anchors[R->nanchors].name = name;
	R->anchors[R->nanchors++].v = v;
}

static const char *token_text(struct reader *R, struct fy_token *t)
{
	size_t len = 0;
	const char *s = t ? fy_token_get_text(t, &len) : NULL;

	return s ? reg__strndup(R->a, s, len) : NULL;
}

/*
** Attach a finished value to the container on top of the stack, or make it
** the root. Returns -1 (error recorded) for a non-scalar or duplicate key.
*/
static int attach(struct reader *R, struct frame *stack, int depth,
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
			rerr(R, v, "mapping keys must be scalars, got %s",
			      reg_value_type_name(v->type));
			return -1;
		}
		for (i = 0; i < f->n; i++) {
			if (!strcmp(f->keys[i], v->str)) {
				rerr(R, v, "duplicate mapping key \"%s\"",
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
static void seal(struct reader *R, struct frame *f)
{
	struct reg_value *v = f->v;
	struct reg_arena *a = R->a;

	v->n = f->n;
	if (f->n > 0) {
		v->items = reg__alloc(a, f->n * sizeof(*v->items));
		memcpy(v->items, f->items, f->n * sizeof(*v->items));
		if (v->type == REG_MAP) {
			v->keys = reg__alloc(a, f->n * sizeof(*v->keys));
			memcpy(v->keys, f->keys, f->n * sizeof(*v->keys));
		}
	}
	free(f->items);
	free(f->keys);
	f->items = NULL;
	f->keys = NULL;
}

/*
** The first byte of s[0..n) that is not well-formed UTF-8 (RFC 3629: no
** overlong forms, surrogates or code points past U+10FFFF), or NULL. A
** YAML stream is Unicode text, so such a byte is an error; it is also
** checked here because libfyaml 0.7 loops forever on some (a "%" line
** ending in a truncated sequence).
*/
static const unsigned char *bad_utf8(const unsigned char *s, size_t n,
				     int *line, int *col)
{
	const unsigned char *end = s + n;

	*line = 1;
	*col = 1;
	while (s < end) {
		unsigned c = *s;
		size_t k = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 :
			   c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
		unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
		unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;

		if (k == 9 || (size_t)(end - s) <= k)
			return s;	/* not a lead byte, or truncated */
		if (k > 0 && (s[1] < lo || s[1] > hi))
			return s;
		for (size_t i = 2; i <= k; i++)
			if ((s[i] & 0xC0) != 0x80)
				return s;
		if (c == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
		s += k + 1;
	}
	return NULL;
}

/* The whole file at path, malloc'd (NUL-terminated, *len bytes), or NULL
** with errno set. */
static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;
	int e;

	if (f == NULL)
		return NULL;
	do {
		if (cap - n < 4096)
			buf = xrealloc(buf, cap = cap ? cap * 2 : 8192);
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	e = ferror(f) ? EIO : 0;
	fclose(f);
	if (e) {
		free(buf);
		errno = e;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Report libfyaml's collected diagnostics as our own error lines. */
static void report_diag(struct reader *R, struct fy_diag *diag, const char *file)
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
		reg__err_line(R->err, buf);
		found++;
	}
	if (!found) {
		snprintf(buf, sizeof(buf), "%s: YAML syntax error", file);
		reg__err_line(R->err, buf);
	}
}

/*
** Parse one YAML file into a value tree. Only the first document is used.
** Returns the root (NULL for an empty file) and sets *ok to false if
** anything was reported.
*/
static struct reg_value *parse(struct reader *R, const char *path,
				    const char *file, bool *ok)
{
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	struct fy_diag *diag;
	struct fy_parser *fyp;
	struct fy_event *fye;
	struct frame stack[FYPCF_GUARANTEED_MINIMUM_DEPTH_LIMIT + 1];
	struct reg_value *root = NULL, *v;
	int depth = 0, docs = 0, i, bline, bcol;
	char *text;
	size_t textlen = 0;
	const unsigned char *bad;
	bool failed = false;
	const struct reg_value *found;
	const char *name;
	size_t k;

	*ok = true;
	R->nanchors = 0;
	R->copied = 0;
	text = read_all(path, &textlen);
	if (text == NULL) {
		rerr(R, NULL, "%s: cannot read: %s", file, strerror(errno));
		*ok = false;
		return NULL;
	}
	bad = bad_utf8((const unsigned char *)text, textlen, &bline, &bcol);
	if (bad != NULL) {
		rerr(R, NULL, "%s:%d:%d: YAML syntax error: invalid UTF-8 (byte 0x%02x)",
		     file, bline, bcol, *bad);
		free(text);
		*ok = false;
		return NULL;
	}
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
	if (fy_parser_set_string(fyp, text, textlen) != 0)
		abort();	/* only an allocation can fail here */
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
				rerr(R, NULL, "%s:%d:%d: nesting too deep",
				      file, m ? m->line + 1 : 0, m ? m->column + 1 : 0);
				failed = true;
				break;
			}
			memset(&stack[depth], 0, sizeof(stack[depth]));
			stack[depth].v = newval(R, fye->type == FYET_MAPPING_START
						? REG_MAP : REG_SEQ, file, m);
			stack[depth].anchor = token_text(R, fye->type == FYET_MAPPING_START
				? fye->mapping_start.anchor : fye->sequence_start.anchor);
			depth++;
			break;
		case FYET_MAPPING_END:
		case FYET_SEQUENCE_END:
			if (docs > 1)
				break;
			depth--;
			seal(R, &stack[depth]);
			if (stack[depth].anchor)
				add_anchor(R, stack[depth].anchor, stack[depth].v);
			if (attach(R, stack, depth, &root, stack[depth].v) < 0)
				failed = true;
			break;
		case FYET_SCALAR: {
			struct fy_token *tag = fye->scalar.tag;
			const char *suffix = tag ? fy_tag_token_suffix0(tag) : NULL;

			if (docs > 1)
				break;
			v = newval(R, REG_STR, file, m);
			v->str = token_text(R, fye->scalar.value);
			if (v->str == NULL)
				v->str = "";
			v->_plain = fy_token_scalar_style(fye->scalar.value) == FYSS_PLAIN &&
				    !(suffix && !strcmp(suffix, "str"));
			yaml_type_scalar(v);
			name = token_text(R, fye->scalar.anchor);
			if (name)
				add_anchor(R, name, v);
			if (attach(R, stack, depth, &root, v) < 0)
				failed = true;
			break;
		}
		case FYET_ALIAS:
			if (docs > 1)
				break;
			name = token_text(R, fye->alias.anchor);
			found = NULL;
			for (k = R->nanchors; k-- > 0;) {
				if (!strcmp(R->anchors[k].name, name)) {
					found = R->anchors[k].v;
					break;
				}
			}
			if (found == NULL) {
				rerr(R, newval(R, REG_NULL, file, m),
				      "unknown alias \"*%s\"", name);
				failed = true;
				break;
			}
			R->copied += count_nodes(found, YAML_MAX_ALIAS_NODES);
			if (R->copied > YAML_MAX_ALIAS_NODES) {
				rerr(R, newval(R, REG_NULL, file, m),
				      "alias \"*%s\": aliases expand to more than %d "
				      "nodes in this file", name, YAML_MAX_ALIAS_NODES);
				failed = true;
				break;
			}
			v = copyval(R, found);
			v->file = file;
			v->line = m ? m->line + 1 : 1;
			v->col = m ? m->column + 1 : 1;
			if (attach(R, stack, depth, &root, v) < 0)
				failed = true;
			break;
		default:
			break;
		}
		fy_parser_event_free(fyp, fye);
	}
	if (!failed && fy_parser_get_stream_error(fyp)) {
		report_diag(R, diag, file);
		failed = true;
	}
	for (i = 0; i < depth; i++) {	/* only on error: unwind frames */
		free(stack[i].items);
		free(stack[i].keys);
	}
	fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	free(text);
	if (failed) {
		*ok = false;
		return NULL;
	}
	return root;
}

struct reg_value *yaml_read_file(const char *path, const char *file,
				 struct reg_arena *a, struct reg_error *err,
				 bool *ok)
{
	struct reader R = { .a = a, .err = err };
	struct reg_value *root = parse(&R, path, file, ok);

	free(R.anchors);
	return root;
}
