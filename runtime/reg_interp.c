/*
** runtime/reg_interp.c: ${...} interpolation of an entry's strings (spec
** 1.4 "Env system").
**
** Owns: the expansion grammar ("$${" escapes, "${env:NAME}",
** "${env:NAME|default}", "${UPPER_SNAKE|default}"). Values come from the
** struct reg_lookup the caller of reg_decode() passed; this file may not
** know where they are stored (runtime/env.c does), so the registry and the
** env do not call each other.
**
** Strings are rewritten in place in the entry's tree. That is safe because
** aliases are deep copies (yaml.c) and every entry is interpolated once.
*/
#include "runtime/reg_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/yaml.h"

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
			  struct reg_value *v)
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
		key = reg__strndup(&L->reg->arena, name, nlen);
		if (bar)
			def = reg__strndup(&L->reg->arena, bar + 1,
				       (size_t)(close - bar - 1));
		rc = L->lookup ? L->lookup->get(L->lookup->ud, key, &val) : -ENOENT;
		if (rc == 0) {
			sb_add(&b, val, strlen(val));
			free(val);
		} else if (def != NULL) {
			sb_add(&b, def, strlen(def));
		} else if (L->lookup != NULL) {
			reg__errat(L, e, v, "%.*s: env variable \"%s\" is not set and "
			      "has no default (%s)", (int)(close + 1 - p), p,
			      key, L->lookup->strerror ? L->lookup->strerror(rc)
						  : strerror(-rc));
			failed = true;
		}
		changed = true;
		p = close + 1;
	}
	/* On error keep the text as written and mark it, so decoding it
	 * further adds no follow-up errors about a value that is not there. */
	v->_unset = failed;
	out = changed && !failed ? reg__strdup(&L->reg->arena, b.p ? b.p : "") : NULL;
	free(b.p);
	return out;
}

/* A plain "${env:PORT|8080}" becomes the integer 8080: changed plain
 * scalars are retyped as the YAML reader typed them. */
void reg__interpolate(struct loader *L, struct reg_entry *e,
			struct reg_value *v)
{
	size_t i;
	const char *s;

	if (v->type == REG_SEQ || v->type == REG_MAP) {
		for (i = 0; i < v->n; i++)
			reg__interpolate(L, e, v->items[i]);
		return;
	}
	if (v->type != REG_STR || (s = expand(L, e, v)) == NULL)
		return;
	v->str = s;
	yaml_type_scalar(v);
}
