/*
** runtime/reg_error.c: the registry's error and warning lists.
**
** Owns: struct reg_error (one "file:line:col: id: what" line per problem,
** capped at REG_ERROR_MAX lines with the true count kept) and the helpers
** every registry file reports through. It may not decide what is an error:
** callers do.
*/
#include "runtime/reg_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reg_error_free(struct reg_error *err)
{
	if (err == NULL)
		return;
	free(err->msg);
	memset(err, 0, sizeof(*err));
}

/* Append line and a newline. A control byte inside it (a name or value
** quoted from the user's YAML may hold newlines) is written as \n, \t or
** \xHH, so one error is always one line that starts with its position. */
static void err_append(struct reg_error *err, const char *line)
{
	size_t len = strlen(line);

	if (err->_len + 4 * len + 2 > err->_cap) {
		err->_cap = (err->_len + 4 * len + 2) * 2;
		err->msg = xrealloc(err->msg, err->_cap);
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c >= 0x20 && c != 0x7f) {
			err->msg[err->_len++] = (char)c;
		} else if (c == '\n' || c == '\t') {
			err->msg[err->_len++] = '\\';
			err->msg[err->_len++] = c == '\n' ? 'n' : 't';
		} else {
			snprintf(err->msg + err->_len, 5, "\\x%02x", c);
			err->_len += 4;
		}
	}
	err->msg[err->_len++] = '\n';
	err->msg[err->_len] = '\0';
}

/* Append one line; past REG_ERROR_MAX only the count grows. */
void reg__err_line(struct reg_error *err, const char *line)
{
	if (++err->count <= REG_ERROR_MAX)
		err_append(err, line);
}

/* Close the list: drop the last newline, note what the cap cut off. */
void reg__err_finish(struct reg_error *err)
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
void reg__vreport(struct reg_error *list, const struct reg_entry *e,
		    const struct reg_value *v, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n = 0;

	if (v != NULL && v->file != NULL)
		n = (size_t)snprintf(buf, sizeof(buf), "%s:%d:%d: ",
				     v->file, v->line, v->col);
	else if (e != NULL && e->file != NULL)	/* made at run time: no file */
		n = (size_t)snprintf(buf, sizeof(buf), "%s:%d:%d: ",
				     e->file, e->line, e->col);
	if (e != NULL && n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s: ", e->id);
	if (n < sizeof(buf))
		vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	reg__err_line(list, buf);
}

/* An error (the load fails) about e at v, as vreport. */
void reg__errat(struct loader *L, const struct reg_entry *e,
		  const struct reg_value *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reg__vreport(&L->err, e, v, fmt, ap);
	va_end(ap);
}

/* A warning (kept in the registry, the load goes on) about e at v. */
void reg__warnat(struct reg_error *list, const struct reg_entry *e,
		   const struct reg_value *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reg__vreport(list, e, v, fmt, ap);
	va_end(ap);
}
