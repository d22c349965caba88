/*
** runtime/policy_expr.c: security.policy.expr expressions: a recursive
** descent parser into a small tree, and an evaluator over it (the
** contract is in runtime/policy_expr.h).
*/
#include "runtime/policy_expr.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "runtime/policy.h"

enum nk {
	N_LIT, N_FIELD, N_LIST, N_NOT, N_AND, N_OR,
	N_EQ, N_NE, N_LT, N_GT, N_LE, N_GE,
	N_IN, N_NIN, N_MATCHES, N_CONTAINS, N_STARTS, N_ENDS,
};

/* A value while evaluating: a scalar, or a container of the meta. */
enum et { E_NIL, E_BOOL, E_NUM, E_STR, E_VAL };

struct ev {
	enum et t;
	bool b;
	double n;
	const char *s;
	size_t len;
	const struct policy_val *v;	/* E_VAL: a list or a map */
};

struct node {
	enum nk k;
	struct node *a, *b;
	struct node **items;	/* N_LIST */
	size_t n;
	struct ev lit;		/* N_LIT */
	char *text;		/* N_LIT string / N_FIELD path, owned */
	pcre2_code *re;		/* N_MATCHES with a literal pattern */
};

struct pexpr {
	struct node *root;
};

/* {==== Parsing ====} */

/* How deep parentheses, lists and nots may nest: the parser recurses. */
#define MAX_NEST 100

struct parser {
	const char *src, *p;
	char *err;
	size_t size;
	bool failed;
	int depth;
};

static void fail(struct parser *P, const char *what)
{
	if (!P->failed)
		snprintf(P->err, P->size, "%s at offset %zu", what, (size_t)(P->p - P->src));
	P->failed = true;
}

static void skip(struct parser *P)
{
	while (isspace((unsigned char)*P->p))
		P->p++;
}

/* The next token is the punctuation s: consume it. */
static bool punct(struct parser *P, const char *s)
{
	size_t n = strlen(s);

	skip(P);
	if (strncmp(P->p, s, n) != 0)
		return false;
	P->p += n;
	return true;
}

/* The next token is the word w (not a prefix of a longer name). */
static bool word(struct parser *P, const char *w)
{
	size_t n = strlen(w);
	unsigned char c;

	skip(P);
	if (strncmp(P->p, w, n) != 0)
		return false;
	c = (unsigned char)P->p[n];
	if (isalnum(c) || c == '_')
		return false;
	P->p += n;
	return true;
}

static struct node *node(enum nk k, struct node *a, struct node *b)
{
	struct node *x = xcalloc(1, sizeof(*x));

	x->k = k;
	x->a = a;
	x->b = b;
	return x;
}

static void free_node(struct node *x)
{
	if (x == NULL)
		return;
	free_node(x->a);
	free_node(x->b);
	for (size_t i = 0; i < x->n; i++)
		free_node(x->items[i]);
	free(x->items);
	free(x->text);
	pcre2_code_free(x->re);
	free(x);
}

static struct node *parse_or(struct parser *P);

static struct node *parse_string(struct parser *P)
{
	char q = *P->p++;
	char *buf = xmalloc(strlen(P->p) + 1);
	size_t n = 0;
	struct node *x;

	while (*P->p && *P->p != q) {
		char c = *P->p++;

		if (c == '\\' && *P->p) {
			c = *P->p++;
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (*P->p != q) {
		free(buf);
		fail(P, "unterminated string");
		return NULL;
	}
	P->p++;
	x = node(N_LIT, NULL, NULL);
	x->text = buf;
	x->lit.t = E_STR;
	x->lit.s = buf;
	x->lit.len = n;
	return x;
}

static struct node *parse_primary(struct parser *P)
{
	struct node *x;
	unsigned char c;

	skip(P);
	c = (unsigned char)*P->p;
	if (punct(P, "(")) {
		P->depth++;
		x = parse_or(P);
		P->depth--;
		if (!punct(P, ")")) {
			fail(P, "expected )");
			free_node(x);
			return NULL;
		}
		return x;
	}
	if (c == '"' || c == '\'')
		return parse_string(P);
	if (punct(P, "[")) {
		x = node(N_LIST, NULL, NULL);
		if (punct(P, "]"))
			return x;
		do {
			struct node *it;

			P->depth++;
			it = parse_or(P);
			P->depth--;
			if (it == NULL) {
				free_node(x);
				return NULL;
			}
			x->items = xrealloc(x->items, (x->n + 1) * sizeof(*x->items));
			x->items[x->n++] = it;
		} while (punct(P, ","));
		if (!punct(P, "]")) {
			fail(P, "expected ]");
			free_node(x);
			return NULL;
		}
		return x;
	}
	if (isdigit(c) || (c == '-' && isdigit((unsigned char)P->p[1]))) {
		char *end;

		x = node(N_LIT, NULL, NULL);
		x->lit.t = E_NUM;
		x->lit.n = strtod(P->p, &end);
		P->p = end;
		return x;
	}
	if (word(P, "true") || word(P, "false")) {
		x = node(N_LIT, NULL, NULL);
		x->lit.t = E_BOOL;
		x->lit.b = P->p[-1] == 'e' && P->p[-2] == 'u';
		return x;
	}
	if (word(P, "nil")) {
		x = node(N_LIT, NULL, NULL);
		x->lit.t = E_NIL;
		return x;
	}
	if (isalpha(c) || c == '_') {
		const char *s = P->p;

		while (isalnum((unsigned char)*P->p) || *P->p == '_' ||
		       (*P->p == '.' && (isalpha((unsigned char)P->p[1]) || P->p[1] == '_')))
			P->p++;
		skip(P);
		if (*P->p == '(' || *P->p == '[') {
			fail(P, "function calls and [] indexing are not supported");
			return NULL;
		}
		x = node(N_FIELD, NULL, NULL);
		x->text = xmalloc((size_t)(P->p - s) + 1);
		memcpy(x->text, s, (size_t)(P->p - s));
		x->text[P->p - s] = '\0';
		/* trailing spaces were skipped into the name: trim them */
		for (size_t n = strlen(x->text); n && isspace((unsigned char)x->text[n - 1]); n--)
			x->text[n - 1] = '\0';
		return x;
	}
	fail(P, *P->p ? "unexpected character" : "unexpected end of expression");
	return NULL;
}

static const struct { const char *tok; enum nk k; bool is_word; } cmp_ops[] = {
	{ "==", N_EQ, false }, { "!=", N_NE, false }, { "<=", N_LE, false },
	{ ">=", N_GE, false }, { "<", N_LT, false }, { ">", N_GT, false },
	{ "in", N_IN, true }, { "matches", N_MATCHES, true },
	{ "contains", N_CONTAINS, true }, { "startsWith", N_STARTS, true },
	{ "endsWith", N_ENDS, true },
};

static struct node *parse_cmp(struct parser *P)
{
	struct node *a = parse_primary(P), *b;
	enum nk k;
	size_t i;

	if (a == NULL)
		return NULL;
	skip(P);
	if (word(P, "not")) {
		if (!word(P, "in")) {
			fail(P, "expected in after not");
			free_node(a);
			return NULL;
		}
		k = N_NIN;
	} else {
		for (i = 0; i < countof(cmp_ops); i++)
			if (cmp_ops[i].is_word ? word(P, cmp_ops[i].tok) : punct(P, cmp_ops[i].tok))
				break;
		if (i == countof(cmp_ops)) {
			skip(P);
			if (strchr("+-*/%?", *P->p) && *P->p) {
				fail(P, "arithmetic and ?: are not supported");
				free_node(a);
				return NULL;
			}
			return a;
		}
		k = cmp_ops[i].k;
	}
	b = parse_primary(P);
	if (b == NULL) {
		free_node(a);
		return NULL;
	}
	a = node(k, a, b);
	if (k == N_MATCHES && b->k == N_LIT && b->lit.t == E_STR) {
		int ec;
		PCRE2_SIZE off;

		a->re = pcre2_compile((PCRE2_SPTR)b->lit.s, b->lit.len, PCRE2_UTF, &ec, &off, NULL);
		if (a->re == NULL) {
			PCRE2_UCHAR msg[120];
			char buf[200];

			pcre2_get_error_message(ec, msg, sizeof(msg));
			snprintf(buf, sizeof(buf), "invalid pattern \"%s\": %s", b->lit.s, (char *)msg);
			fail(P, buf);
		}
	}
	return a;
}

static struct node *parse_not(struct parser *P)
{
	skip(P);
	if (P->depth > MAX_NEST) {
		fail(P, "expression nested too deeply");
		return NULL;
	}
	if ((P->p[0] == '!' && P->p[1] != '=' && punct(P, "!")) || word(P, "not")) {
		struct node *a;

		P->depth++;
		a = parse_not(P);
		P->depth--;
		return a ? node(N_NOT, a, NULL) : NULL;
	}
	return parse_cmp(P);
}

static struct node *parse_and(struct parser *P)
{
	struct node *a = parse_not(P);

	while (a && (punct(P, "&&") || word(P, "and"))) {
		struct node *b = parse_not(P);
		if (b == NULL) {
			free_node(a);
			return NULL;
		}
		a = node(N_AND, a, b);
	}
	return a;
}

static struct node *parse_or(struct parser *P)
{
	struct node *a = parse_and(P);

	while (a && (punct(P, "||") || word(P, "or"))) {
		struct node *b = parse_and(P);
		if (b == NULL) {
			free_node(a);
			return NULL;
		}
		a = node(N_OR, a, b);
	}
	return a;
}

struct pexpr *pexpr_compile(const char *src, char *err, size_t size)
{
	struct parser P = { src, src, err, size, false, 0 };
	struct node *root = parse_or(&P);
	struct pexpr *e;

	skip(&P);
	if (root != NULL && *P.p != '\0')
		fail(&P, "unexpected text after the expression");
	if (P.failed) {
		free_node(root);
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->root = root;
	return e;
}

void pexpr_free(struct pexpr *e)
{
	if (e == NULL)
		return;
	free_node(e->root);
	free(e);
}

/* {==== Evaluating ====} */

struct env {
	const struct policy_actor *actor;
	const char *action, *resource;
	const struct policy_val *meta;
};

static struct ev of_val(const struct policy_val *v)
{
	struct ev r = { .t = E_NIL };

	if (v == NULL)
		return r;
	switch (v->type) {
	case PV_NULL: break;
	case PV_BOOL: r.t = E_BOOL; r.b = v->b; break;
	case PV_NUM: r.t = E_NUM; r.n = v->num; break;
	case PV_STR: r.t = E_STR; r.s = v->str; r.len = v->len; break;
	default: r.t = E_VAL; r.v = v; break;
	}
	return r;
}

static struct ev str_ev(const char *s)
{
	struct ev r = { .t = E_STR, .s = s ? s : "", .len = s ? strlen(s) : 0 };
	return r;
}

/* Walk dotted path p from map m (NULL when missing). */
static const struct policy_val *walk(const struct policy_val *m, const char *p)
{
	char key[256];

	while (m != NULL && *p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (len >= sizeof(key))
			return NULL;
		memcpy(key, p, len);
		key[len] = '\0';
		m = policy_val_get(m, key);
		p += len + (dot != NULL);
	}
	return m;
}

static struct ev field(const struct env *E, const char *path)
{
	struct ev nil = { .t = E_NIL };

	if (strcmp(path, "action") == 0)
		return str_ev(E->action);
	if (strcmp(path, "resource") == 0)
		return str_ev(E->resource);
	if (strcmp(path, "actor.id") == 0)
		return E->actor ? str_ev(E->actor->id) : str_ev("");
	if (strncmp(path, "actor.meta.", 11) == 0)
		return E->actor ? of_val(walk(E->actor->meta, path + 11)) : nil;
	if (strcmp(path, "actor.meta") == 0)
		return E->actor ? of_val(E->actor->meta) : nil;
	if (strncmp(path, "meta.", 5) == 0)
		return of_val(walk(E->meta, path + 5));
	if (strcmp(path, "meta") == 0)
		return of_val(E->meta);
	return of_val(policy_val_get(E->meta, path));
}

static bool eq(const struct ev *a, const struct ev *b)
{
	if (a->t != b->t)
		return false;
	switch (a->t) {
	case E_NIL: return true;
	case E_BOOL: return a->b == b->b;
	case E_NUM: return a->n == b->n;
	case E_STR: return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	case E_VAL: return a->v == b->v;
	}
	return false;
}

static int eval(const struct node *x, const struct env *E, struct ev *out);

/* Whether a is in the list node / list or map value b: 1, 0, -1. */
static int member(const struct node *bn, const struct ev *a, const struct env *E)
{
	struct ev b, it;

	if (bn->k == N_LIST) {
		for (size_t i = 0; i < bn->n; i++) {
			if (eval(bn->items[i], E, &it) < 0)
				return -1;
			if (eq(a, &it))
				return 1;
		}
		return 0;
	}
	if (eval(bn, E, &b) < 0)
		return -1;
	if (b.t == E_NIL)
		return 0;
	if (b.t != E_VAL)
		return -1;
	if (b.v->type == PV_MAP) {
		if (a->t != E_STR)
			return -1;
		for (size_t i = 0; i < b.v->n; i++)
			if (strlen(b.v->keys[i]) == a->len && memcmp(b.v->keys[i], a->s, a->len) == 0)
				return 1;
		return 0;
	}
	for (size_t i = 0; i < b.v->n; i++) {
		it = of_val(&b.v->items[i]);
		if (eq(a, &it))
			return 1;
	}
	return 0;
}

static int eval(const struct node *x, const struct env *E, struct ev *out)
{
	struct ev a, b;
	int r;

	memset(out, 0, sizeof(*out));
	switch (x->k) {
	case N_LIT:
		*out = x->lit;
		return 0;
	case N_FIELD:
		*out = field(E, x->text);
		return 0;
	case N_LIST:
		return -1;	/* only as the right side of in */
	case N_NOT:
		if (eval(x->a, E, &a) < 0 || a.t != E_BOOL)
			return -1;
		out->t = E_BOOL;
		out->b = !a.b;
		return 0;
	case N_AND:
	case N_OR:
		if (eval(x->a, E, &a) < 0 || a.t != E_BOOL)
			return -1;
		out->t = E_BOOL;
		if (a.b == (x->k == N_OR)) {
			out->b = a.b;
			return 0;
		}
		if (eval(x->b, E, &b) < 0 || b.t != E_BOOL)
			return -1;
		out->b = b.b;
		return 0;
	case N_IN:
	case N_NIN:
		if (eval(x->a, E, &a) < 0 || (r = member(x->b, &a, E)) < 0)
			return -1;
		out->t = E_BOOL;
		out->b = (r == 1) == (x->k == N_IN);
		return 0;
	default:
		break;
	}
	if (eval(x->a, E, &a) < 0 || eval(x->b, E, &b) < 0)
		return -1;
	out->t = E_BOOL;
	switch (x->k) {
	case N_EQ:
		out->b = eq(&a, &b);
		return 0;
	case N_NE:
		out->b = !eq(&a, &b);
		return 0;
	case N_LT: case N_GT: case N_LE: case N_GE: {
		int c;

		if (a.t == E_NUM && b.t == E_NUM)
			c = a.n < b.n ? -1 : a.n > b.n;
		else if (a.t == E_STR && b.t == E_STR) {
			size_t m = a.len < b.len ? a.len : b.len;
			c = memcmp(a.s, b.s, m);
			c = c ? c : (a.len > b.len) - (a.len < b.len);
		} else
			return -1;
		out->b = x->k == N_LT ? c < 0 : x->k == N_GT ? c > 0 :
			 x->k == N_LE ? c <= 0 : c >= 0;
		return 0;
	}
	case N_MATCHES: {
		pcre2_match_data *md;

		if (a.t != E_STR || x->re == NULL)
			return -1;
		md = pcre2_match_data_create_from_pattern(x->re, NULL);
		if (md == NULL)
			return -1;
		r = pcre2_match(x->re, (PCRE2_SPTR)a.s, a.len, 0, 0, md, NULL);
		pcre2_match_data_free(md);
		if (r < 0 && r != PCRE2_ERROR_NOMATCH)
			return -1;
		out->b = r >= 0;
		return 0;
	}
	case N_CONTAINS:
	case N_STARTS:
	case N_ENDS:
		if (a.t != E_STR || b.t != E_STR)
			return -1;
		if (x->k == N_CONTAINS)
			out->b = b.len <= a.len && memmem(a.s, a.len, b.s, b.len) != NULL;
		else if (x->k == N_STARTS)
			out->b = b.len <= a.len && memcmp(a.s, b.s, b.len) == 0;
		else
			out->b = b.len <= a.len && memcmp(a.s + a.len - b.len, b.s, b.len) == 0;
		return 0;
	default:
		return -1;
	}
}

int pexpr_eval(const struct pexpr *e, const struct policy_actor *actor,
	       const char *action, const char *resource,
	       const struct policy_val *meta)
{
	struct env E = { actor, action, resource, meta };
	struct ev r;

	if (eval(e->root, &E, &r) < 0 || r.t != E_BOOL)
		return -1;
	return r.b;
}
