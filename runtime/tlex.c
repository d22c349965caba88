/*
** runtime/tlex.c: the typed-Lua eraser's lexer (see tlex.h). Owns token
** kinds and their names; knows nothing of the grammar.
*/
#include "tlex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"

static const char *const tk_names[] = {
	"and", "break", "do", "else", "elseif", "end", "false", "for",
	"function", "goto", "if", "in", "local", "nil", "not", "or",
	"repeat", "return", "then", "true", "until", "while",
	"//", "..", "...", "==", ">=", "<=", "~=", "<<", ">>", "::", "->",
	"!=", "<eof>", "<number>", "<name>", "<string>", "<error>"
};

void tlex_kind(int k, char *buf, size_t n)
{
	if (k < 256)
		snprintf(buf, n, "'%c'", k);
	else
		snprintf(buf, n, k >= TK_EOF ? "%s" : "'%s'", tk_names[k - TK_AND]);
}

void tlex_near(const struct tlex *P, const struct tlex_tok *t, char *buf, size_t n)
{
	size_t w = 0, len;
	if (t->k == TK_EOF) {
		snprintf(buf, n, "<eof>");
		return;
	}
	len = t->e - t->s;
	if (len > 40)
		len = 40;
	buf[w++] = '\'';
	for (size_t i = 0; i < len && w + 8 < n; i++) {
		unsigned char c = (unsigned char)P->src[t->s + i];
		if (c < 32 || c == 127)
			w += (size_t)snprintf(buf + w, n - w, "<\\%u>", c);
		else
			buf[w++] = (char)c;
	}
	buf[w++] = '\'';
	buf[w] = '\0';
}

/* Stop lexing: record the error and unwind to tlex_run. */
static void lex_error(struct tlex *P, int line, int col, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

static void lex_error(struct tlex *P, int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	P->err.line = line;
	P->err.col = col;
	vsnprintf(P->err.msg, sizeof(P->err.msg), fmt, ap);
	va_end(ap);
	longjmp(P->ljb, 1);
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_xdigit(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

struct lexer {
	struct tlex *P;
	uint32_t i;
	int line;
	uint32_t bol;     /* offset where the current line starts */
};

static int at(const struct lexer *X, uint32_t i)
{
	return i < X->P->len ? (unsigned char)X->P->src[i] : -1;
}

/* Consume one line ending at X->i: \n, \r, \r\n or \n\r (Lua's rule). */
static void newline(struct lexer *X)
{
	int c = at(X, X->i);
	X->i++;
	if ((at(X, X->i) == '\n' || at(X, X->i) == '\r') && at(X, X->i) != c)
		X->i++;
	X->line++;
	X->bol = X->i;
}

/* At '[': the level of a long bracket `[==[` (number of '='), -1 for a
** plain '[', -2 for '[=' not followed by '[' (invalid as a string). */
static int long_level(const struct lexer *X, uint32_t i)
{
	uint32_t j = i + 1;
	while (at(X, j) == '=')
		j++;
	if (at(X, j) == '[')
		return (int)(j - i - 1);
	return j == i + 1 ? -1 : -2;
}

static void lex_fail(struct lexer *X, const char *what)
{
	lex_error(X->P, X->line, (int)(X->i - X->bol) + 1, "%s near <eof>", what);
}

/* Skip a long string or comment whose opening bracket of `level` starts
** at X->i. */
static void skip_long(struct lexer *X, int level, const char *what)
{
	X->i += (uint32_t)level + 2;
	for (;;) {
		int c = at(X, X->i);
		if (c < 0) {
			lex_fail(X, what);
		} else if (c == ']') {
			uint32_t j = X->i + 1;
			while (at(X, j) == '=')
				j++;
			if (at(X, j) == ']' && (int)(j - X->i - 1) == level) {
				X->i = j + 1;
				return;
			}
			X->i++;
		} else if (c == '\n' || c == '\r') {
			newline(X);
		} else {
			X->i++;
		}
	}
}

static void skip_string(struct lexer *X, int quote, const struct tlex_tok *t)
{
	X->i++;
	for (;;) {
		int c = at(X, X->i);
		if (c < 0)
			lex_fail(X, "unfinished string");
		if (c == '\n' || c == '\r') {
			char nb[64];
			struct tlex_tok tt = *t;
			tt.e = X->i;
			tlex_near(X->P, &tt, nb, sizeof(nb));
			lex_error(X->P, t->line, t->col, "unfinished string near %s", nb);
		}
		X->i++;
		if (c == quote)
			return;
		if (c != '\\')
			continue;
		c = at(X, X->i);
		if (c == '\n' || c == '\r') {
			newline(X);
		} else if (c == 'z') {
			X->i++;
			while (is_space(at(X, X->i))) {
				if (at(X, X->i) == '\n' || at(X, X->i) == '\r')
					newline(X);
				else
					X->i++;
			}
		} else if (c >= 0) {
			X->i++;  /* \x, \u, \ddd: the rest are ordinary bytes */
		}
	}
}

/* Lua's read_numeral: digits, '.', exponents with signs, and one letter
** touching the end (which makes Lua report a malformed number). */
static void skip_number(struct lexer *X)
{
	const char *expo = "Ee";
	if (at(X, X->i) == '0' && (at(X, X->i + 1) == 'x' || at(X, X->i + 1) == 'X')) {
		X->i += 2;
		expo = "Pp";
	}
	for (;;) {
		int c = at(X, X->i);
		if (c == expo[0] || c == expo[1]) {
			X->i++;
			if (at(X, X->i) == '+' || at(X, X->i) == '-')
				X->i++;
		} else if (is_xdigit(c) || c == '.') {
			X->i++;
		} else {
			break;
		}
	}
	if (is_alpha(at(X, X->i)))
		X->i++;
}

/* Lengths of the reserved words, in tk_names order. */
static const unsigned char kw_len[TK_NRESERVED] = {
	3, 5, 2, 4, 6, 3, 5, 3, 8, 4, 2, 2, 5, 3, 3, 2, 6, 6, 4, 4, 5, 5
};

/* Is s[0..n) a numeral Lua reads (luaO_str2num's forms: decimal or hex,
** with a fraction and an exponent)? */
static int numeral_ok(const char *s, uint32_t n)
{
	uint32_t i = 0;
	int hex = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'), digits = 0;
	int (*dig)(int) = hex ? is_xdigit : is_digit;
	if (hex)
		i = 2;
	for (; i < n && dig((unsigned char)s[i]); i++)
		digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && dig((unsigned char)s[i]); i++)
			digits++;
	if (digits == 0)
		return 0;
	if (i < n && (hex ? (s[i] == 'p' || s[i] == 'P') : (s[i] == 'e' || s[i] == 'E'))) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || !is_digit((unsigned char)s[i]))
			return 0;
		while (i < n && is_digit((unsigned char)s[i]))
			i++;
	}
	return i == n;
}

/* Read a numeral at X->i, refusing one Lua would call malformed. */
static void lex_number(struct lexer *X)
{
	uint32_t s = X->i;
	skip_number(X);
	if (!numeral_ok(X->P->src + s, X->i - s)) {
		struct tlex_tok t = { TK_NUMBER, s, X->i, X->line, (int)(s - X->bol) + 1, -1 };
		char nb[64];
		tlex_near(X->P, &t, nb, sizeof(nb));
		lex_error(X->P, t.line, t.col, "malformed number near %s", nb);
	}
}

static int keyword(const char *s, uint32_t n)
{
	if (n < 2 || n > 8)
		return TK_NAME;
	for (int k = 0; k < TK_NRESERVED; k++)
		if (kw_len[k] == n && tk_names[k][0] == s[0] && memcmp(tk_names[k], s, n) == 0)
			return TK_AND + k;
	return TK_NAME;
}

/* One token at X->i (after blanks and comments). */
static int lex_one(struct lexer *X)
{
	int c = at(X, X->i), d = at(X, X->i + 1);
	switch (c) {
	case '-':
		X->i += d == '>' ? 2 : 1;
		return d == '>' ? TK_ARROW : '-';
	case '[':
		switch (long_level(X, X->i)) {
		case -1:
			X->i++;
			return '[';
		case -2:
			lex_error(X->P, X->line, (int)(X->i - X->bol) + 1,
				"invalid long string delimiter near '[='");
		default:
			skip_long(X, long_level(X, X->i), "unfinished long string");
			return TK_STRING;
		}
	case '=': X->i += d == '=' ? 2 : 1; return d == '=' ? TK_EQ : '=';
	case '<':
		if (d == '=' || d == '<') {
			X->i += 2;
			return d == '=' ? TK_LE : TK_SHL;
		}
		X->i++;
		return '<';
	case '>':
		if (d == '=' || d == '>') {
			X->i += 2;
			return d == '=' ? TK_GE : TK_SHR;
		}
		X->i++;
		return '>';
	case '/': X->i += d == '/' ? 2 : 1; return d == '/' ? TK_IDIV : '/';
	case '~': X->i += d == '=' ? 2 : 1; return d == '=' ? TK_NE : '~';
	case ':': X->i += d == ':' ? 2 : 1; return d == ':' ? TK_DBCOLON : ':';
	case '!': X->i += d == '=' ? 2 : 1; return d == '=' ? TK_BANGEQ : '!';
	case '"':
	case '\'':
		return TK_STRING; /* skipped by the caller, which has the token */
	case '.':
		if (d == '.') {
			if (at(X, X->i + 2) == '.') {
				X->i += 3;
				return TK_DOTS;
			}
			X->i += 2;
			return TK_CONCAT;
		}
		if (!is_digit(d)) {
			X->i++;
			return '.';
		}
		lex_number(X);
		return TK_NUMBER;
	default:
		if (is_digit(c)) {
			lex_number(X);
			return TK_NUMBER;
		}
		if (is_alpha(c)) {
			uint32_t s = X->i;
			while (is_alpha(at(X, X->i)) || is_digit(at(X, X->i)))
				X->i++;
			return keyword(X->P->src + s, X->i - s);
		}
		X->i++;
		return c;
	}
}

static struct tlex_tok *push_tok(struct tlex *P)
{
	if (P->nt == P->tcap) {
		P->tcap = P->tcap ? P->tcap * 2 : 256;
		P->t = xrealloc(P->t, (size_t)P->tcap * sizeof(*P->t));
	}
	return &P->t[P->nt++];
}

static int is_open(int k)
{
	return k == '(' || k == '[' || k == '{';
}

static int closer_of(int k)
{
	return k == '(' ? ')' : k == '[' ? ']' : '}';
}

/* Tokenise the whole source, ending with one TK_EOF, and pair brackets.
** P->stack has room for every token. */
static void lex(struct tlex *P)
{
	struct lexer X = { P, 0, 1, 0 };
	int *stack = P->stack;
	int nstack = 0;
	struct tlex_tok *t;


	/* A first line starting with '#' is skipped, as luaL_loadfile does. */
	if (at(&X, 0) == '#')
		while (at(&X, X.i) >= 0 && at(&X, X.i) != '\n' && at(&X, X.i) != '\r')
			X.i++;
	for (;;) {
		int c = at(&X, X.i);
		if (c == '\n' || c == '\r') {
			newline(&X);
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
			X.i++;
			continue;
		}
		if (c == '-' && at(&X, X.i + 1) == '-') {
			X.i += 2;
			if (at(&X, X.i) == '[' && long_level(&X, X.i) >= 0) {
				skip_long(&X, long_level(&X, X.i), "unfinished long comment");
			} else {
				while (at(&X, X.i) >= 0 && at(&X, X.i) != '\n' && at(&X, X.i) != '\r')
					X.i++;
			}
			continue;
		}
		t = push_tok(P);
		t->s = X.i;
		t->line = X.line;
		t->col = (int)(X.i - X.bol) + 1;
		t->match = -1;
		if (c < 0) {
			t->k = TK_EOF;
			t->e = X.i;
			break;
		}
		t->k = lex_one(&X);
		if (c == '"' || c == '\'')
			skip_string(&X, c, t);
		t->e = X.i;
		if (is_open(t->k)) {
			stack[nstack++] = P->nt - 1;
		} else if ((t->k == ')' || t->k == ']' || t->k == '}') && nstack > 0 &&
			   closer_of(P->t[stack[nstack - 1]].k) == t->k) {
			int o = stack[--nstack];
			P->t[o].match = P->nt - 1;
			t->match = o;
		}
		P->nt_done = P->nt;
	}
}

void tlex_run(struct tlex *P, const char *src, uint32_t len)
{
	struct tlex_tok *t;
	*P = (struct tlex){ .src = src, .len = len };
	P->stack = xmalloc(((size_t)len + 1) * sizeof(int));
	if (setjmp(P->ljb) == 0) {
		lex(P);
	} else {
		P->nt = P->nt_done; /* drop a token the error cut short */
		t = push_tok(P);
		*t = (struct tlex_tok){ TK_LEXERR, P->len, P->len, P->err.line, P->err.col, -1 };
		t = push_tok(P);
		*t = (struct tlex_tok){ TK_EOF, P->len, P->len, P->err.line, P->err.col, -1 };
	}
}

void tlex_free(struct tlex *P)
{
	free(P->stack);
	free(P->t);
	P->stack = NULL;
	P->t = NULL;
}
