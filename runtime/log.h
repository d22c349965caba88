/*
** runtime/log.h: the runtime's structured log sink.
**
** Every record is one line, either text
**
**   2026-11-22T10:15:30.123Z INFO  stats                {"alive": 10000}
**
** or JSON (`--log-format json`)
**
**   {"ts":"2026-11-22T10:15:30.123Z","level":"info","msg":"stats","alive":10000}
**
** Records are formatted straight into a buffer owned by the calling thread
** (LOG_BUF_SIZE bytes, allocated on first use), so the hot path takes no
** lock and makes no system call. The buffer reaches the output fd with one
** write(2) when log_flush() is called (the engine does so at the end of
** every loop turn on every shard thread), when the next record does not fit,
** for every ERROR record, and when the thread exits. Records written by one
** thread appear in the order they were written; lines of different threads
** never interleave inside a line.
**
** The configuration (log_configure, log_set_clock) is written once at
** startup, before any other thread starts; everything else is thread-safe
** and runs on the calling thread's own buffer.
*/
#ifndef RUNTIME_LOG_H
#define RUNTIME_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_SILENT	/* as a minimum level: log nothing (`-s`) */
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON
};

/* Size of each thread's buffer, and so the longest line that is written
** whole. A record that cannot fit is cut at its last complete top-level
** field and gets the field "truncated": true (see log_end). */
#define LOG_BUF_SIZE (64 * 1024)

/* Message text beyond this many output bytes is cut and ends in "...". */
#define LOG_MSG_MAX (8 * 1024)

/* Deepest nesting of log_obj_begin/log_arr_begin inside one record. */
#define LOG_MAX_DEPTH 32

/* A record under construction. Opaque; lives in the thread's buffer state
** and is valid from log_begin until log_end or log_abort. */
struct log_rec;

/* Internal: the minimum enabled level, read by log_enabled(). */
extern int log__min_level;

/* Set the minimum level, the output format and the output fd (default:
** LOG_LEVEL_INFO, LOG_FORMAT_TEXT, fd 2). Call once at startup, before
** other threads start logging; the fd is not closed by this module. */
void log_configure(enum log_level min, enum log_format format, int fd);

/* Replace the wall clock (milliseconds since the Unix epoch) used for the
** `ts` of each record; NULL restores the default CLOCK_REALTIME. For tests.
** Same threading rule as log_configure. */
void log_set_clock(uint64_t (*now_ms)(void));

/* True when records at `level` are written. A plain load and a compare:
** callers use it to skip building fields nobody will see. */
static inline int log_enabled(enum log_level level)
{
	return (int)level >= log__min_level;
}

/* Write a runtime message: the text from printf-style `fmt` (cut to
** LOG_MSG_MAX), plus the members of `fields_json` when it is not NULL. That
** string must be a JSON object, e.g. "{\"shard\":3}"; its members are copied
** verbatim into the record. Does nothing when the level is disabled. */
void log_printf(enum log_level level, const char *fields_json,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_printf(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)  log_printf(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_printf(LOG_LEVEL_WARN, NULL, __VA_ARGS__)

/* Log each line of text (a NUL-terminated, newline-separated list, as
** registry warnings are; NULL is none) as its own WARN record. */
void log_warn_lines(const char *text);
#define log_error(...) log_printf(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)

/*
** Record builder. log_begin() starts a record on the calling thread's
** buffer and writes its header; fields are then added in order; log_end()
** commits the line. Nothing is allocated. The returned record is never
** NULL: when the level is disabled (or records are nested deeper than the
** builder supports) it is an inert record on which every call is a no-op,
** so callers need not check.
**
** Records may nest (a record begun while another is open on the same
** thread, e.g. a Lua __tostring that logs while its value is being
** formatted): the inner record is committed before the outer one. Only the
** innermost open record may be written to.
**
** `key` is the field name (any bytes; it is escaped); it must be NULL for
** the elements of an array and non-NULL everywhere else.
*/
struct log_rec *log_begin(enum log_level level, const char *msg, size_t msglen);

/* A string value, JSON-escaped (invalid UTF-8 becomes U+FFFD). */
void log_field_str(struct log_rec *r, const char *key,
		   const char *s, size_t len);

/* An integer value, printed as an integer. */
void log_field_int(struct log_rec *r, const char *key, int64_t v);

/* A floating-point value, printed like Lua's %.14g (3.0 prints "3.0");
** NaN and infinities print as null. */
void log_field_num(struct log_rec *r, const char *key, double v);

/* A boolean value, true or false. */
void log_field_bool(struct log_rec *r, const char *key, int v);

/* The value null. */
void log_field_null(struct log_rec *r, const char *key);

/* A value given as JSON text, copied verbatim: the caller vouches that it
** is one valid JSON value without newlines. */
void log_field_raw_json(struct log_rec *r, const char *key,
			const char *json, size_t len);

/* Open a nested object or array as the value of `key` (NULL inside an
** array); close it with log_obj_end / log_arr_end. Nesting past
** LOG_MAX_DEPTH writes null instead and ignores the matching end call. */
void log_obj_begin(struct log_rec *r, const char *key);
void log_obj_end(struct log_rec *r);
void log_arr_begin(struct log_rec *r, const char *key);
void log_arr_end(struct log_rec *r);

/* Commit the record: close containers left open, add "truncated": true if
** the record was cut, end the line. ERROR records are flushed at once.
** `r` is invalid afterwards. */
void log_end(struct log_rec *r);

/* Drop the record (and any record nested inside it) without writing
** anything: for callers unwound by an error half-way through a record. */
void log_abort(struct log_rec *r);

/* Write the calling thread's committed records with one write(2) (looping
** on short writes; EAGAIN is retried for about a second). Output failures
** are counted, never silent: see log_dropped_bytes. Cheap when there is
** nothing to write. */
void log_flush(void);

/* Flush and free the calling thread's buffer. Threads that log call this
** before they exit; it also runs automatically from a thread-exit
** destructor, and for the thread that calls exit() from an atexit handler.
** Logging again afterwards allocates a new buffer. */
void log_thread_exit(void);

/* Bytes that could not be written (write error, or EAGAIN for too long)
** or records that could not be built, since startup. After a loss the next
** successful flush also writes a WARN line saying how much was dropped. */
uint64_t log_dropped_bytes(void);

#endif
