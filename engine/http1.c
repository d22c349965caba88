/*
** engine/http1.c: HTTP/1.1 request heads, bodies and response heads.
**
** The head parser works a line at a time. On each call it first finds the
** last LF in the part of the buffer it has not searched yet (one memrchr,
** bounded by the head limit); every line that starts at or before that LF
** is complete, so the validating loops below can run without end-of-buffer
** checks: each of them stops at an LF at the latest. A line is validated
** and committed whole (offsets, counters, flags), which is what makes the
** parser resumable: the state between calls is only "offset of the first
** uncommitted line" plus "how far that line is known to hold no LF".
**
** Same result for every split of the input. Errors are decided by complete
** lines, with one exception that keeps early rejection cheap: a byte that
** no line may hold (a control byte other than HTAB/CR/LF, or DEL) is an
** error as soon as it arrives, and it takes precedence over any other
** error of its line (line_error), so the whole buffer and any prefix of it
** agree. The size limits are decided on byte offsets, independent of how
** the bytes came.
**
** Inner loops: the target and header values are scanned 8 bytes at a time
** with a SWAR test for "a byte < 0x20 (or < 0x21) or DEL" (no SSE needed),
** then byte by byte through a 256-entry table to find the exact stop.
** Header names and methods use a token table.
**
** The chunked decoder is a byte-level state machine (chunk framing is
** rare and short), except for chunk data, which moves with one memmove per
** call and chunk.
**
** No allocation, no locale, no global state: any thread may use it.
*/
#include "engine/http1.h"

#include <string.h>

#include "engine/common.h"

/* Head parser states (struct http1_request._state). */
enum { ST_LINE, ST_HEADERS, ST_DONE, ST_ERROR };

/* Transfer-Encoding summary bits (_te), accumulated over all TE lines. */
#define TE_LAST    1u   /* the last coding seen so far is chunked */
#define TE_CHUNKED 2u   /* chunked seen */
#define TE_TWICE   4u   /* chunked seen more than once */
#define TE_UNKNOWN 8u   /* a coding other than chunked */

/* Chunked decoder states (struct http1_chunked._state). Every state before
** CH_DATA belongs to a chunk-size line. */
enum {
	CH_SIZE0, CH_SIZE, CH_BWS, CH_EXT, CH_SIZE_LF,
	CH_DATA, CH_DATA_CR, CH_DATA_LF,
	CH_TRAILER, CH_TLINE, CH_TLINE_LF, CH_END_LF,
	CH_DONE, CH_ERROR
};
#define CHUNK_LINE_MAX 4096   /* bytes in a chunk-size line, CRLF included */
#define TRAILER_MAX    8192   /* bytes after the last-chunk line, final
                              ** CRLF included */

/* {====================================================================
** Character classes
** ===================================================================== */

/* tchar (RFC 9110 5.6.2): method and header-name bytes. */
static const uint8_t tchar[256] = {
	['!'] = 1, ['#' ... '\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1,
	['.'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['^'] = 1,
	['_'] = 1, ['`'] = 1, ['a' ... 'z'] = 1, ['|'] = 1, ['~'] = 1,
};

/* Field-value bytes: HTAB, SP, VCHAR, obs-text. */
static const uint8_t vchar[256] = {
	['\t'] = 1, [' ' ... '~'] = 1, [0x80 ... 0xff] = 1,
};

/* Request-target bytes: VCHAR and obs-text (nginx accepts the latter). */
static const uint8_t uchar[256] = {
	['!' ... '~'] = 1, [0x80 ... 0xff] = 1,
};

/* Bytes no line of a head may hold anywhere; checked even in incomplete
** lines. HTAB (values), CR and LF (line ends) are not among them. */
static const uint8_t badc[256] = {
	[0x00 ... 0x08] = 1, [0x0b ... 0x0c] = 1, [0x0e ... 0x1f] = 1,
	[0x7f] = 1,
};

/* Hex digit value + 1; 0 for a non-hex byte. */
static const uint8_t hexv[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
	['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Nonzero iff some byte of v is below lo (lo <= 0x80) or is DEL. Exact: a
** borrow only leaves a byte that is itself a hit, so bytes without a hit
** below them cannot be flagged, and bytes >= 0x80 are masked by ~v. */
static inline uint64_t stopword(uint64_t v, uint64_t lo)
{
	uint64_t d = v ^ (ONES * 0x7f);

	return ((v - ONES * lo) | (d - ONES)) & ~v & HIGHS;
}

/* Skip field-value bytes from p. Stops at the first byte that is not one
** (at the line's CR or LF at the latest). `end` bounds the 8-byte loads. */
static inline const char *skip_value(const char *p, const char *end)
{
	while (end - p >= 8 && !stopword(load64(p), 0x20))
		p += 8;
	while (vchar[(uint8_t)*p])
		p++;
	return p;
}

/* Skip request-target bytes from p; stops at SP, CR, LF or a bad byte. */
static inline const char *skip_target(const char *p, const char *end)
{
	while (end - p >= 8 && !stopword(load64(p), 0x21))
		p += 8;
	while (uchar[(uint8_t)*p])
		p++;
	return p;
}

/* Skip token bytes from p, four per round (fewer loop branches than one
** at a time). Reads p[k] only after p[k-1] was a token byte, never an LF,
** so it cannot pass the line's LF. */
static inline const char *skip_token(const char *p)
{
	for (;; p += 4) {
		if (!tchar[(uint8_t)p[0]]) return p;
		if (!tchar[(uint8_t)p[1]]) return p + 1;
		if (!tchar[(uint8_t)p[2]]) return p + 2;
		if (!tchar[(uint8_t)p[3]]) return p + 3;
	}
}

/* a[0, n) equals `lit` ignoring ASCII case. `lit` is lower case and holds
** only letters, digits and '-', for which (byte | 0x20) is exact: the only
** other byte it maps onto '-' is CR, and no value or token holds a CR. */
static inline int ieq(const char *a, const char *lit, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((uint8_t)a[i] | 0x20) != (uint8_t)lit[i])
			return 0;
	return 1;
}

static inline int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* }==================================================================== */

/* {====================================================================
** Request line and header lines
** ===================================================================== */

/* Record `e` as the request's error and return NULL (for line parsers). */
static const char *err(struct http1_request *r, int e)
{
	r->_err = e;
	return NULL;
}

static ssize_t fail(struct http1_request *r, int e)
{
	r->_err = e;
	r->_state = ST_ERROR;
	return e;
}

/* The line at p (complete: its LF is at or before last) was rejected with
** r->_err. A byte of badc anywhere in the line overrides that error with
** HTTP1_E_BAD_CHAR, since a prefix of the same input ending inside the line
** would have reported exactly that. */
static ssize_t line_error(struct http1_request *r, const char *p,
                          const char *last)
{
	const char *lf = memchr(p, '\n', (size_t)(last - p) + 1);

	if (NEVER(lf == NULL))   /* the caller found an LF at last */
		lf = last;
	for (; p < lf; p++)
		if (badc[(uint8_t)*p])
			return fail(r, HTTP1_E_BAD_CHAR);
	return fail(r, r->_err);
}

static uint8_t method_id(const char *s, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(s, "GET", 3)) return HTTP1_GET;
		if (!memcmp(s, "PUT", 3)) return HTTP1_PUT;
		break;
	case 4:
		if (!memcmp(s, "POST", 4)) return HTTP1_POST;
		if (!memcmp(s, "HEAD", 4)) return HTTP1_HEAD;
		break;
	case 5:
		if (!memcmp(s, "PATCH", 5)) return HTTP1_PATCH;
		if (!memcmp(s, "TRACE", 5)) return HTTP1_TRACE;
		break;
	case 6:
		if (!memcmp(s, "DELETE", 6)) return HTTP1_DELETE;
		break;
	case 7:
		if (!memcmp(s, "OPTIONS", 7)) return HTTP1_OPTIONS;
		if (!memcmp(s, "CONNECT", 7)) return HTTP1_CONNECT;
		break;
	}
	return HTTP1_OTHER;
}

/* Split [s, e) at the first '?' into path and query. */
static void split_path(struct http1_request *r, const char *buf,
                       const char *s, const char *e)
{
	const char *q = memchr(s, '?', (size_t)(e - s));

	r->path_off = (uint32_t)(s - buf);
	if (q) {
		r->path_len = (uint32_t)(q - s);
		r->query_off = (uint32_t)(q + 1 - buf);
		r->query_len = (uint32_t)(e - q - 1);
	} else {
		r->path_len = (uint32_t)(e - s);
	}
}

static inline int is_alpha(char c)
{
	return (unsigned)((c | 0x20) - 'a') < 26;
}

/* Classify the request-target [s, e) (non-empty, uchar bytes only) and
** fill the target, path, query and authority fields. Returns 0 or an
** HTTP1_E_BAD_TARGET. */
static int parse_target(struct http1_request *r, const char *buf,
                        const char *s, const char *e)
{
	const char *p, *a;

	r->target_off = (uint32_t)(s - buf);
	r->target_len = (uint32_t)(e - s);
	if (likely(*s == '/')) {
		if (unlikely(r->method == HTTP1_CONNECT))
			return HTTP1_E_BAD_TARGET;
		split_path(r, buf, s, e);
		return 0;
	}
	if (r->method == HTTP1_CONNECT) {
		/* authority-form, host:port; the server decides what to do */
		r->target_form = HTTP1_AUTHORITY_FORM;
		r->authority_off = r->target_off;
		r->authority_len = r->target_len;
		return 0;
	}
	if (*s == '*' && e - s == 1) {
		if (r->method != HTTP1_OPTIONS)
			return HTTP1_E_BAD_TARGET;
		r->target_form = HTTP1_ASTERISK_FORM;
		r->path_off = r->target_off;
		r->path_len = 1;
		return 0;
	}
	/* absolute-form: scheme "://" authority [ path ] [ "?" query ] */
	if (!is_alpha(*s))
		return HTTP1_E_BAD_TARGET;
	for (p = s + 1; p < e; p++)
		if (!is_alpha(*p) && !(*p >= '0' && *p <= '9') &&
		    *p != '+' && *p != '-' && *p != '.')
			break;
	if (e - p < 3 || memcmp(p, "://", 3))
		return HTTP1_E_BAD_TARGET;
	for (a = p += 3; p < e && *p != '/' && *p != '?'; p++)
		;
	if (p == a)
		return HTTP1_E_BAD_TARGET;
	r->target_form = HTTP1_ABSOLUTE_FORM;
	r->authority_off = (uint32_t)(a - buf);
	r->authority_len = (uint32_t)(p - a);
	split_path(r, buf, p, e);
	return 0;
}

/* Parse the complete line at p in state ST_LINE: an empty line (skipped)
** or the request line. Returns the start of the next line, or NULL with
** r->_err set. */
static const char *parse_line(struct http1_request *r, const char *buf,
                              const char *p, const char *last,
                              const char *end)
{
	const char *s = p, *v;
	uint64_t w;
	int e;

	/* RFC 9112 2.2: ignore empty lines received before the request */
	if (*p == '\n')
		return p + 1;
	if (*p == '\r' && p[1] == '\n')   /* *p != LF, so p < last */
		return p + 2;

	p = skip_token(p);
	if (unlikely(p == s || *p != ' '))
		return err(r, HTTP1_E_BAD_REQUEST);
	r->method_off = (uint32_t)(s - buf);
	r->method_len = (uint32_t)(p - s);
	r->method = method_id(s, (size_t)(p - s));

	s = ++p;
	p = skip_target(p, end);
	if (unlikely(p == s || *p != ' '))
		return err(r, HTTP1_E_BAD_REQUEST);
	if (unlikely((e = parse_target(r, buf, s, p)) != 0))
		return err(r, e);

	/* "HTTP/" DIGIT "." DIGIT, then CRLF or LF. If fewer than 8 bytes
	** precede `last`, the line itself is too short to hold a version. The
	** 8 bytes may run past this line's LF (still before `last`): then one
	** of the byte checks fails on that LF, so the answer stays the
	** line's own. */
	v = p + 1;
	if (unlikely(last - v < 8))
		return err(r, HTTP1_E_BAD_REQUEST);
	w = load64(v);
	if (likely(w == load64("HTTP/1.1"))) {
		r->minor_version = 1;
	} else if (w == load64("HTTP/1.0")) {
		r->minor_version = 0;
	} else {
		if (memcmp(v, "HTTP/", 5) || (unsigned)(v[5] - '0') > 9 ||
		    v[6] != '.' || (unsigned)(v[7] - '0') > 9)
			return err(r, HTTP1_E_BAD_REQUEST);
		if (v[5] != '1')
			return err(r, HTTP1_E_VERSION);
		r->minor_version = 1;   /* 1.x, x >= 2: treat as 1.1 */
	}
	p = v + 8;
	if (*p == '\r' && p[1] == '\n')
		p += 2;
	else if (*p == '\n')
		p++;
	else
		return err(r, HTTP1_E_BAD_REQUEST);
	r->_state = ST_HEADERS;
	return p;
}

static int parse_length(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(uint8_t)s[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Next element of a comma-separated list: from *pp up to e, OWS trimmed,
** possibly empty. Returns 0 when the list is exhausted. */
static int list_next(const char **pp, const char *e, const char **s,
                     size_t *n)
{
	const char *p = *pp, *q, *t;

	if (p >= e)
		return 0;
	q = memchr(p, ',', (size_t)(e - p));
	if (!q)
		q = e;
	while (p < q && is_ows(*p))
		p++;
	for (t = q; t > p && is_ows(t[-1]); t--)
		;
	*s = p;
	*n = (size_t)(t - p);
	*pp = q + 1;
	return 1;
}

/* Header fields the parser acts on, by name length. Returns 0 or an
** error for the line. */
static int known_header(struct http1_request *r, const char *name,
                        size_t nlen, const char *v, size_t vlen,
                        const char *buf)
{
	const char *p = v, *e = v + vlen, *s;
	uint64_t cl;
	size_t n;

	switch (nlen) {
	case 4:
		if (!ieq(name, "host", 4))
			break;
		/* RFC 9112 3.2: more than one Host is a 400 */
		if (r->flags & HTTP1_F_HAS_HOST)
			return HTTP1_E_BAD_HOST;
		r->flags |= HTTP1_F_HAS_HOST;
		r->host_off = (uint32_t)(v - buf);
		r->host_len = (uint32_t)vlen;
		break;
	case 6:
		if (ieq(name, "expect", 6) && vlen == 12 &&
		    ieq(v, "100-continue", 12))
			r->flags |= HTTP1_F_CONTINUE;
		break;
	case 10:
		if (!ieq(name, "connection", 10))
			break;
		while (list_next(&p, e, &s, &n)) {
			if (n == 5 && ieq(s, "close", 5))
				r->flags |= HTTP1_F_CONN_CLOSE;
			else if (n == 10 && ieq(s, "keep-alive", 10))
				r->flags |= HTTP1_F_CONN_KEEP;
			else if (n == 7 && ieq(s, "upgrade", 7))
				r->flags |= HTTP1_F_UPGRADE;
		}
		break;
	case 14:
		if (!ieq(name, "content-length", 14))
			break;
		/* digits only; repeats must carry the same value (RFC 9110
		** 8.6 allows a server to reject any repeat; equal ones are
		** harmless and some clients send them) */
		if (parse_length(v, vlen, &cl) < 0)
			return HTTP1_E_BAD_LENGTH;
		if ((r->flags & HTTP1_F_HAS_LENGTH) && cl != r->content_length)
			return HTTP1_E_BAD_LENGTH;
		r->flags |= HTTP1_F_HAS_LENGTH;
		r->content_length = cl;
		break;
	case 17:
		if (!ieq(name, "transfer-encoding", 17))
			break;
		/* codings apply in order across all TE lines; empty list
		** elements are ignored (RFC 9110 5.6.1) */
		r->flags |= HTTP1_F_HAS_TE;
		while (list_next(&p, e, &s, &n)) {
			if (n == 0)
				continue;
			if (n == 7 && ieq(s, "chunked", 7)) {
				if (r->_te & TE_CHUNKED)
					r->_te |= TE_TWICE;
				r->_te |= TE_CHUNKED | TE_LAST;
			} else {
				r->_te = (uint8_t)((r->_te & ~TE_LAST) | TE_UNKNOWN);
			}
		}
		break;
	}
	return 0;
}

/* Parse the complete, non-empty header line at p. Returns the start of the
** next line, or NULL with r->_err set. */
static const char *parse_header(struct http1_request *r, const char *buf,
                                const char *p, const char *end)
{
	const char *s = p, *vs, *ve;
	struct http1_header *h;
	size_t nlen;
	int e;

	if (unlikely(is_ows(*p)))   /* obs-fold, or SP after the request line */
		return err(r, HTTP1_E_OBS_FOLD);
	p = skip_token(p);
	/* RFC 9112 5.1: no whitespace between name and colon */
	if (unlikely(p == s || *p != ':'))
		return err(r, HTTP1_E_BAD_HEADER);
	nlen = (size_t)(p - s);
	p++;
	while (is_ows(*p))
		p++;
	vs = p;
	p = ve = skip_value(p, end);
	if (likely(*p == '\r')) {
		if (unlikely(p[1] != '\n'))   /* *p != LF, so p < last */
			return err(r, HTTP1_E_BAD_HEADER);
		p += 2;
	} else if (*p == '\n') {
		p++;
	} else {
		return err(r, HTTP1_E_BAD_HEADER);   /* becomes BAD_CHAR */
	}
	while (ve > vs && is_ows(ve[-1]))
		ve--;

	if (unlikely(r->nheaders >= r->limits.max_headers))
		return err(r, HTTP1_E_TOO_MANY_HEADERS);
	h = &r->headers[r->nheaders++];
	h->name_off = (uint32_t)(s - buf);
	h->name_len = (uint32_t)nlen;
	h->value_off = (uint32_t)(vs - buf);
	h->value_len = (uint32_t)(ve - vs);
	if (nlen == 4 || nlen == 6 || nlen == 10 || nlen == 14 || nlen == 17) {
		e = known_header(r, s, nlen, vs, (size_t)(ve - vs), buf);
		if (unlikely(e))
			return err(r, e);
	}
	return p;
}

/* The blank line ending the head was read; head_len bytes in all. Apply
** the message-framing rules of RFC 9112 6 and the connection rules of 9.3. */
static ssize_t finish_head(struct http1_request *r, size_t head_len)
{
	uint32_t f = r->flags;

	r->head_len = (uint32_t)head_len;
	if (r->minor_version >= 1 && !(f & HTTP1_F_HAS_HOST))
		return fail(r, HTTP1_E_BAD_HOST);
	if (f & HTTP1_F_HAS_TE) {
		/* both framings at once is the classic smuggling vector;
		** an HTTP/1.0 request with TE has faulty framing (6.1) */
		if (f & HTTP1_F_HAS_LENGTH)
			return fail(r, HTTP1_E_LENGTH_AND_TE);
		if (r->minor_version == 0)
			return fail(r, HTTP1_E_BAD_TE);
		/* chunked must be last and once (6.3 rule 4), checked before
		** unknown codings so "gzip" alone is a 400, "gzip, chunked"
		** a 501 */
		if (!(r->_te & TE_LAST) || (r->_te & TE_TWICE))
			return fail(r, HTTP1_E_BAD_TE);
		if (r->_te & TE_UNKNOWN)
			return fail(r, HTTP1_E_UNSUPPORTED_TE);
		r->body_kind = HTTP1_BODY_CHUNKED;
		http1_chunked_init(&r->_chunk, r->limits.max_body);
	} else if ((f & HTTP1_F_HAS_LENGTH) && r->content_length) {
		if (r->content_length > r->limits.max_body)
			return fail(r, HTTP1_E_BODY_TOO_LARGE);
		r->body_kind = HTTP1_BODY_LENGTH;
	}
	if (r->minor_version >= 1) {
		if (!(f & HTTP1_F_CONN_CLOSE))
			f |= HTTP1_F_KEEP_ALIVE;
	} else {
		/* RFC 9110 10.1.1: ignore 100-continue from HTTP/1.0 */
		f &= ~HTTP1_F_CONTINUE;
		if ((f & HTTP1_F_CONN_KEEP) && !(f & HTTP1_F_CONN_CLOSE))
			f |= HTTP1_F_KEEP_ALIVE;
	}
	r->flags = f;
	r->_state = ST_DONE;
	return (ssize_t)head_len;
}

/* }==================================================================== */

/* {====================================================================
** Public request API
** ===================================================================== */

/* max_head is clamped below 2^31 so every offset fits the uint32_t
** fields and a head length fits the ssize_t result on any platform. */
void http1_init(struct http1_request *r, struct http1_header *headers,
                uint32_t cap, const struct http1_limits *lim)
{
	static const struct http1_limits def = HTTP1_LIMITS_DEFAULT;

	memset(r, 0, sizeof *r);
	r->headers = headers;
	r->limits = lim ? *lim : def;
	if (r->limits.max_headers > cap)
		r->limits.max_headers = cap;
	if (r->limits.max_head > INT32_MAX)
		r->limits.max_head = INT32_MAX;
	http1_chunked_init(&r->_chunk, r->limits.max_body);
}

void http1_reset(struct http1_request *r)
{
	struct http1_header *h = r->headers;
	struct http1_limits l = r->limits;

	/* _chunk is left alone: finish_head() initialises it for a chunked
	** body, and nothing reads it otherwise */
	memset(r, 0, offsetof(struct http1_request, _chunk));
	r->headers = h;
	r->limits = l;
}

/* One call: (1) find the last LF in the unsearched, in-limit part; (2)
** validate and commit every line up to it, stopping at the blank line that
** ends the head; (3) for the incomplete line left, check its new bytes for
** bytes no line may hold and decide between "more" and a size error.
** Steps (1) and (3) touch each byte once over all calls, step (2) once per
** complete line, so feeding a head byte by byte costs O(head), not
** O(head^2) as re-parsing from the start would. */
ssize_t http1_parse(struct http1_request *r, const char *buf, size_t len)
{
	size_t max = r->limits.max_head;
	size_t lim = len < max ? len : max;
	size_t scan = r->_scan;
	const char *end = buf + len, *p = buf + r->_pos, *q, *last = NULL;

	if (unlikely(r->_state >= ST_DONE))
		return r->_state == ST_DONE ? (ssize_t)r->head_len : r->_err;

	/* Only lines ending before the head limit count: an LF at offset
	** max_head or later would make the head longer than allowed. */
	if (scan < lim)
		last = memrchr(buf + scan, '\n', lim - scan);
	if (last) {
		while (p <= last) {
			if (r->_state == ST_HEADERS) {
				if (*p == '\n')
					return finish_head(r, (size_t)(p + 1 - buf));
				if (*p == '\r' && p[1] == '\n')
					return finish_head(r, (size_t)(p + 2 - buf));
				q = parse_header(r, buf, p, end);
			} else {
				q = parse_line(r, buf, p, last, end);
			}
			if (unlikely(q == NULL))
				return line_error(r, p, last);
			p = q;
		}
		r->_pos = (uint32_t)(p - buf);
		scan = r->_pos;    /* == last + 1 */
	}

	/* The line at _pos is incomplete and [scan, lim) holds no LF. */
	for (q = buf + scan; q < buf + lim; q++)
		if (unlikely(badc[(uint8_t)*q]))
			return fail(r, HTTP1_E_BAD_CHAR);
	if (scan < lim)
		r->_scan = (uint32_t)lim;
	if (len >= max)
		return fail(r, r->_state == ST_LINE ? HTTP1_E_URI_TOO_LONG
		                                    : HTTP1_E_TOO_LARGE);
	return HTTP1_NEED_MORE;
}

/* Content-Length bodies are only counted; chunked ones are decoded by the
** request's embedded decoder with the body start as its buffer start, so
** the decoder's offsets survive the caller moving the whole request. */
ssize_t http1_body(struct http1_request *r, char *buf, size_t len)
{
	size_t head = r->head_len, avail;
	ssize_t n;

	if (unlikely(r->_state != ST_DONE))
		return r->_state == ST_ERROR ? r->_err : HTTP1_E_BAD_REQUEST;
	avail = len > head ? len - head : 0;
	switch (r->body_kind) {
	case HTTP1_BODY_LENGTH:
		if (avail >= r->content_length) {
			r->body_len = r->content_length;
			return (ssize_t)(head + r->content_length);
		}
		r->body_len = avail;
		return HTTP1_NEED_MORE;
	case HTTP1_BODY_CHUNKED:
		n = http1_chunked_decode(&r->_chunk, buf + head, avail);
		r->body_len = r->_chunk.decoded;
		return n < 0 ? n : (ssize_t)head + n;
	default:
		r->body_len = 0;
		return (ssize_t)head;
	}
}

/* The decoder keeps decoded bytes at [0, decoded) of the body and has read
** raw bytes up to _rd >= decoded; what lies between is spent framing. Moving
** the unread tail down to `decoded` and pretending it was read from there
** is invisible to the decoder, whose state is only counters. */
size_t http1_body_compact(struct http1_request *r, char *buf, size_t len)
{
	struct http1_chunked *c = &r->_chunk;
	size_t head = r->head_len, gap;

	if (r->_state != ST_DONE || r->body_kind != HTTP1_BODY_CHUNKED ||
	    c->_state >= CH_DONE || len < head + c->_rd)
		return len;
	gap = (size_t)(c->_rd - c->decoded);
	if (gap == 0)
		return len;
	memmove(buf + head + c->decoded, buf + head + c->_rd,
	        len - head - (size_t)c->_rd);
	c->_rd = c->decoded;
	return len - gap;
}

int http1_find_header(const struct http1_request *r, const char *buf,
                      const char *name, size_t name_len)
{
	uint32_t i;
	size_t k;

	for (i = 0; i < r->nheaders; i++) {
		const struct http1_header *h = &r->headers[i];
		const char *n = buf + h->name_off;
		if (h->name_len != name_len)
			continue;
		for (k = 0; k < name_len; k++) {
			unsigned a = (uint8_t)n[k], b = (uint8_t)name[k];
			if (a - 'A' < 26) a |= 0x20;
			if (b - 'A' < 26) b |= 0x20;
			if (a != b)
				break;
		}
		if (k == name_len)
			return (int)i;
	}
	return -1;
}

/* }==================================================================== */

/* {====================================================================
** Chunked bodies
** ===================================================================== */

void http1_chunked_init(struct http1_chunked *c, uint64_t max_body)
{
	memset(c, 0, sizeof *c);
	c->max_body = max_body;
}

/* Invariant: wr (decoded) <= rd, since every chunk costs at least its size
** line and CRLF in raw bytes; so data only ever moves towards the start
** and a memmove never overwrites bytes not yet read. All state lives in
** counters, which makes any split point (even inside "\r\n") resumable. */
ssize_t http1_chunked_decode(struct http1_chunked *c, char *buf, size_t len)
{
	uint64_t rd = c->_rd, wr = c->decoded, size = c->_size, n;
	uint32_t line = c->_line;
	int st = c->_state, e = HTTP1_E_BAD_CHUNK;
	uint8_t ch;

	if (st == CH_DONE)
		return (ssize_t)rd;
	if (st == CH_ERROR)
		return c->_err;
	while (rd < len) {
		if (st == CH_DATA) {
			n = len - rd;
			if (n > size)
				n = size;
			if (wr != rd)
				memmove(buf + wr, buf + rd, n);
			wr += n;
			rd += n;
			size -= n;
			if (size == 0)
				st = CH_DATA_CR;
			continue;
		}
		ch = (uint8_t)buf[rd];
		/* A chunk-size line (with its CRLF) and the trailer section
		** (up to the final CRLF) are bounded. The count restarts at
		** each size line and at the trailer; the CRLF after chunk
		** data counts, harmlessly, toward the size line before it. */
		if (unlikely(++line > CHUNK_LINE_MAX) &&
		    (st < CH_DATA || line > TRAILER_MAX)) {
			if (st >= CH_TRAILER)
				e = HTTP1_E_TOO_LARGE;
			goto bad;
		}
		switch (st) {
		case CH_SIZE0:
			if (!hexv[ch])
				goto bad;
			size = hexv[ch] - 1u;
			st = CH_SIZE;
			break;
		case CH_SIZE:
			if (hexv[ch]) {
				if (size >> 60)
					goto bad;   /* would overflow */
				size = size << 4 | (hexv[ch] - 1u);
			} else if (ch == '\r') {
				st = CH_SIZE_LF;
			} else if (ch == ';') {
				st = CH_EXT;
			} else if (is_ows((char)ch)) {
				st = CH_BWS;
			} else {
				goto bad;
			}
			break;
		case CH_BWS:     /* only before ';' (RFC 9112 7.1.1) */
			if (ch == ';')
				st = CH_EXT;
			else if (!is_ows((char)ch))
				goto bad;
			break;
		case CH_EXT:     /* extensions are skipped, not interpreted */
			if (ch == '\r')
				st = CH_SIZE_LF;
			else if (badc[ch] || ch == '\n')
				goto bad;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				goto bad;
			if (size == 0) {
				st = CH_TRAILER;
				line = 0;
			} else if (size > c->max_body - wr) {
				e = HTTP1_E_BODY_TOO_LARGE;
				goto bad;
			} else {
				st = CH_DATA;
			}
			break;
		case CH_DATA_CR:
			if (ch != '\r')
				goto bad;
			st = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				goto bad;
			st = CH_SIZE0;
			line = 0;
			break;
		case CH_TRAILER:  /* start of a trailer line or the final CRLF */
			if (ch == '\r')
				st = CH_END_LF;
			else if (tchar[ch])
				st = CH_TLINE;
			else
				goto bad;
			break;
		case CH_TLINE:
			if (ch == '\r')
				st = CH_TLINE_LF;
			else if (badc[ch] || ch == '\n')
				goto bad;
			break;
		case CH_TLINE_LF:
			if (ch != '\n')
				goto bad;
			st = CH_TRAILER;
			break;
		case CH_END_LF:
			if (ch != '\n')
				goto bad;
			rd++;
			c->_rd = rd;
			c->decoded = wr;
			c->_state = CH_DONE;
			return (ssize_t)rd;
		default:   /* CH_DATA, CH_DONE, CH_ERROR: handled above */
			(void)ALWAYS(0);
			goto bad;
		}
		rd++;
	}
	c->_rd = rd;
	c->decoded = wr;
	c->_size = size;
	c->_line = line;
	c->_state = (uint8_t)st;
	return HTTP1_NEED_MORE;
bad:
	c->decoded = wr;
	c->_err = e;
	c->_state = CH_ERROR;
	return e;
}

/* }==================================================================== */

/* {====================================================================
** Errors and responses
** ===================================================================== */

static const struct {
	uint16_t status;
	const char *reason;
} errors[] = {
	[HTTP1_E_BAD_CHAR - HTTP1_E_BAD_CHAR] =
		{ 400, "control character in request head" },
	[HTTP1_E_BAD_REQUEST - HTTP1_E_BAD_CHAR] =
		{ 400, "malformed request line" },
	[HTTP1_E_BAD_TARGET - HTTP1_E_BAD_CHAR] =
		{ 400, "invalid request target" },
	[HTTP1_E_BAD_HEADER - HTTP1_E_BAD_CHAR] =
		{ 400, "malformed header line" },
	[HTTP1_E_OBS_FOLD - HTTP1_E_BAD_CHAR] =
		{ 400, "folded header line" },
	[HTTP1_E_BAD_HOST - HTTP1_E_BAD_CHAR] =
		{ 400, "missing or repeated Host" },
	[HTTP1_E_BAD_LENGTH - HTTP1_E_BAD_CHAR] =
		{ 400, "invalid Content-Length" },
	[HTTP1_E_LENGTH_AND_TE - HTTP1_E_BAD_CHAR] =
		{ 400, "Content-Length with Transfer-Encoding" },
	[HTTP1_E_BAD_TE - HTTP1_E_BAD_CHAR] =
		{ 400, "invalid Transfer-Encoding" },
	[HTTP1_E_BAD_CHUNK - HTTP1_E_BAD_CHAR] =
		{ 400, "malformed chunked body" },
	[HTTP1_E_BODY_TOO_LARGE - HTTP1_E_BAD_CHAR] =
		{ 413, "request body too large" },
	[HTTP1_E_URI_TOO_LONG - HTTP1_E_BAD_CHAR] =
		{ 414, "request line too long" },
	[HTTP1_E_TOO_LARGE - HTTP1_E_BAD_CHAR] =
		{ 431, "request header section too large" },
	[HTTP1_E_TOO_MANY_HEADERS - HTTP1_E_BAD_CHAR] =
		{ 431, "too many header lines" },
	[HTTP1_E_UNSUPPORTED_TE - HTTP1_E_BAD_CHAR] =
		{ 501, "unsupported transfer coding" },
	[HTTP1_E_VERSION - HTTP1_E_BAD_CHAR] =
		{ 505, "unsupported HTTP version" },
};

/* Errors are consecutive from HTTP1_E_BAD_CHAR, so one table serves both
** lookups; anything outside the range is not ours. */
int http1_error_status(ssize_t e)
{
	if (e < HTTP1_E_BAD_CHAR || e >= HTTP1_E_LAST_)
		return 0;
	return errors[e - HTTP1_E_BAD_CHAR].status;
}

const char *http1_error_reason(ssize_t e)
{
	if (e >= 0)
		return "ok";
	if (e == HTTP1_NEED_MORE)
		return "need more bytes";
	if (e < HTTP1_E_BAD_CHAR || e >= HTTP1_E_LAST_)
		return "unknown error";
	return errors[e - HTTP1_E_BAD_CHAR].reason;
}

/* Reason phrase and its length; RFC 9110 section 15 wording. */
static const char *reason_of(int status, size_t *n)
{
#define R(c, s) case c: *n = sizeof(s) - 1; return s
	switch (status) {
	R(100, "Continue"); R(101, "Switching Protocols"); R(103, "Early Hints");
	R(200, "OK"); R(201, "Created"); R(202, "Accepted");
	R(203, "Non-Authoritative Information"); R(204, "No Content");
	R(205, "Reset Content"); R(206, "Partial Content");
	R(300, "Multiple Choices"); R(301, "Moved Permanently");
	R(302, "Found"); R(303, "See Other"); R(304, "Not Modified");
	R(307, "Temporary Redirect"); R(308, "Permanent Redirect");
	R(400, "Bad Request"); R(401, "Unauthorized");
	R(402, "Payment Required"); R(403, "Forbidden"); R(404, "Not Found");
	R(405, "Method Not Allowed"); R(406, "Not Acceptable");
	R(407, "Proxy Authentication Required"); R(408, "Request Timeout");
	R(409, "Conflict"); R(410, "Gone"); R(411, "Length Required");
	R(412, "Precondition Failed"); R(413, "Content Too Large");
	R(414, "URI Too Long"); R(415, "Unsupported Media Type");
	R(416, "Range Not Satisfiable"); R(417, "Expectation Failed");
	R(421, "Misdirected Request"); R(422, "Unprocessable Content");
	R(425, "Too Early"); R(426, "Upgrade Required");
	R(428, "Precondition Required"); R(429, "Too Many Requests");
	R(431, "Request Header Fields Too Large");
	R(451, "Unavailable For Legal Reasons");
	R(500, "Internal Server Error"); R(501, "Not Implemented");
	R(502, "Bad Gateway"); R(503, "Service Unavailable");
	R(504, "Gateway Timeout"); R(505, "HTTP Version Not Supported");
	}
#undef R
	*n = 0;
	return "";
}

const char *http1_status_reason(int status)
{
	size_t n;

	return reason_of(status, &n);
}

/* All bytes of s[0, n) are in table t. */
static int all_in(const uint8_t *t, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!t[(uint8_t)s[i]])
			return 0;
	return 1;
}

#define PUT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) += sizeof(lit) - 1)

/* Two passes over the arguments: validate and size everything, then copy
** with no bounds checks. Content-Length digits are produced backwards into
** a small array; the status line is three digit stores and a memcpy. The
** whole head is written or nothing useful is (on -ENOSPC/-EINVAL). */
ssize_t http1_write_head(char *buf, size_t cap, int status, const char *reason,
                         const struct http1_field *fields, size_t nfields,
                         int64_t content_length, int keep_alive)
{
	char num[20], *o = buf, *d = num + sizeof num;
	size_t rn, need, i, nd = 0;
	uint64_t v;

	if (status < 100 || status > 999)
		return -EINVAL;
	if (reason) {
		rn = strlen(reason);
		if (!all_in(vchar, reason, rn))
			return -EINVAL;
	} else {
		reason = reason_of(status, &rn);
	}
	/* Size everything first so the copy loop needs no checks. */
	need = sizeof("HTTP/1.1 200 \r\n") - 1 + rn + 2;
	for (i = 0; i < nfields; i++) {
		const struct http1_field *f = &fields[i];
		if (f->name_len == 0 || !all_in(tchar, f->name, f->name_len) ||
		    !all_in(vchar, f->value, f->value_len))
			return -EINVAL;
		need += f->name_len + 2 + f->value_len + 2;
	}
	if (content_length >= 0) {
		v = (uint64_t)content_length;
		do {
			*--d = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		nd = (size_t)(num + sizeof num - d);
		need += sizeof("Content-Length: \r\n") - 1 + nd;
	} else if (content_length == HTTP1_CHUNKED) {
		need += sizeof("Transfer-Encoding: chunked\r\n") - 1;
	} else if (content_length != HTTP1_NO_LENGTH) {
		return -EINVAL;
	}
	if (keep_alive == HTTP1_CLOSE)
		need += sizeof("Connection: close\r\n") - 1;
	else if (keep_alive == HTTP1_KEEP_EXPLICIT)
		need += sizeof("Connection: keep-alive\r\n") - 1;
	else if (keep_alive != HTTP1_KEEP)
		return -EINVAL;
	if (need > cap)
		return -ENOSPC;

	PUT(o, "HTTP/1.1 ");
	o[0] = (char)('0' + status / 100);
	o[1] = (char)('0' + status / 10 % 10);
	o[2] = (char)('0' + status % 10);
	o[3] = ' ';
	o += 4;
	memcpy(o, reason, rn);
	o += rn;
	PUT(o, "\r\n");
	for (i = 0; i < nfields; i++) {
		const struct http1_field *f = &fields[i];
		memcpy(o, f->name, f->name_len);
		o += f->name_len;
		PUT(o, ": ");
		memcpy(o, f->value, f->value_len);
		o += f->value_len;
		PUT(o, "\r\n");
	}
	if (content_length >= 0) {
		PUT(o, "Content-Length: ");
		memcpy(o, d, nd);
		o += nd;
		PUT(o, "\r\n");
	} else if (content_length == HTTP1_CHUNKED) {
		PUT(o, "Transfer-Encoding: chunked\r\n");
	}
	if (keep_alive == HTTP1_CLOSE)
		PUT(o, "Connection: close\r\n");
	else if (keep_alive == HTTP1_KEEP_EXPLICIT)
		PUT(o, "Connection: keep-alive\r\n");
	PUT(o, "\r\n");
	return o - buf;
}

/* }==================================================================== */
