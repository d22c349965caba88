/*
** runtime/erase.h: the typed-Lua eraser. Wippy sources carry gradual type
** annotations (`local n: integer`, `type T = {...}`, `x :: string`); the
** eraser parses the dialect (spec/typed-lua.md, section 2) and blanks every
** annotation in place so stock Lua 5.4 compiles the result.
**
** Contract (spec 3.1): the output has the input's length; outside an
** annotation it equals the input byte for byte; inside one every byte that
** is not whitespace becomes a space, except that a type declaration, and a
** cast or `!` followed by `(`, start with `;` so erasing cannot join two
** statements. So every remaining token keeps its line and byte column, and
** Lua's errors and tracebacks point at what the user wrote.
*/
#ifndef RUNTIME_ERASE_H
#define RUNTIME_ERASE_H

#include <stddef.h>

/* The first error of a source that does not parse: 1-based line and byte
** column of the offending token (or of the end of input), and a message in
** Lua's wording where Lua has one ("type expected near '='"). */
struct erase_err {
	int line, col;
	char msg[160];
};

/* Erase src[0..len) into out, which has room for len bytes (out may be
** src itself). Returns 1 if an annotation was erased, 0 if out equals src
** (plain Lua), or -1 on a syntax error, with err filled and out's contents
** unspecified. Never reads outside src; nesting deeper than Lua's own limit
** is an error, not a stack overflow. Thread-safe: no global state. */
int erase_source(const char *src, size_t len, char *out, struct erase_err *err);

#endif
