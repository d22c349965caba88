/*
** runtime/tlex.h: the lexer of the typed-Lua eraser (runtime/erase.c).
** Internal to the eraser; nothing else includes it.
**
** Lua 5.4's lexer (llex.c), plus the dialect's tokens `->`, `?`, `!`, `@`
** (and `!=`, lexed only so the parser can refuse it with a hint), run over
** the whole source at once so the parser can look past brackets: every
** bracket token knows the index of its pair.
*/
#ifndef RUNTIME_TLEX_H
#define RUNTIME_TLEX_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "erase.h"

/* Token kinds: single characters stand for themselves (< 256). */
enum {
	TK_AND = 257, TK_BREAK, TK_DO, TK_ELSE, TK_ELSEIF, TK_END, TK_FALSE,
	TK_FOR, TK_FUNCTION, TK_GOTO, TK_IF, TK_IN, TK_LOCAL, TK_NIL, TK_NOT,
	TK_OR, TK_REPEAT, TK_RETURN, TK_THEN, TK_TRUE, TK_UNTIL, TK_WHILE,
	/* multi-character symbols */
	TK_IDIV, TK_CONCAT, TK_DOTS, TK_EQ, TK_GE, TK_LE, TK_NE, TK_SHL,
	TK_SHR, TK_DBCOLON, TK_ARROW, TK_BANGEQ,
	/* the rest */
	TK_EOF, TK_NUMBER, TK_NAME, TK_STRING,
	TK_LEXERR         /* where the lexer stopped on an error */
};

#define TK_NRESERVED (TK_WHILE - TK_AND + 1)

struct tlex_tok {
	int k;
	uint32_t s, e;   /* source bytes [s, e) */
	int line, col;
	int match;       /* index of the paired bracket, or -1 */
};

/* A tokenised source. After tlex_run, t[0..nt) ends with one TK_EOF; on
** a lexical error the tokens before it are kept, then one TK_LEXERR (err
** says what), then TK_EOF: the parser reports the error when it reaches
** that token, as Lua's on-demand lexer would, so an earlier syntax error
** is still the first one reported. */
struct tlex {
	const char *src;
	uint32_t len;
	struct tlex_tok *t;
	int nt;
	struct erase_err err;
	/* private */
	int tcap, nt_done, *stack;
	jmp_buf ljb;
};

/* Tokenise src[0..len). Allocates with xmalloc; free with tlex_free. */
void tlex_run(struct tlex *X, const char *src, uint32_t len);
void tlex_free(struct tlex *X);

/* The token as Lua's messages quote it: 'text' (at most 40 bytes, control
** bytes as <\N>), or <eof>. */
void tlex_near(const struct tlex *X, const struct tlex_tok *t, char *buf, size_t n);

/* The name of token kind k for "'x' expected" messages: 'c', 'end', '::',
** <eof>, <name>. */
void tlex_kind(int k, char *buf, size_t n);

#endif
