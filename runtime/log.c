/*
** runtime/log.c: the log sink (log_*): per-thread record buffers and their
** one-write flush to the output fd.
**
** Each thread that logs owns one `struct tls` (allocated on first use,
** freed by log_thread_exit or the thread-exit destructor). Its buffer holds,
** in order:
**
**   [0, len)                  committed lines, waiting for log_flush
**   [recs[0].start, ...cur)   the records still being built, outermost
**                             first; recs[i + 1].start == recs[i].cur
**
** so recs[0].start == len whenever a record is open, and only the innermost
** record grows. A record is formatted in place; log_end makes it committed
** by advancing `len` (for a nested record, after rotating it in front of
** the unfinished outer ones). When a write would cross LIMIT, the committed
** part is flushed and the open records are moved to the front; a record
** that alone cannot fit is rolled back to its last complete top-level field
** (`safe`) and finished with "truncated": true in the RESERVE bytes that
** ordinary writes never use.
**
** Only the write(2) itself is serialized across threads, by write_lock:
** writes of more than PIPE_BUF bytes to a pipe may otherwise interleave with
** another thread's write when the pipe fills, which would cut lines. That
** is one lock per flush (once per loop turn), never one per record.
*/
#include "runtime/log.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/common.h"
#include "runtime/gotime.h"

#define NEST_MAX     4			/* records open at once per thread */
#define RESERVE      64			/* tail bytes kept for log_end */
#define LIMIT        (LOG_BUF_SIZE - RESERVE)
#define MSG_COL      21			/* text: fields start in this column */
#define PRINTF_MAX   2048		/* log_printf message buffer */
#define EAGAIN_TRIES 100		/* x 10 ms poll = about one second */

enum { C_OBJ = 1, C_ARR = 2 };

struct log_rec {
	struct tls *t;		/* NULL only for the inert record */
	uint32_t start;		/* offsets into t->buf */
	uint32_t cur;
	uint32_t safe;		/* end of the last complete top-level field */
	uint32_t msg_w;		/* bytes the message took (text column) */
	uint32_t skip;		/* containers opened past LOG_MAX_DEPTH */
	uint8_t level;
	uint8_t dead;		/* every call is a no-op, nothing is committed */
	uint8_t truncated;	/* cut at `safe`; further writes are dropped */
	uint8_t has_fields;
	uint8_t safe_has_fields;
	uint8_t depth;		/* open containers, 0 = top level */
	uint8_t first[LOG_MAX_DEPTH + 1];	/* container has no member yet */
	uint8_t kind[LOG_MAX_DEPTH + 1];	/* C_OBJ or C_ARR */
};

struct tls {
	uint32_t len;		/* committed bytes at the front of buf */
	int nopen;		/* records in recs[0..nopen) are open */
	int64_t ts_sec;		/* the second ts_date describes, or -1 */
	char ts_date[20];	/* "YYYY-MM-DDTHH:MM:SS" */
	struct log_rec recs[NEST_MAX];
	char buf[LOG_BUF_SIZE];
};

static const char *const lvl_text[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };
static const char *const lvl_json[] = { "debug", "info", "warn", "error" };

static uint64_t real_ms(void);

/* Configuration: written by log_configure before other threads exist. */
int log__min_level = LOG_LEVEL_INFO;
static int fmt_json;
static int out_fd = 2;
static uint64_t (*clock_ms)(void) = real_ms;

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t dropped;	/* total lost bytes */
static _Atomic uint64_t unreported;	/* lost bytes not yet announced */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static __thread struct tls *me;

/* Handed out when nothing may be written; never modified (it is const, so
** a stray write faults instead of corrupting state). */
static const struct log_rec inert = { .dead = 1 };
#define INERT ((struct log_rec *)&inert)

static uint64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);	/* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* {==================================================================
** Output
** =================================================================== */

/* Write all of p[0, n) to out_fd; caller holds write_lock. Short writes
** loop, EINTR retries, EAGAIN (a non-blocking fd shared with someone else)
** waits for POLLOUT up to about a second. Anything else, or giving up,
** counts the rest as dropped. */
static void write_all(const char *p, size_t n)
{
	int tries = 0;

	while (n > 0) {
		ssize_t w = write(out_fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			tries = 0;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if ((w == 0 || errno == EAGAIN || errno == EWOULDBLOCK) &&
		    tries++ < EAGAIN_TRIES) {
			struct pollfd pfd = { .fd = out_fd, .events = POLLOUT };
			poll(&pfd, 1, 10);
			continue;
		}
		atomic_fetch_add(&dropped, n);
		atomic_fetch_add(&unreported, n);
		return;
	}
}

/* Write the committed lines of t and move the open records, if any, to the
** front of the buffer (fixing their offsets). */
static void flush_tls(struct tls *t)
{
	uint32_t sh = t->len;
	int i;

	if (sh == 0)
		return;
	pthread_mutex_lock(&write_lock);
	write_all(t->buf, sh);
	pthread_mutex_unlock(&write_lock);
	if (t->nopen > 0) {
		memmove(t->buf, t->buf + sh, t->recs[t->nopen - 1].cur - sh);
		for (i = 0; i < t->nopen; i++) {
			t->recs[i].start -= sh;
			t->recs[i].cur -= sh;
			t->recs[i].safe -= sh;
		}
	}
	t->len = 0;
}

/* The thread-exit destructor (also log_thread_exit and the atexit path):
** write what is committed, drop unfinished records, free the buffer. It
** runs on the owning thread, so `me` is that thread's pointer. */
static void tls_free(void *p)
{
	struct tls *t = p;

	t->nopen = 0;		/* unfinished records die with the thread */
	flush_tls(t);
	if (me == t)
		me = NULL;
	free(t);
}

/* exit() skips thread-exit destructors for the thread that calls it. */
static void at_exit(void)
{
	log_thread_exit();
}

static void init_once(void)
{
	pthread_key_create(&tls_key, tls_free);
	atexit(at_exit);
}

/* First record on this thread: allocate its buffer (xmalloc aborts on
** failure) and register it with the destructor key. */
static struct tls *tls_new(void)
{
	struct tls *t;

	pthread_once(&once, init_once);
	t = xmalloc(sizeof *t);
	t->len = 0;
	t->nopen = 0;
	t->ts_sec = -1;
	pthread_setspecific(tls_key, t);
	me = t;
	return t;
}

/* }================================================================== */

/* {==================================================================
** Formatting primitives. All of them write into the innermost open
** record r, and all of them are no-ops once r is truncated.
** =================================================================== */

/* Roll r back to its last complete top-level field; from now on only
** log_end writes (the marker), in the reserved tail. */
static void cut(struct log_rec *r)
{
	r->cur = r->safe;
	r->has_fields = r->safe_has_fields;
	r->depth = 0;
	r->skip = 0;
	r->truncated = 1;
}

/* Make room for n more bytes below LIMIT, flushing committed lines if that
** helps. Returns 0 (after cutting r) when the record cannot grow. */
static int room(struct log_rec *r, size_t n)
{
	if (likely(r->cur + n <= LIMIT))
		return 1;
	if (r->t->len > 0 && n <= LIMIT) {
		flush_tls(r->t);
		if (r->cur + n <= LIMIT)
			return 1;
	}
	cut(r);
	return 0;
}

static __attribute__((noinline)) void put_slow(struct log_rec *r,
					      const char *s, size_t n)
{
	if (r->truncated || !room(r, n))
		return;
	memcpy(r->t->buf + r->cur, s, n);
	r->cur += (uint32_t)n;
}

/* Append n bytes. Inlined: most appends are a few bytes of known size. */
static inline __attribute__((always_inline)) void put(struct log_rec *r,
						       const char *s, size_t n)
{
	if (likely(!r->truncated && r->cur + n <= LIMIT)) {
		memcpy(r->t->buf + r->cur, s, n);
		r->cur += (uint32_t)n;
	} else {
		put_slow(r, s, n);
	}
}

#define PUTS(r, lit) put((r), (lit), sizeof(lit) - 1)

/* Write into the reserved tail (log_end only): always fits, see RESERVE. */
static void put_tail(struct log_rec *r, const char *s, size_t n)
{
	if (NEVER(r->cur + n > LOG_BUF_SIZE))
		return;
	memcpy(r->t->buf + r->cur, s, n);
	r->cur += (uint32_t)n;
}

static void put_spaces(struct log_rec *r, uint32_t n, int tail)
{
	static const char sp[MSG_COL + 1] = "                     ";

	if (n > MSG_COL)
		n = MSG_COL;
	if (tail)
		put_tail(r, sp, n);
	else
		put(r, sp, n);
}

/* Length of the valid UTF-8 sequence at p (no overlongs, surrogates or
** code points past U+10FFFF), or 0 if the bytes are not one. */
static size_t utf8_len(const unsigned char *p, const unsigned char *e)
{
	unsigned c = p[0];
	size_t n, i;
	unsigned lo = 0x80, hi = 0xBF;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0) lo = 0xA0;
		if (c == 0xED) hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0) lo = 0x90;
		if (c == 0xF4) hi = 0x8F;
	} else
		return 0;
	if ((size_t)(e - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* Write s[0, n) escaped. `json`: as the inside of a JSON string (quotes,
** backslashes and control characters escaped). Otherwise as bare text for
** the text-format message: only control characters are escaped, so a line
** stays one line. Invalid UTF-8 becomes U+FFFD either way. At most `max`
** output bytes are written; a longer result is cut and ends in "...".
** Returns the number of bytes written. */
static size_t put_esc(struct log_rec *r, const char *s, size_t n, int json,
		      size_t max)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	size_t out = 0;
	int over = 0;

	while (p < e && !r->truncated) {
		const unsigned char *q = p;
		char tmp[8];
		size_t k;

		/* A run of bytes that are copied as they are. */
		while (q < e && *q >= 0x20 && *q < 0x80 &&
		       (!json || (*q != '"' && *q != '\\')))
			q++;
		if (q > p) {
			k = (size_t)(q - p);
			if (out + k > max) {
				k = max - out;
				over = 1;
			}
			put(r, (const char *)p, k);
			out += k;
			p += k;
			if (over)
				break;
			continue;
		}
		if (*p >= 0x80) {
			k = utf8_len(p, e);
			if (k > 0) {
				memcpy(tmp, p, k);
				p += k;
			} else {
				if (json)
					memcpy(tmp, "\\ufffd", k = 6);
				else
					memcpy(tmp, "\xef\xbf\xbd", k = 3);
				p++;
			}
		} else {
			unsigned c = *p++;

			tmp[0] = '\\';
			k = 2;
			switch (c) {
			case '"':  tmp[1] = '"'; break;
			case '\\': tmp[1] = '\\'; break;
			case '\n': tmp[1] = 'n'; break;
			case '\r': tmp[1] = 'r'; break;
			case '\t': tmp[1] = 't'; break;
			case '\b': tmp[1] = 'b'; break;
			case '\f': tmp[1] = 'f'; break;
			default:
				memcpy(tmp, "\\u00", 4);
				tmp[4] = hex[c >> 4];
				tmp[5] = hex[c & 15];
				k = 6;
			}
		}
		if (out + k > max) {
			over = 1;
			break;
		}
		put(r, tmp, k);
		out += k;
	}
	if (over) {
		PUTS(r, "...");
		out += 3;
	}
	return out;
}

static void put_qstr(struct log_rec *r, const char *s, size_t n)
{
	PUTS(r, "\"");
	put_esc(r, s, n, 1, SIZE_MAX);
	PUTS(r, "\"");
}

/* Write v as exactly n decimal digits, zero-padded. */
static void digits(char *b, unsigned v, int n)
{
	while (n-- > 0) {
		b[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* "2026-11-22T10:15:30.123Z": the date part is cached per second. */
static void put_ts(struct log_rec *r)
{
	struct tls *t = r->t;
	uint64_t ms = clock_ms();
	int64_t sec = (int64_t)(ms / 1000);
	unsigned frac = (unsigned)(ms % 1000);
	char b[8];

	if (sec != t->ts_sec) {
		int64_t y;
		int mo, d;
		unsigned s = (unsigned)(sec % 86400);

		gotime_civil_from_days(sec / 86400, &y, &mo, &d);
		digits(t->ts_date, (unsigned)y % 10000, 4);
		t->ts_date[4] = '-';
		digits(t->ts_date + 5, (unsigned)mo, 2);
		t->ts_date[7] = '-';
		digits(t->ts_date + 8, (unsigned)d, 2);
		t->ts_date[10] = 'T';
		digits(t->ts_date + 11, s / 3600, 2);
		t->ts_date[13] = ':';
		digits(t->ts_date + 14, s / 60 % 60, 2);
		t->ts_date[16] = ':';
		digits(t->ts_date + 17, s % 60, 2);
		t->ts_sec = sec;
	}
	put(r, t->ts_date, 19);
	b[0] = '.';
	digits(b + 1, frac, 3);
	b[4] = 'Z';
	put(r, b, 5);
}

/* Separator, and for object members the quoted key, before a value. At the
** top level the first field also opens the field list (text: pad to the
** column and "{"). With `raw` the top level gets only the separator
** (`raw`: log_printf splices members). Returns 0 if the value must be skipped. */
static int pre(struct log_rec *r, const char *key, int raw)
{
	unsigned d = r->depth;

	if (r->dead || r->truncated || r->skip)
		return 0;
	if (d == 0) {
		if (!r->has_fields) {
			if (!fmt_json) {
				uint32_t w = r->msg_w;
				put_spaces(r, w + 2 < MSG_COL ? MSG_COL - w : 2, 0);
				PUTS(r, "{");
			} else {
				PUTS(r, ",");
			}
			r->has_fields = 1;
		} else if (fmt_json) {
			PUTS(r, ",");
		} else {
			PUTS(r, ", ");
		}
		if (raw)
			return !r->truncated;
		if (NEVER(key == NULL))
			key = "";
	} else {
		if (r->first[d])
			r->first[d] = 0;
		else if (fmt_json)
			PUTS(r, ",");
		else
			PUTS(r, ", ");
		if (r->kind[d] == C_ARR)
			return !r->truncated;
		if (NEVER(key == NULL))
			key = "";
	}
	put_qstr(r, key, strlen(key));
	if (fmt_json)
		PUTS(r, ":");
	else
		PUTS(r, ": ");
	return !r->truncated;
}

/* A value is complete: at the top level it becomes the new rollback point. */
static void post(struct log_rec *r)
{
	if (r->depth == 0 && !r->truncated) {
		r->safe = r->cur;
		r->safe_has_fields = r->has_fields;
	}
}

/* Reverse buf[0, n): the building block of the rotation in log_end. */
static void reverse(char *b, size_t n)
{
	size_t i, j;

	for (i = 0, j = n; i + 1 < j; i++, j--) {
		char c = b[i];
		b[i] = b[j - 1];
		b[j - 1] = c;
	}
}

/* Position of r in its thread's record stack; records are never copied,
** so the pointer identifies the slot. */
static int rec_index(struct tls *t, struct log_rec *r)
{
	return (int)(r - t->recs);
}

/* }================================================================== */

/* {==================================================================
** Public API
** =================================================================== */

/* Plain stores: the contract is that no other thread logs yet, and
** pthread_create orders these writes before anything the threads read. */
void log_configure(enum log_level min, enum log_format format, int fd)
{
	log__min_level = (int)min;
	fmt_json = format == LOG_FORMAT_JSON;
	out_fd = fd;
}

void log_set_clock(uint64_t (*now_ms)(void))
{
	clock_ms = now_ms ? now_ms : real_ms;
}

/* Copy raw JSON, turning CR/LF (JSON whitespace, or invalid inside
** strings) into spaces so that a record stays on one line. */
static void put_raw(struct log_rec *r, const char *json, size_t len)
{
	uint32_t at = r->cur;
	uint32_t i;

	put(r, json, len);
	if (r->truncated)
		return;
	for (i = at; i < r->cur; i++)
		if (r->t->buf[i] == '\n' || r->t->buf[i] == '\r')
			r->t->buf[i] = ' ';
}

/* log_printf's `fields_json`: splice the members of a JSON object. */
static void splice_members(struct log_rec *r, const char *j)
{
	size_t n = strlen(j);

	while (n > 0 && (j[n - 1] == ' ' || j[n - 1] == '\n' || j[n - 1] == '\t'))
		n--;
	while (n > 0 && (*j == ' ' || *j == '\n' || *j == '\t'))
		j++, n--;
	if (n < 2 || j[0] != '{' || j[n - 1] != '}')
		return;
	j++, n -= 2;
	while (n > 0 && (*j == ' ' || *j == '\n' || *j == '\t'))
		j++, n--;
	if (n == 0 || r->depth != 0)
		return;
	if (pre(r, NULL, 1)) {
		put_raw(r, j, n);
		post(r);
	}
}

void log_printf(enum log_level level, const char *fields_json,
		const char *fmt, ...)
{
	char msg[PRINTF_MAX];
	struct log_rec *r;
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg) {
		n = sizeof msg - 1;
		memcpy(msg + n - 3, "...", 3);
	}
	r = log_begin(level, msg, (size_t)n);
	if (fields_json)
		splice_members(r, fields_json);
	log_end(r);
}

/* Open a record on top of this thread's stack, right after the committed
** lines (or after the innermost open record), and write its header. Fails
** to the inert record when disabled or nested past NEST_MAX; a header that
** cannot fit (outer records fill the buffer) gives a dead record that
** occupies its slot until log_end/log_abort and counts as dropped. */
struct log_rec *log_begin(enum log_level level, const char *msg, size_t msglen)
{
	struct tls *t;
	struct log_rec *r;
	uint32_t start, at;

	if (!log_enabled(level) || (unsigned)level > LOG_LEVEL_ERROR)
		return INERT;
	t = likely(me != NULL) ? me : tls_new();
	if (unlikely(t->nopen == NEST_MAX)) {
		atomic_fetch_add(&dropped, msglen + 1);
		atomic_fetch_add(&unreported, msglen + 1);
		return INERT;
	}
	start = t->nopen ? t->recs[t->nopen - 1].cur : t->len;
	r = &t->recs[t->nopen++];
	r->t = t;
	r->start = r->cur = r->safe = start;
	r->msg_w = 0;
	r->skip = 0;
	r->level = (uint8_t)level;
	r->dead = r->truncated = 0;
	r->has_fields = r->safe_has_fields = 0;
	r->depth = 0;

	if (fmt_json) {
		PUTS(r, "{\"ts\":\"");
		put_ts(r);
		PUTS(r, "\",\"level\":\"");
		put(r, lvl_json[level], strlen(lvl_json[level]));
		PUTS(r, "\",\"msg\":\"");
		put_esc(r, msg, msglen, 1, LOG_MSG_MAX);
		PUTS(r, "\"");
	} else {
		put_ts(r);
		PUTS(r, " ");
		put(r, lvl_text[level], 5);
		PUTS(r, " ");
		at = r->cur;
		put_esc(r, msg, msglen, 0, LOG_MSG_MAX);
		r->msg_w = r->cur - at;
	}
	if (unlikely(r->truncated)) {
		/* Only possible when outer open records fill the buffer. */
		r->dead = 1;
		atomic_fetch_add(&dropped, msglen + 1);
		atomic_fetch_add(&unreported, msglen + 1);
	} else {
		r->safe = r->cur;
	}
	return r;
}

/* Every log_field_* is pre() (separator, key), the value, then post()
** (maybe a new rollback point). pre() refuses dead, cut and over-deep
** records, which makes the inert record safe to use. */
void log_field_str(struct log_rec *r, const char *key, const char *s, size_t len)
{
	if (pre(r, key, 0)) {
		put_qstr(r, s, len);
		post(r);
	}
}

void log_field_int(struct log_rec *r, const char *key, int64_t v)
{
	char b[24], *p = b + sizeof b;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	if (!pre(r, key, 0))
		return;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	put(r, p, (size_t)(b + sizeof b - p));
	post(r);
}

/* %.14g for the common case of a number with a short decimal form, in a
** few ns instead of glibc's few hundred. If r / 10^k == |v| exactly for an
** integer r < 10^14, then the decimal D = r * 10^-k converts back to v (a
** quotient of two exact doubles is correctly rounded), so D has at most 14
** significant digits and is what %.14g prints, minimal k giving no
** trailing zeros. Returns the length, or 0 to fall back to snprintf. */
static int fast_g(char *b, double v)
{
	static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8 };
	double a = fabs(v);
	char d[24], *p = d + sizeof d;
	int k, n = 0, i;
	uint64_t u;

	if (!(a == 0 || (a >= 1e-4 && a < 1e14)))
		return 0;		/* exponent form, or too many digits */
	for (k = 0; k < (int)countof(p10); k++) {
		double x = a * p10[k];

		if (x >= 1e14)
			return 0;
		u = (uint64_t)(x + 0.5);
		if ((double)u / p10[k] == a)
			break;
	}
	if (k == (int)countof(p10))
		return 0;
	for (i = 0; i < k || u != 0 || i == k; i++) {
		if (i == k && i > 0)
			*--p = '.';
		*--p = (char)('0' + u % 10);
		u /= 10;
		if (i >= k && u == 0)
			break;
	}
	if (signbit(v))
		b[n++] = '-';
	memcpy(b + n, p, (size_t)(d + sizeof d - p));
	return n + (int)(d + sizeof d - p);
}

void log_field_num(struct log_rec *r, const char *key, double v)
{
	char b[40];
	int n;

	if (!pre(r, key, 0))
		return;
	if (!isfinite(v)) {
		PUTS(r, "null");
	} else {
		n = fast_g(b, v);
		if (n == 0)
			n = snprintf(b, sizeof b - 2, "%.14g", v);
		/* Like Lua's tostring: a float that looks like an integer
		** keeps a ".0" so it reads as a float. */
		if (strspn(b, "-0123456789") == (size_t)n) {
			b[n++] = '.';
			b[n++] = '0';
		}
		put(r, b, (size_t)n);
	}
	post(r);
}

void log_field_bool(struct log_rec *r, const char *key, int v)
{
	if (!pre(r, key, 0))
		return;
	if (v)
		PUTS(r, "true");
	else
		PUTS(r, "false");
	post(r);
}

void log_field_null(struct log_rec *r, const char *key)
{
	if (pre(r, key, 0)) {
		PUTS(r, "null");
		post(r);
	}
}

void log_field_raw_json(struct log_rec *r, const char *key,
			const char *json, size_t len)
{
	if (!pre(r, key, 0))
		return;
	if (len == 0)
		PUTS(r, "null");	/* keep the line valid JSON */
	else
		put_raw(r, json, len);
	post(r);
}

/* Open an object or array as the value of `key`. Past LOG_MAX_DEPTH the
** value is null and `skip` counts the begins so that the matching ends are
** swallowed; members written meanwhile are dropped by pre(). */
static void open_container(struct log_rec *r, const char *key, int kind)
{
	if (r->skip) {
		r->skip++;
		return;
	}
	if (!pre(r, key, 0))
		return;
	if (r->depth == LOG_MAX_DEPTH) {
		PUTS(r, "null");
		r->skip = 1;
		return;
	}
	put(r, kind == C_OBJ ? "{" : "[", 1);
	if (r->truncated)
		return;
	r->depth++;
	r->first[r->depth] = 1;
	r->kind[r->depth] = (uint8_t)kind;
}

/* Close the innermost container; a kind mismatch is a caller bug and is
** ignored rather than producing unbalanced JSON. */
static void close_container(struct log_rec *r, int kind)
{
	if (r->dead || r->truncated)
		return;
	if (r->skip) {
		r->skip--;
		if (r->skip == 0)
			post(r);
		return;
	}
	if (NEVER(r->depth == 0) || NEVER(r->kind[r->depth] != kind))
		return;
	put(r, kind == C_OBJ ? "}" : "]", 1);
	if (r->truncated)
		return;
	r->depth--;
	post(r);
}

void log_obj_begin(struct log_rec *r, const char *key)
{
	open_container(r, key, C_OBJ);
}

void log_obj_end(struct log_rec *r)
{
	close_container(r, C_OBJ);
}

void log_arr_begin(struct log_rec *r, const char *key)
{
	open_container(r, key, C_ARR);
}

void log_arr_end(struct log_rec *r)
{
	close_container(r, C_ARR);
}

/* Finish r and make it committed. Records still open inside r were
** abandoned by their caller and are dropped. The tail (closing braces,
** truncation marker, newline) goes into the RESERVE bytes, so finishing a
** record never fails. */
void log_end(struct log_rec *r)
{
	struct tls *t = r->t;
	int i, idx;
	uint32_t len;

	if (t == NULL)
		return;			/* the inert record */
	idx = rec_index(t, r);
	if (NEVER(idx < 0 || idx >= t->nopen))
		return;
	t->nopen = idx + 1;		/* records left open inside r are dropped */
	if (r->dead) {
		t->nopen = idx;
		return;
	}
	r->skip = 0;
	while (!r->truncated && r->depth > 0)
		close_container(r, r->kind[r->depth]);
	if (r->truncated) {
		if (!r->has_fields && !fmt_json) {
			uint32_t w = r->msg_w;
			put_spaces(r, w + 2 < MSG_COL ? MSG_COL - w : 2, 1);
			put_tail(r, "{", 1);
		} else {
			put_tail(r, fmt_json ? "," : ", ", fmt_json ? 1 : 2);
		}
		if (fmt_json)
			put_tail(r, "\"truncated\":true", 16);
		else
			put_tail(r, "\"truncated\": true", 17);
		r->has_fields = 1;
	}
	if (fmt_json || r->has_fields)
		put_tail(r, "}\n", 2);
	else
		put_tail(r, "\n", 1);

	/* Commit: r's bytes must end up at `len`, in front of the records
	** still open around it (rotate [len, r->cur) by r's length). */
	len = r->cur - r->start;
	if (idx > 0) {
		char *base = t->buf + t->len;
		size_t outer = r->start - t->len;

		reverse(base, outer);
		reverse(base + outer, len);
		reverse(base, outer + len);
		for (i = 0; i < idx; i++) {
			t->recs[i].start += len;
			t->recs[i].cur += len;
			t->recs[i].safe += len;
		}
	}
	t->len += len;
	t->nopen = idx;
	if (r->level >= LOG_LEVEL_ERROR)
		flush_tls(t);
}

/* Pop r and everything above it: their bytes sit past `len` and past the
** remaining open records, so forgetting them is enough. */
void log_abort(struct log_rec *r)
{
	struct tls *t = r->t;
	int idx;

	if (t == NULL)
		return;
	idx = rec_index(t, r);
	if (ALWAYS(idx >= 0 && idx < t->nopen))
		t->nopen = idx;
}

/* Public flush: flush_tls plus the loss notice. */
void log_flush(void)
{
	struct tls *t = me;
	uint64_t lost;
	struct log_rec *r;

	if (t == NULL || t->len == 0)
		return;
	flush_tls(t);
	/* Announce losses once, from a flush outside any record: the notice
	** goes out with the next flush. */
	if (t->nopen == 0 && atomic_load(&unreported) != 0 &&
	    (lost = atomic_exchange(&unreported, 0)) != 0) {
		r = log_begin(LOG_LEVEL_WARN, "log output dropped", 18);
		log_field_int(r, "bytes", (int64_t)lost);
		log_end(r);
	}
}

void log_thread_exit(void)
{
	struct tls *t = me;

	if (t == NULL)
		return;
	pthread_setspecific(tls_key, NULL);
	tls_free(t);
}

uint64_t log_dropped_bytes(void)
{
	return atomic_load(&dropped);
}

/* }================================================================== */

void log_warn_lines(const char *p)
{
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		log_warn("%.*s", len, p);
		p += len + (nl != NULL);
	}
}
