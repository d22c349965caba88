/*
** runtime/reg_field.c: the field table, i.e. how one configuration key of
** one kind is decoded.
**
** Owns: struct reg_field rows and their decoding. A kind lists its keys
** as rows (reg_kinds.c); this file reads each row's key from the entry,
** checks its type, stores the value at the row's offset in the entry or
** the row's default in its place, and then runs the row's setter for what
** the type alone does not say. It is nginx's ngx_command_t with one merge
** default: a key's name, type, default and destination are written once,
** in its row, and nowhere else. It may not know any kind by name.
**
** Unknown keys of a known kind are ignored, as the original runtime's
** decoder ignores them; only the keys a table lists are checked.
**
** Every error is recorded at the offending value's own file:line:col with
** the value quoted; decoding goes on with the default, so one run reports
** every bad key of every entry.
*/
#include "runtime/reg_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gotime.h"

/* {====================================================================
** Values of one type
** ===================================================================== */

struct reg_value *reg__field(const struct reg_entry *e, const char *path)
{
	struct reg_value *v = reg_value_get(e->data, path);

	return v && v->type != REG_NULL ? v : NULL;
}

const char *reg__get_str(struct loader *L, struct reg_entry *e,
			 const char *path, bool required)
{
	struct reg_value *v = reg__field(e, path);
	char buf[160];

	if (v == NULL) {
		if (required)
			reg__errat(L, e, NULL, "missing required field \"%s\"", path);
		return NULL;
	}
	if (v->type != REG_STR) {
		reg__errat(L, e, v, "field \"%s\" must be a string, got %s %s", path,
			   reg_value_type_name(v->type), reg__show(v, buf, sizeof(buf)));
		return NULL;
	}
	return v->str;
}

/* A Go duration as Go's ParseDuration reads it (runtime/gotime.c, the
 * project's one parser), in nanoseconds; -1 when malformed, out of range
 * or negative (no registry duration may be). */
static int64_t parse_duration(const char *s)
{
	int64_t ns;

	if (gotime_parse_duration(s, strlen(s), &ns, NULL) < 0 || ns < 0)
		return -1;
	return ns;
}

/* file_mode: 0644 in YAML 1.2 is decimal 644, so the text is re-read as
 * octal. Returns the mode, or -1 when v is not one. */
static int parse_mode(const struct reg_value *v)
{
	const char *s = v->str ? v->str : "";
	char *end;
	long m;

	if (!strncmp(s, "0o", 2))
		s += 2;
	m = strtol(s, &end, 8);
	if (v->type != REG_INT || *end != '\0' || m < 0 || m > 07777)
		return -1;
	return (int)m;
}

struct reg_entry *reg__ref_at(struct loader *L, struct reg_entry *e,
			      const struct reg_value *v, const char *what,
			      unsigned mask)
{
	struct reg_entry *t;
	const char *id;
	char buf[160], kl[256];

	if (v == NULL)
		return NULL;
	if (v->type != REG_STR || v->str[0] == '\0') {
		reg__errat(L, e, v, "%s: a reference must be an entry id string, got %s",
			   what, reg__show(v, buf, sizeof(buf)));
		return NULL;
	}
	id = strchr(v->str, ':') ? v->str
		: reg__printf(&L->reg->arena, "%s:%s", e->ns, v->str);
	t = reg_find(L->reg, id);
	if (t == NULL) {
		reg__errat(L, e, v, "%s: reference to missing entry \"%s\"", what, id);
		return NULL;
	}
	if (!(mask & KMASK(t->k)) || t->kind == NULL) {
		reg__errat(L, e, v, "%s: \"%s\" is a %s, expected %s", what, id,
			   t->kind ? t->kind : "?", reg__kind_list(mask, kl, sizeof(kl)));
		return NULL;
	}
	return t;
}

/* }==================================================================== */

/* {====================================================================
** Rows
** ===================================================================== */

/* "\"a\" or \"b\"" for two values, "one of A B C" for more. */
static const char *oneof_text(const char *const *oneof, char *buf, size_t size)
{
	size_t n = 0, len = 0;

	while (oneof[n])
		n++;
	if (n == 2) {
		snprintf(buf, size, "\"%s\" or \"%s\"", oneof[0], oneof[1]);
		return buf;
	}
	len = (size_t)snprintf(buf, size, "one of");
	for (size_t i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, " %s", oneof[i]);
	return buf;
}

/* Store the row's default at dst (NULL: nothing to store). */
static void store_default(const struct reg_field *f, void *dst)
{
	if (dst == NULL)
		return;
	switch (f->type) {
	case RF_STR:
		*(const char **)dst = f->def.s;
		break;
	case RF_BOOL:
		*(bool *)dst = f->def.b;
		break;
	case RF_INT:
	case RF_MODE:
		*(int *)dst = (int)f->def.i;
		break;
	case RF_I64:
	case RF_DUR:
		*(int64_t *)dst = f->def.i;
		break;
	case RF_NUM:
		*(double *)dst = f->def.f;
		break;
	case RF_MAP:
	case RF_SEQ:
		*(const struct reg_value **)dst = NULL;
		break;
	case RF_REF:
		*(struct reg_entry **)dst = NULL;
		break;
	case RF_FN:
		break;
	}
}

/*
** Check v against row f and store it at dst. Returns true when v is a
** valid value of the row's type, or the row is RF_FN (then the setter
** runs), false when it is absent or was refused (the default is stored; an error is recorded for
** a refused value and for an absent required one).
*/
static bool decode_row(struct loader *L, struct reg_entry *e,
		       const struct reg_field *f, struct reg_value *v, void *dst)
{
	char buf[160], alt[160];
	const char *what = NULL;
	int64_t max, d;
	size_t i;

	store_default(f, dst);
	if (f->type == RF_FN)
		return true;	/* the setter sees absent values too */
	if (v != NULL && v->_unset)
		return false;	/* its ${...} is already reported */
	if (v == NULL) {
		if (f->flags & RF_REQUIRED)
			reg__errat(L, e, NULL, "missing required field \"%s\"", f->key);
		return false;
	}
	switch (f->type) {
	case RF_STR:
		if (v->type != REG_STR) {
			reg__errat(L, e, v, "field \"%s\" must be a string, got %s %s",
				   f->key, reg_value_type_name(v->type),
				   reg__show(v, buf, sizeof(buf)));
			return false;
		}
		for (i = 0; f->oneof && f->oneof[i]; i++)
			if (!strcmp(v->str, f->oneof[i]))
				break;
		if (f->oneof && f->oneof[i] == NULL) {
			reg__errat(L, e, v, "field \"%s\" must be %s, got \"%s\"", f->key,
				   oneof_text(f->oneof, alt, sizeof(alt)), v->str);
			return false;
		}
		if (dst)
			*(const char **)dst = v->str;
		if ((f->flags & RF_NONEMPTY) && v->str[0] == '\0') {
			reg__errat(L, e, v, "field \"%s\" must not be empty", f->key);
			return false;
		}
		return true;
	case RF_BOOL:
		if (v->type != REG_BOOL) {
			reg__errat(L, e, v, "field \"%s\" must be true or false, got %s",
				   f->key, reg__show(v, buf, sizeof(buf)));
			return false;
		}
		if (dst)
			*(bool *)dst = v->b;
		return true;
	case RF_INT:
	case RF_I64:
		max = f->max ? f->max : f->type == RF_INT ? INT_MAX : INT64_MAX;
		if (v->type != REG_INT || v->i < f->min || v->i > max) {
			reg__errat(L, e, v, "field \"%s\" must be an integer >= %lld, got %s",
				   f->key, (long long)f->min, reg__show(v, buf, sizeof(buf)));
			return false;
		}
		if (dst && f->type == RF_INT)
			*(int *)dst = (int)v->i;
		else if (dst)
			*(int64_t *)dst = v->i;
		return true;
	case RF_NUM:
		if (v->type == REG_INT) {
			if (dst)
				*(double *)dst = (double)v->i;
			return true;
		}
		if (v->type != REG_FLOAT || v->f < 0 || isnan(v->f)) {
			reg__errat(L, e, v, "field \"%s\" must be a non-negative number, got %s",
				   f->key, reg__show(v, buf, sizeof(buf)));
			return false;
		}
		if (dst)
			*(double *)dst = v->f;
		return true;
	case RF_DUR:
		if (v->type == REG_INT && v->i == 0)
			d = 0;
		else
			d = v->type == REG_STR ? parse_duration(v->str) : -1;
		if (d < 0) {
			reg__errat(L, e, v, "field \"%s\" must be a duration like \"5s\", "
				   "\"300ms\" or \"2h15m\", got %s", f->key,
				   reg__show(v, buf, sizeof(buf)));
			return false;
		}
		if (dst)
			*(int64_t *)dst = d;
		return true;
	case RF_MODE:
		if ((d = parse_mode(v)) < 0) {
			reg__errat(L, e, v, "field \"%s\" must be an octal mode like 0644, got %s",
				   f->key, reg__show(v, buf, sizeof(buf)));
			return false;
		}
		if (dst)
			*(int *)dst = (int)d;
		return true;
	case RF_MAP:
	case RF_SEQ:
		if (v->type != (f->type == RF_MAP ? REG_MAP : REG_SEQ)) {
			what = f->type == RF_MAP ? "a mapping" : "a sequence";
			reg__errat(L, e, v, "field \"%s\" must be %s, got %s", f->key,
				   what, reg__show(v, buf, sizeof(buf)));
			return false;
		}
		if (dst)
			*(const struct reg_value **)dst = v;
		return true;
	case RF_REF: {
		struct reg_entry *t = reg__ref_at(L, e, v, f->key, f->kinds);

		if (dst)
			*(struct reg_entry **)dst = t;
		return t != NULL;
	}
	case RF_FN:
		break;
	}
	return false;	/* cannot happen: every type is handled above */
}

void reg__decode_fields(struct loader *L, struct reg_entry *e,
			const struct reg_field *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct reg_field *f = &t[i];
		struct reg_value *v = reg__field(e, f->key);
		void *dst = f->off == RF_NOWHERE ? NULL : (char *)e + f->off;

		if (decode_row(L, e, f, v, dst) && f->set)
			f->set(L, e, f, v, dst);
	}
}

/* }==================================================================== */
