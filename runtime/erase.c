/*
** runtime/erase.c: the typed-Lua eraser (spec/typed-lua.md).
**
** Two passes over a source. The lexer (runtime/tlex.c) is Lua 5.4's plus
** the dialect's tokens; it also pairs brackets, so the one decision that
** needs to see past a bracket (is `(...)` a function type? rules T2/T3) is
** a table lookup. The parser is a recursive descent over Lua 5.4's whole grammar with the
** dialect's additions; it builds nothing, it only records the byte spans
** of annotations, which erase_source then blanks in place.
**
** Why a parser and not a token filter: a cast and a label (`x :: T` and
** `::done::`), `as` the cast and `as` the field name, a type alias and a
** call of `type`, `a:b()` and `a: B` are told apart only by where they
** stand in the grammar (spec section 4).
**
** Errors unwind with longjmp from the point of detection: the parser holds
** no resource but the token and span arrays, freed by erase_source.
*/
#include "erase.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "tlex.h"

/* Nesting of statements, expressions and types, as Lua's LUAI_MAXCCALLS
** bounds its own parser: at least as deep as Lua accepts, so a plain Lua
** source Lua compiles is never refused for depth. */
#define MAXDEPTH 200

struct span {
	uint32_t s, e;
	char sep;        /* byte for s, or 0 to blank it like the rest */
};

struct parser {
	struct tlex lx;
	const char *src;  /* lx's, for short */
	struct tlex_tok *t;
	int nt;
	int p;            /* current token */
	uint32_t prev_end; /* end of the last token consumed */
	struct span *sp;
	int nsp, spcap;
	int annot;        /* > 0 inside an annotation: no nested spans */
	int depth;
	int attr_tok;     /* '<' of type arguments `<const>`/`<close>`, or -1 */
	uint32_t attr_end; /* prev_end just after them */
	struct erase_err *err;
	jmp_buf jb;
};

/* {==== Errors ====} */


static void fail_at(struct parser *P, int line, int col, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

static void fail_at(struct parser *P, int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	P->err->line = line;
	P->err->col = col;
	vsnprintf(P->err->msg, sizeof(P->err->msg), fmt, ap);
	va_end(ap);
	longjmp(P->jb, 1);
}

#define FAIL_TOK(P, tk, ...) fail_at((P), (tk)->line, (tk)->col, __VA_ARGS__)

/* "<what> near <token>" at token i. */
static void fail_near(struct parser *P, int i, const char *what)
	__attribute__((noreturn));

static void fail_near(struct parser *P, int i, const char *what)
{
	char nb[64];
	tlex_near(&P->lx, &P->t[i], nb, sizeof(nb));
	FAIL_TOK(P, &P->t[i], "%s near %s", what, nb);
}

/* {==== Parser plumbing ====} */

static int is_open(int k)
{
	return k == '(' || k == '[' || k == '{';
}

static int space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static const struct tlex_tok *cur(const struct parser *P)
{
	return &P->t[P->p];
}

static int kind(const struct parser *P)
{
	return P->t[P->p].k;
}

/* Kind of the token n ahead (the last one is TK_EOF). */
static int peek(const struct parser *P, int n)
{
	int i = P->p + n;
	return P->t[i < P->nt ? i : P->nt - 1].k;
}

static int name_is_at(const struct parser *P, int i, const char *w)
{
	const struct tlex_tok *t;
	if (i >= P->nt)
		return 0;
	t = &P->t[i];
	return t->k == TK_NAME && t->e - t->s == strlen(w) &&
	       memcmp(P->src + t->s, w, t->e - t->s) == 0;
}

static int name_is(const struct parser *P, const char *w)
{
	return name_is_at(P, P->p, w);
}

/* Report the lexical error the parser has reached. */
static void lexerr_reached(struct parser *P)
{
	if (P->t[P->p].k == TK_LEXERR) {
		*P->err = P->lx.err;
		longjmp(P->jb, 1);
	}
}

static void next(struct parser *P)
{
	P->prev_end = P->t[P->p].e;
	if (P->p < P->nt - 1)
		P->p++;
	lexerr_reached(P);
}

static int accept(struct parser *P, int k)
{
	if (kind(P) != k)
		return 0;
	next(P);
	return 1;
}


static void expect(struct parser *P, int k)
{
	char what[40];
	if (accept(P, k))
		return;
	tlex_kind(k, what, sizeof(what) - 10);
	strcat(what, " expected");
	fail_near(P, P->p, what);
}

/* Lua's check_match: the closer of an opener `who` seen at `line`. */
static void expect_match(struct parser *P, int what, int who, int line)
{
	char w1[24], w2[24], msg[96];
	if (accept(P, what))
		return;
	if (line == cur(P)->line) {
		expect(P, what);
	}
	tlex_kind(what, w1, sizeof(w1));
	tlex_kind(who, w2, sizeof(w2));
	snprintf(msg, sizeof(msg), "%s expected (to close %s at line %d)", w1, w2, line);
	fail_near(P, P->p, msg);
}

static void name(struct parser *P)
{
	if (kind(P) != TK_NAME)
		fail_near(P, P->p, "<name> expected");
	next(P);
}

static void enter(struct parser *P)
{
	if (++P->depth > MAXDEPTH)
		FAIL_TOK(P, cur(P), "too many nested syntax levels (limit is %d)", MAXDEPTH);
}

static void leave(struct parser *P)
{
	P->depth--;
}

/* Record the annotation [s, prev_end); sep is written at s. Spans inside
** an annotation are covered by it and not recorded (spec 3.1, item 4). */
static void add_span(struct parser *P, uint32_t s, char sep)
{
	if (P->annot > 0 || P->prev_end <= s)
		return;
	if (P->nsp == P->spcap) {
		P->spcap = P->spcap ? P->spcap * 2 : 32;
		P->sp = xrealloc(P->sp, (size_t)P->spcap * sizeof(*P->sp));
	}
	P->sp[P->nsp++] = (struct span){ s, P->prev_end, sep };
}

/* {==== Types (spec 2.3) ====} */

static void type(struct parser *P);
static void expr(struct parser *P);
static void explist(struct parser *P);
static void block(struct parser *P);

/* FIRST(Type). */
static int starts_type(int k)
{
	return k == TK_NAME || k == TK_STRING || k == TK_NUMBER || k == TK_NIL ||
	       k == TK_TRUE || k == TK_FALSE || k == '{' || k == '(';
}

/* A '>' closing type arguments or parameters; the first byte of `>>` or
** `>=` does, and the rest stays a token (rule T4). */
static void close_angle(struct parser *P)
{
	struct tlex_tok *t = &P->t[P->p];
	if (t->k == '>') {
		next(P);
	} else if (t->k == TK_SHR || t->k == TK_GE) {
		P->prev_end = t->s + 1;
		t->k = t->k == TK_SHR ? '>' : '=';
		t->s++;
		t->col++;
	} else {
		fail_near(P, P->p, "'>' expected");
	}
}

/* '(' ... ')' at token i: does it hold a comma outside nested brackets? */
static int has_top_comma(const struct parser *P, int i)
{
	int j = P->t[i].match;
	for (int k = i + 1; k < j; k++) {
		if (is_open(P->t[k].k) && P->t[k].match > k)
			k = P->t[k].match;
		else if (P->t[k].k == ',')
			return 1;
	}
	return 0;
}

/* Is the '(' at the current token the start of a function type, that is,
** is its matching ')' followed by '->'? (rules T2, T3) */
static int paren_is_function(const struct parser *P)
{
	int j = cur(P)->match;
	return j > 0 && j + 1 < P->nt && P->t[j + 1].k == TK_ARROW;
}

/* '@' Name ['(' [explist] ')'] */
static void validator(struct parser *P)
{
	next(P);
	name(P);
	if (kind(P) == '(') {
		int line = cur(P)->line;
		next(P);
		if (kind(P) != ')')
			explist(P);
		expect_match(P, ')', '(', line);
	}
}

/* Record fields up to (not including) the closing '}'. */
static int field_start(const struct parser *P)
{
	const struct tlex_tok *t = cur(P);
	if (t->k != TK_NAME)
		return 0;
	if (peek(P, 1) == ':')
		return 1;
	return peek(P, 1) == '?' && peek(P, 2) == ':' && t[2].s == t[1].e;
}

static void fields(struct parser *P)
{
	for (;;) {
		if (!field_start(P))
			fail_near(P, P->p, "field name expected");
		next(P);
		accept(P, '?');
		expect(P, ':');
		type(P);
		while (kind(P) == '@')
			validator(P);
		if (accept(P, ',') || accept(P, ';')) {
			if (kind(P) == '}')
				return;
			continue;
		}
		return;
	}
}

/* '{' ... '}' in a type (rule T1). */
static void table_type(struct parser *P)
{
	int line = cur(P)->line;
	next(P);
	if (kind(P) == '}') {
		next(P);
		return;
	}
	if (kind(P) == '[') {
		next(P);
		type(P);
		expect(P, ']');
		expect(P, ':');
		type(P);
	} else if (field_start(P)) {
		fields(P);
	} else {
		type(P);
	}
	expect_match(P, '}', '{', line);
}

/* FunParams, up to the ')'. */
static void fun_params(struct parser *P)
{
	if (kind(P) == ')')
		return;
	for (;;) {
		if (accept(P, TK_DOTS)) {
			accept(P, ':');
			if (kind(P) != ')')
				type(P);
			return;
		}
		if (kind(P) == TK_NAME && peek(P, 1) == ':') {
			next(P);
			next(P);
		}
		type(P);
		if (!accept(P, ','))
			return;
	}
}

/* FunResult: '()' | '(' Type ',' Type {',' Type} ')' | Type (rule T3). */
static void fun_result(struct parser *P)
{
	if (kind(P) == '(' && !paren_is_function(P)) {
		int line = cur(P)->line;
		if (peek(P, 1) == ')') {
			next(P);
			next(P);
			return;
		}
		if (has_top_comma(P, P->p)) {
			next(P);
			type(P);
			while (accept(P, ','))
				type(P);
			expect_match(P, ')', '(', line);
			return;
		}
	}
	type(P);
}

/* '(' in a type: a function type or grouping (rule T2). */
static void paren_type(struct parser *P)
{
	int open = P->p, line = cur(P)->line;
	if (paren_is_function(P)) {
		next(P);
		fun_params(P);
		expect_match(P, ')', '(', line);
		expect(P, TK_ARROW);
		fun_result(P);
		return;
	}
	if (peek(P, 1) == ')') {
		next(P);
		next(P);
		fail_near(P, P->p, "'->' expected after '()'");
	}
	if (has_top_comma(P, P->p))
		FAIL_TOK(P, &P->t[open], "a parenthesised type list is only allowed as a return type");
	next(P);
	type(P);
	expect_match(P, ')', '(', line);
}

/* TypeArgs after a type name. Notes `<const>` / `<close>` for rule S5. */
static void type_args(struct parser *P)
{
	int lt = P->p, n = 0, attr = 0;
	next(P);
	do {
		int first = P->p;
		type(P);
		if (n++ == 0 && P->p == first + 1 &&
		    (name_is_at(P, first, "const") || name_is_at(P, first, "close")))
			attr = 1;
	} while (accept(P, ','));
	close_angle(P);
	if (attr && n == 1) {
		P->attr_tok = lt;
		P->attr_end = P->prev_end;
	}
}

static void atom(struct parser *P)
{
	switch (kind(P)) {
	case TK_NIL: case TK_TRUE: case TK_FALSE: case TK_STRING: case TK_NUMBER:
		next(P);
		return;
	case '{':
		table_type(P);
		return;
	case '(':
		paren_type(P);
		return;
	case TK_NAME:
		break;
	default:
		fail_near(P, P->p, "type expected");
	}
	/* Contextual words (rule T6), then a possibly qualified type name. */
	if (peek(P, 1) == '(' && (name_is(P, "fun") || name_is(P, "typeof") ||
				  name_is(P, "keyof"))) {
		int fun = name_is(P, "fun"), key = name_is(P, "keyof");
		int line = cur(P)->line;
		next(P);
		next(P);
		if (fun)
			fun_params(P);
		else if (key)
			type(P);
		else
			expr(P);
		expect_match(P, ')', '(', line);
		if (fun && accept(P, ':'))
			fun_result(P);
		return;
	}
	if (peek(P, 1) == '{' && (name_is(P, "readonly") || name_is(P, "interface"))) {
		int iface = name_is(P, "interface"), line;
		next(P);
		if (!iface) {
			table_type(P);
			return;
		}
		line = cur(P)->line;
		next(P);
		if (kind(P) != '}')
			fields(P);
		expect_match(P, '}', '{', line);
		return;
	}
	if (peek(P, 1) == TK_NAME && name_is(P, "asserts")) {
		next(P);
		next(P);
		if (name_is(P, "is")) {
			next(P);
			type(P);
		}
		return;
	}
	next(P);
	while (kind(P) == '.' && peek(P, 1) == TK_NAME) {
		next(P);
		next(P);
	}
	if (kind(P) == '<')
		type_args(P);
}

/* Primary {Validator} {'?'}; in a conditional's test, a '?' that starts
** the branches is left alone (rule T5). */
static void simple(struct parser *P, int cond)
{
	atom(P);
	while (kind(P) == '[') {
		next(P);
		if (kind(P) != ']')
			type(P);
		expect(P, ']');
	}
	while (kind(P) == '@')
		validator(P);
	while (kind(P) == '?' && !(cond && starts_type(peek(P, 1))))
		next(P);
}

static void type(struct parser *P)
{
	enter(P);
	if (!starts_type(kind(P)))
		fail_near(P, P->p, "type expected");
	simple(P, 0);
	if (name_is(P, "extends")) {
		next(P);
		simple(P, 1);
		expect(P, '?');
		type(P);
		expect(P, ':');
		type(P);
	} else {
		while (kind(P) == '|' || kind(P) == '&') {
			next(P);
			if (!starts_type(kind(P)))
				fail_near(P, P->p, "type expected");
			simple(P, 0);
		}
	}
	leave(P);
}

/* `: Type` starting at the ':' (the current token): one span. */
static void annotation(struct parser *P, void (*parse)(struct parser *))
{
	uint32_t s = cur(P)->s;
	P->annot++;
	next(P);
	parse(P);
	P->annot--;
	add_span(P, s, 0);
}

/* A function's return annotation after ':' (rule T3 and the bare list). */
static void ret_types(struct parser *P)
{
	fun_result(P);
	while (accept(P, ','))
		type(P);
}

/* '<' typeparam {',' typeparam} '>' */
static void type_params_body(struct parser *P)
{
	next(P);
	do {
		name(P);
		if (accept(P, ':'))
			type(P);
	} while (accept(P, ','));
	close_angle(P);
}

static void type_params(struct parser *P)
{
	uint32_t s = cur(P)->s;
	P->annot++;
	type_params_body(P);
	P->annot--;
	add_span(P, s, 0);
}

/* {==== Expressions ====} */

enum { SUF_OTHER, SUF_VAR, SUF_CALL };

static void constructor(struct parser *P)
{
	int line = cur(P)->line;
	expect(P, '{');
	while (kind(P) != '}') {
		if (kind(P) == TK_NAME && peek(P, 1) == '=') {
			next(P);
			next(P);
			expr(P);
		} else if (kind(P) == '[') {
			next(P);
			expr(P);
			expect(P, ']');
			expect(P, '=');
			expr(P);
		} else {
			expr(P);
		}
		if (!accept(P, ',') && !accept(P, ';'))
			break;
	}
	expect_match(P, '}', '{', line);
}

static void funcargs(struct parser *P)
{
	int line = cur(P)->line;
	switch (kind(P)) {
	case '(':
		next(P);
		if (kind(P) != ')')
			explist(P);
		expect_match(P, ')', '(', line);
		return;
	case '{':
		constructor(P);
		return;
	case TK_STRING:
		next(P);
		return;
	default:
		fail_near(P, P->p, "function arguments expected");
	}
}

static int suffixedexp(struct parser *P)
{
	int kd;
	if (kind(P) == TK_NAME) {
		next(P);
		kd = SUF_VAR;
	} else if (kind(P) == '(') {
		int line = cur(P)->line;
		next(P);
		expr(P);
		expect_match(P, ')', '(', line);
		kd = SUF_OTHER;
	} else {
		fail_near(P, P->p, "unexpected symbol");
	}
	for (;;) {
		switch (kind(P)) {
		case '.':
			next(P);
			name(P);
			kd = SUF_VAR;
			break;
		case '[':
			next(P);
			expr(P);
			expect(P, ']');
			kd = SUF_VAR;
			break;
		case ':':
			next(P);
			name(P);
			funcargs(P);
			kd = SUF_CALL;
			break;
		case '(': case TK_STRING: case '{':
			funcargs(P);
			kd = SUF_CALL;
			break;
		default:
			return kd;
		}
	}
}

static void funcbody(struct parser *P, int line);

/* Casts and non-nil assertions after an operand (spec 2.2, S2, S3, S7). */
static void postfix(struct parser *P)
{
	for (;;) {
		uint32_t s = cur(P)->s;
		int k = kind(P);
		if (k == '!') {
			next(P);
			k = kind(P);
			if (k == '.' || k == '[' || k == ':')
				FAIL_TOK(P, cur(P), "'%c' cannot follow '!'; wrap the assertion in "
					 "parentheses, as in (x!).name", k);
			add_span(P, s, k == '(' ? ';' : 0);
		} else if (k == TK_BANGEQ) {
			FAIL_TOK(P, cur(P), "'!=' is not Lua; use '~='");
		} else if ((k == TK_DBCOLON && !(peek(P, 1) == TK_NAME && peek(P, 2) == TK_DBCOLON)) ||
			   (name_is(P, "as") && starts_type(peek(P, 1)))) {
			P->annot++;
			next(P);
			type(P);
			P->annot--;
			add_span(P, s, kind(P) == '(' ? ';' : 0);
		} else {
			return;
		}
	}
}

static void simpleexp(struct parser *P)
{
	switch (kind(P)) {
	case TK_NUMBER: case TK_STRING: case TK_NIL: case TK_TRUE: case TK_FALSE:
	case TK_DOTS:
		next(P);
		break;
	case '{':
		constructor(P);
		break;
	case TK_FUNCTION: {
		int line = cur(P)->line;
		next(P);
		funcbody(P, line);
		break;
	}
	default:
		suffixedexp(P);
	}
	postfix(P);
}

/* Lua's binary priorities {left, right}; -1 when k is not a binary op. */
static int binop(int k, int *right)
{
	int l, r;
	switch (k) {
	case '+': case '-': l = r = 10; break;
	case '*': case '/': case '%': case TK_IDIV: l = r = 11; break;
	case '^': l = 14; r = 13; break;
	case TK_CONCAT: l = 9; r = 8; break;
	case TK_SHL: case TK_SHR: l = r = 7; break;
	case '&': l = r = 6; break;
	case '~': l = r = 5; break;
	case '|': l = r = 4; break;
	case TK_EQ: case TK_NE: case '<': case TK_LE: case '>': case TK_GE:
		l = r = 3; break;
	case TK_AND: l = r = 2; break;
	case TK_OR: l = r = 1; break;
	default: return -1;
	}
	*right = r;
	return l;
}

#define UNARY_PRIORITY 12

static void subexpr(struct parser *P, int limit)
{
	int k = kind(P), l, r = 0;
	enter(P);
	if (k == TK_NOT || k == '-' || k == '#' || k == '~') {
		next(P);
		subexpr(P, UNARY_PRIORITY);
	} else {
		simpleexp(P);
	}
	while ((l = binop(kind(P), &r)) > limit) {
		next(P);
		subexpr(P, r);
	}
	leave(P);
}

static void expr(struct parser *P)
{
	subexpr(P, 0);
}

static void explist(struct parser *P)
{
	expr(P);
	while (accept(P, ','))
		expr(P);
}

/* {==== Statements ====} */

static int block_follow(const struct parser *P, int withuntil)
{
	switch (kind(P)) {
	case TK_ELSE: case TK_ELSEIF: case TK_END: case TK_EOF:
		return 1;
	case TK_UNTIL:
		return withuntil;
	default:
		return 0;
	}
}

/* [typeparams] '(' parlist ')' [':' rettypes] block 'end' */
static void funcbody(struct parser *P, int line)
{
	int pline;
	if (kind(P) == '<')
		type_params(P);
	pline = cur(P)->line;
	expect(P, '(');
	if (kind(P) != ')') {
		for (;;) {
			if (accept(P, TK_DOTS)) {
				if (kind(P) == ':')
					annotation(P, type);
				break;
			}
			name(P);
			if (kind(P) == ':')
				annotation(P, type);
			if (!accept(P, ','))
				break;
		}
	}
	expect_match(P, ')', '(', pline);
	if (kind(P) == ':')
		annotation(P, ret_types);
	block(P);
	expect_match(P, TK_END, TK_FUNCTION, line);
}

static void localstat(struct parser *P)
{
	do {
		name(P);
		if (accept(P, '<')) {
			name(P);
			expect(P, '>');
		}
		if (kind(P) == ':') {
			P->attr_tok = -1;
			annotation(P, type);
			if (P->attr_tok >= 0 && P->attr_end == P->prev_end) {
				const struct tlex_tok *lt = &P->t[P->attr_tok];
				FAIL_TOK(P, lt, "attribute '<%.*s>' must come before the ':' of the annotation",
					 (int)(lt[1].e - lt[1].s), P->src + lt[1].s);
			}
		}
	} while (accept(P, ','));
	if (accept(P, '='))
		explist(P);
}

static void no_for_annotation(struct parser *P)
{
	if (kind(P) == ':')
		FAIL_TOK(P, cur(P), "type annotations are not allowed on for-loop variables");
}

static void forstat(struct parser *P, int line)
{
	next(P);
	name(P);
	no_for_annotation(P);
	if (accept(P, '=')) {
		expr(P);
		expect(P, ',');
		expr(P);
		if (accept(P, ','))
			expr(P);
	} else if (kind(P) == ',' || kind(P) == TK_IN) {
		while (accept(P, ',')) {
			name(P);
			no_for_annotation(P);
		}
		expect(P, TK_IN);
		explist(P);
	} else {
		fail_near(P, P->p, "'=' or 'in' expected");
	}
	expect(P, TK_DO);
	block(P);
	expect_match(P, TK_END, TK_FOR, line);
}

/* 'type' Name [typeparams] '=' Type: blanked whole, ';' first (spec 3.2). */
static void typedecl(struct parser *P)
{
	uint32_t s = cur(P)->s;
	P->annot++;
	next(P);
	next(P);
	if (kind(P) == '<')
		type_params_body(P);
	expect(P, '=');
	type(P);
	P->annot--;
	add_span(P, s, ';');
}

/* 'interface' Name [':' Name {',' Name}] {method} 'end' */
static void interfacedecl(struct parser *P)
{
	uint32_t s = cur(P)->s;
	int line = cur(P)->line;
	P->annot++;
	next(P);
	next(P);
	if (accept(P, ':')) {
		do
			name(P);
		while (accept(P, ','));
	}
	while (kind(P) == TK_FUNCTION) {
		int pline;
		next(P);
		name(P);
		pline = cur(P)->line;
		expect(P, '(');
		if (kind(P) != ')') {
			do {
				if (accept(P, TK_DOTS)) {
					if (accept(P, ':'))
						type(P);
					break;
				}
				name(P);
				if (accept(P, ':'))
					type(P);
			} while (accept(P, ','));
		}
		expect_match(P, ')', '(', pline);
		if (accept(P, ':'))
			ret_types(P);
	}
	if (!accept(P, TK_END)) {
		char msg[64];
		snprintf(msg, sizeof(msg), "'end' expected (to close 'interface' at line %d)", line);
		fail_near(P, P->p, msg);
	}
	P->annot--;
	add_span(P, s, ';');
}

static void exprstat(struct parser *P)
{
	int kd = suffixedexp(P);
	if (kind(P) == '=' || kind(P) == ',') {
		if (kd != SUF_VAR)
			fail_near(P, P->p, "syntax error");
		while (accept(P, ',')) {
			if (suffixedexp(P) != SUF_VAR)
				fail_near(P, P->p, "syntax error");
		}
		expect(P, '=');
		explist(P);
	} else if (kd != SUF_CALL) {
		fail_near(P, P->p, "syntax error");
	}
}

static void test_then_block(struct parser *P)
{
	next(P);
	expr(P);
	expect(P, TK_THEN);
	block(P);
}

static void statement(struct parser *P)
{
	int line = cur(P)->line;
	enter(P);
	switch (kind(P)) {
	case ';':
		next(P);
		break;
	case TK_IF:
		test_then_block(P);
		while (kind(P) == TK_ELSEIF)
			test_then_block(P);
		if (accept(P, TK_ELSE))
			block(P);
		expect_match(P, TK_END, TK_IF, line);
		break;
	case TK_WHILE:
		next(P);
		expr(P);
		expect(P, TK_DO);
		block(P);
		expect_match(P, TK_END, TK_WHILE, line);
		break;
	case TK_DO:
		next(P);
		block(P);
		expect_match(P, TK_END, TK_DO, line);
		break;
	case TK_FOR:
		forstat(P, line);
		break;
	case TK_REPEAT:
		next(P);
		block(P);
		expect_match(P, TK_UNTIL, TK_REPEAT, line);
		expr(P);
		break;
	case TK_FUNCTION:
		next(P);
		name(P);
		while (accept(P, '.'))
			name(P);
		if (accept(P, ':'))
			name(P);
		funcbody(P, line);
		break;
	case TK_LOCAL:
		next(P);
		if (accept(P, TK_FUNCTION)) {
			name(P);
			funcbody(P, line);
		} else {
			localstat(P);
		}
		break;
	case TK_DBCOLON:
		next(P);
		name(P);
		expect(P, TK_DBCOLON);
		break;
	case TK_BREAK:
		next(P);
		break;
	case TK_GOTO:
		next(P);
		name(P);
		break;
	case TK_NAME:
		/* Two names in a row never start a plain Lua statement (S1). */
		if (peek(P, 1) == TK_NAME && name_is(P, "type")) {
			typedecl(P);
		} else if (peek(P, 1) == TK_NAME && name_is(P, "interface")) {
			interfacedecl(P);
		} else if (name_is(P, "export") && name_is_at(P, P->p + 1, "type")) {
			FAIL_TOK(P, cur(P), "'export type' is not supported (a type is "
				 "exported by returning it from the module)");
		} else {
			exprstat(P);
		}
		break;
	default:
		exprstat(P);
	}
	leave(P);
}

static void retstat(struct parser *P)
{
	next(P);
	if (!block_follow(P, 1) && kind(P) != ';')
		explist(P);
	accept(P, ';');
}

static void block(struct parser *P)
{
	while (!block_follow(P, 1)) {
		if (kind(P) == TK_RETURN) {
			retstat(P);
			return;
		}
		statement(P);
	}
}

/* {==== Entry point ====} */

int erase_source(const char *src, size_t len, char *out, struct erase_err *err)
{
	struct parser *P;
	int rc;

	if (len >= UINT32_MAX) {
		*err = (struct erase_err){ 1, 1, "source too large" };
		return -1;
	}
	P = xcalloc(1, sizeof(*P));
	P->err = err;
	P->attr_tok = -1;
	tlex_run(&P->lx, src, (uint32_t)len);
	P->src = src;
	P->t = P->lx.t;
	P->nt = P->lx.nt;
	if (setjmp(P->jb) == 0) {
		lexerr_reached(P);
		block(P);
		if (kind(P) != TK_EOF)
			fail_near(P, P->p, "'<eof>' expected");
		if (out != src)
			memmove(out, src, len);
		for (int i = 0; i < P->nsp; i++) {
			const struct span *s = &P->sp[i];
			for (uint32_t b = s->s; b < s->e; b++)
				if (!space((unsigned char)out[b]))
					out[b] = ' ';
			if (s->sep)
				out[s->s] = s->sep;
		}
		rc = P->nsp > 0;
	} else {
		rc = -1;
	}
	tlex_free(&P->lx);
	free(P->sp);
	free(P);
	return rc;
}
