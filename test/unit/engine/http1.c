/*
** test/unit/engine/http1.c: the HTTP/1.1 parser and writer (engine/http1.c).
**
** Every fixture runs through a simulated connection that parses heads,
** frames bodies and follows pipelined requests, and writes a transcript:
** one line per complete request with every parsed field and the decoded
** body, then the final result. The fixtures check their transcript for
** the expected error (and its HTTP status) or request count and fields.
**
** Resumability is checked by comparing transcripts: the same input fed
** whole, byte by byte, and in many random splits must give the same
** transcript. In the split runs the connection buffer is reallocated to
** its exact fill size before each call (so the parser must not keep
** pointers, and under ASan any read past the end is caught) and chunked
** bodies are compacted whenever they wait for bytes.
**
** Guard-page tests put every prefix of every fixture at the very end of a
** readable page followed by a PROT_NONE page (as picohttpparser's test
** does), so an over-read crashes even without a sanitizer.
*/
#include "engine/http1.c"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tap.h"

/* {====================================================================
** Transcripts
** ===================================================================== */

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_put(struct sbuf *b, const char *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = 0;
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	sb_put(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Bytes, with anything unprintable escaped. */
static void sb_bytes(struct sbuf *b, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			sb_put(b, (const char *)&c, 1);
		else
			sb_printf(b, "\\x%02x", c);
	}
}

static void describe(struct sbuf *o, const struct http1_request *r,
                     const char *b)
{
	uint32_t i;

	sb_printf(o, "REQ hl=%u m=", r->head_len);
	sb_bytes(o, b + r->method_off, r->method_len);
	sb_printf(o, "(%d) t=", r->method);
	sb_bytes(o, b + r->target_off, r->target_len);
	sb_printf(o, " form=%d p=", r->target_form);
	sb_bytes(o, b + r->path_off, r->path_len);
	if (r->query_off) {
		sb_printf(o, " q=");
		sb_bytes(o, b + r->query_off, r->query_len);
	}
	if (r->authority_len) {
		sb_printf(o, " a=");
		sb_bytes(o, b + r->authority_off, r->authority_len);
	}
	sb_printf(o, " v=1.%d f=%#x bk=%d cl=%llu", r->minor_version,
	          r->flags, r->body_kind,
	          (unsigned long long)r->content_length);
	if (r->flags & HTTP1_F_HAS_HOST) {
		sb_printf(o, " host=");
		sb_bytes(o, b + r->host_off, r->host_len);
	}
	sb_printf(o, " h=");
	for (i = 0; i < r->nheaders; i++) {
		const struct http1_header *h = &r->headers[i];
		sb_bytes(o, b + h->name_off, h->name_len);
		sb_put(o, ":", 1);
		sb_bytes(o, b + h->value_off, h->value_len);
		sb_put(o, "|", 1);
	}
	sb_printf(o, " body[%llu]=", (unsigned long long)r->body_len);
	sb_bytes(o, b + r->head_len, r->body_len);
	sb_put(o, "\n", 1);
}

/* }==================================================================== */

/* {====================================================================
** Simulated connection
** ===================================================================== */

#define MAXH 128

struct conn {
	char *buf;
	size_t fill, start;
	int exact;        /* reallocate the buffer to its fill size each feed */
	int compact;      /* compact chunked bodies while they wait */
	int phase;        /* 0 head, 1 body */
	int done;
	ssize_t final;
	int nreq;
	struct http1_request req;
	struct http1_header hdrs[MAXH];
	struct sbuf out;
};

static void conn_init(struct conn *c, const struct http1_limits *lim)
{
	memset(c, 0, sizeof *c);
	http1_init(&c->req, c->hdrs, MAXH, lim);
	c->final = HTTP1_NEED_MORE;
}

static void conn_run(struct conn *c)
{
	while (!c->done) {
		char *b = c->buf + c->start;
		size_t len = c->fill - c->start;
		ssize_t n;

		if (c->phase == 0) {
			n = http1_parse(&c->req, b, len);
			if (n == HTTP1_NEED_MORE)
				return;
			if (n < 0)
				goto error;
			c->phase = 1;
		}
		n = http1_body(&c->req, b, len);
		if (n == HTTP1_NEED_MORE) {
			if (c->compact)
				c->fill = c->start +
				          http1_body_compact(&c->req, b, len);
			return;
		}
		if (n < 0)
			goto error;
		describe(&c->out, &c->req, b);
		c->nreq++;
		c->start += (size_t)n;
		c->phase = 0;
		http1_reset(&c->req);
	}
	return;
error:
	c->done = 1;
	c->final = c->phase == 0 ? c->req._err : c->req._chunk._err;
	if (c->final == 0)
		c->final = -1;
}

static void conn_feed(struct conn *c, const char *p, size_t n)
{
	if (c->exact) {
		char *nb = malloc(c->fill + n ? c->fill + n : 1);
		if (c->fill)
			memcpy(nb, c->buf, c->fill);
		free(c->buf);
		c->buf = nb;
	} else {
		c->buf = realloc(c->buf, c->fill + n ? c->fill + n : 1);
	}
	memcpy(c->buf + c->fill, p, n);
	c->fill += n;
	conn_run(c);
}

/* Transcript (malloc'd) of input fed in pieces of the given sizes (all of
** it in one piece when nsplit is 0). */
static char *transcript(const char *in, size_t len, const size_t *pieces,
                        size_t npieces, int exact,
                        const struct http1_limits *lim, ssize_t *final,
                        int *nreq)
{
	struct conn *c = malloc(sizeof *c);
	size_t off = 0, i;
	char *s;

	conn_init(c, lim);
	c->exact = exact;
	c->compact = exact;
	for (i = 0; i < npieces && off < len; i++) {
		size_t k = pieces[i] < len - off ? pieces[i] : len - off;
		conn_feed(c, in + off, k);
		off += k;
	}
	if (off < len || len == 0)
		conn_feed(c, in + off, len - off);
	sb_printf(&c->out, "END %zd\n", c->final);
	if (final)
		*final = c->final;
	if (nreq)
		*nreq = c->nreq;
	s = c->out.s;
	free(c->buf);
	free(c);
	return s;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Whole, byte by byte, and `rounds` random splits must agree. Returns the
** number of disagreeing runs (0 = resumable). */
static int check_splits(const char *in, size_t len, int rounds,
                        const struct http1_limits *lim)
{
	size_t *pieces = malloc((len + 1) * sizeof *pieces), i;
	char *whole = transcript(in, len, NULL, 0, 0, lim, NULL, NULL), *t;
	int bad = 0, k;

	for (i = 0; i <= len; i++)
		pieces[i] = 1;
	t = transcript(in, len, pieces, len, 1, lim, NULL, NULL);
	if (strcmp(whole, t)) {
		bad++;
		printf("# byte-by-byte differs:\n# whole: %s# split: %s", whole, t);
	}
	free(t);
	for (k = 0; k < rounds; k++) {
		size_t n = 0, left = len;
		while (left) {
			size_t p = 1 + rnd() % (k % 3 == 0 ? 4 : k % 3 == 1 ? 40 : 400);
			if (p > left)
				p = left;
			pieces[n++] = p;
			left -= p;
		}
		t = transcript(in, len, pieces, n, 1, lim, NULL, NULL);
		if (strcmp(whole, t)) {
			if (!bad)
				printf("# split differs:\n# whole: %s# split: %s",
				       whole, t);
			bad++;
		}
		free(t);
	}
	free(whole);
	free(pieces);
	return bad;
}

/* }==================================================================== */

/* {====================================================================
** Fixtures
** ===================================================================== */

struct fx {
	const char *name;
	const char *in;
	int nreq;        /* complete requests expected before `err` */
	int err;         /* 0: ends waiting for more (NEED_MORE) */
	const char *has; /* substring the transcript must contain, or NULL */
};

#define H11 " HTTP/1.1\r\nHost: a\r\n"

static const struct fx fixtures[] = {
	/* good */
	{ "simple GET", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 1, 0,
	  "m=GET(1) t=/ form=0 p=/ v=1.1 f=0x9 bk=0 cl=0 host=example.com" },
	{ "path and query", "GET /a/b?x=1&y=2" H11 "\r\n", 1, 0,
	  "p=/a/b q=x=1&y=2" },
	{ "empty query", "GET /a?" H11 "\r\n", 1, 0, "p=/a q= v" },
	{ "bare LF", "GET /x HTTP/1.1\nHost: a\nX: y\n\n", 1, 0,
	  "h=Host:a|X:y|" },
	{ "mixed CRLF and LF", "GET /x HTTP/1.1\r\nHost: a\n\r\n", 1, 0, NULL },
	{ "leading empty lines", "\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	  1, 0, "hl=32 m=GET" },
	{ "HTTP/1.0 closes", "GET / HTTP/1.0\r\n\r\n", 1, 0, "v=1.0 f=0 " },
	{ "HTTP/1.0 keep-alive",
	  "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, 0,
	  "v=1.0 f=0x81 " },
	{ "HTTP/1.1 close", "GET /" H11 "Connection: close\r\n\r\n", 1, 0,
	  "f=0x48 " },
	{ "connection list",
	  "GET /" H11 "Connection: keep-alive ,  Upgrade,,foo\r\n\r\n", 1, 0,
	  "f=0x8d " },
	{ "connection close wins",
	  "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 1, 0,
	  "f=0xc0 " },
	{ "HTTP/1.2 is 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 1, 0, "v=1.1" },
	{ "asterisk with other method", "M-SEARCH *" H11 "\r\n", 0,
	  HTTP1_E_BAD_TARGET, NULL },
	{ "unknown method", "PROPFIND /d" H11 "\r\n", 1, 0, "m=PROPFIND(0)" },
	{ "OPTIONS *", "OPTIONS *" H11 "\r\n", 1, 0, "(7) t=* form=3 p=*" },
	{ "absolute-form", "GET http://ex.com:80/p?q" H11 "\r\n", 1, 0,
	  "form=1 p=/p q=q a=ex.com:80" },
	{ "absolute-form no path", "GET https://ex.com" H11 "\r\n", 1, 0,
	  "form=1 p= a=ex.com v" },
	{ "CONNECT authority", "CONNECT ex.com:443" H11 "\r\n", 1, 0,
	  "form=2 p= a=ex.com:443" },
	{ "value OWS trimmed", "GET /" H11 "X:  \t v a l \t \r\n\r\n", 1, 0,
	  "X:v a l|" },
	{ "empty value", "GET /" H11 "X:\r\nY: \r\n\r\n", 1, 0, "X:|Y:|" },
	{ "obs-text in value and target", "GET /\xc3\xa9" H11 "X: \xff\x80\r\n\r\n",
	  1, 0, "X:\\xff\\x80|" },
	{ "HTAB inside value", "GET /" H11 "X: a\tb\r\n\r\n", 1, 0,
	  "X:a\\x09b|" },
	{ "expect 100-continue", "POST /" H11 "Expect: 100-Continue\r\n"
	  "Content-Length: 1\r\n\r\nx", 1, 0, "f=0x1b bk=1 cl=1" },
	{ "expect ignored in 1.0", "POST / HTTP/1.0\r\nExpect: 100-continue\r\n"
	  "Content-Length: 1\r\n\r\nx", 1, 0, "f=0x10 bk=1" },
	{ "POST Content-Length", "POST /f" H11 "Content-Length: 5\r\n\r\nhello",
	  1, 0, "bk=1 cl=5 host=a h=Host:a|Content-Length:5| body[5]=hello" },
	{ "Content-Length 0", "POST /" H11 "Content-Length: 0\r\n\r\n", 1, 0,
	  "f=0x19 bk=0 cl=0" },
	{ "Content-Length leading zeros", "POST /" H11 "Content-Length: 0002\r\n"
	  "\r\nab", 1, 0, "cl=2" },
	{ "duplicate equal Content-Length", "POST /" H11 "Content-Length: 2\r\n"
	  "content-length: 2\r\n\r\nab", 1, 0, "body[2]=ab" },
	{ "body waits", "POST /" H11 "Content-Length: 5\r\n\r\nhel", 0, 0, NULL },
	{ "chunked", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhello\r\n1;ext=\"v\"\r\n \r\nA \t;a;b=c\r\n0123456789\r\n"
	  "0\r\nTrailer: x\r\nT2: y\r\n\r\n", 1, 0,
	  "bk=2 cl=0 host=a h=Host:a|Transfer-Encoding:chunked| "
	  "body[16]=hello 0123456789" },
	{ "chunked mixed case, list", "POST /" H11
	  "Transfer-Encoding: ,CHUNKED , \r\n\r\n0\r\n\r\n", 1, 0,
	  "bk=2 cl=0 host=a h=Host:a|Transfer-Encoding:,CHUNKED ,| body[0]=" },
	{ "chunked leading zeros", "POST /" H11 "Transfer-Encoding: chunked\r\n"
	  "\r\n0000000000000000000000002\r\nab\r\n0\r\n\r\n", 1, 0,
	  "body[2]=ab" },
	{ "chunked waits", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhel", 0, 0, NULL },
	{ "pipelined", "GET /1" H11 "\r\nPOST /2" H11 "Content-Length: 3\r\n\r\n"
	  "abcPOST /3" H11 "Transfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n"
	  "\r\nGET /4 HTTP/1.0\r\n\r\nGET /5", 4, 0,
	  "p=/3 v=1.1 f=0x29 bk=2 cl=0 host=a "
	  "h=Host:a|Transfer-Encoding:chunked| body[2]=xy\nREQ hl=19" },
	{ "pipelined then error", "GET /1" H11 "\r\nGET /2 HTTP/9.9\r\n\r\n", 1,
	  HTTP1_E_VERSION, NULL },
	{ "incomplete head", "GET / HTTP/1.1\r\nHost: a\r\n", 0, 0, NULL },
	{ "incomplete line", "GET / HT", 0, 0, NULL },
	{ "empty input", "", 0, 0, NULL },

	/* request line */
	{ "NUL in method", "G\0T /" H11 "\r\n", 0, HTTP1_E_BAD_CHAR, NULL },
	{ "NUL in target", "GET /\0" H11 "\r\n", 0, HTTP1_E_BAD_CHAR, NULL },
	{ "DEL in target", "GET /\x7f" H11 "\r\n", 0, HTTP1_E_BAD_CHAR, NULL },
	{ "ctl in incomplete line", "GET /a\x01", 0, HTTP1_E_BAD_CHAR, NULL },
	{ "lowercase method ok", "get /" H11 "\r\n", 1, 0, "m=get(0)" },
	{ "separator in method", "GE(T /" H11 "\r\n", 0, HTTP1_E_BAD_REQUEST,
	  NULL },
	{ "space in target", "GET /a b" H11 "\r\n", 0, HTTP1_E_BAD_REQUEST,
	  NULL },
	{ "two spaces", "GET  /" H11 "\r\n", 0, HTTP1_E_BAD_REQUEST, NULL },
	{ "tab separator", "GET\t/" H11 "\r\n", 0, HTTP1_E_BAD_REQUEST, NULL },
	{ "HTTP/0.9", "GET /\r\n\r\n", 0, HTTP1_E_BAD_REQUEST, NULL },
	{ "no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 0,
	  HTTP1_E_BAD_REQUEST, NULL },
	{ "HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 0, HTTP1_E_VERSION, NULL },
	{ "HTTP/0.9 version", "GET / HTTP/0.9\r\n\r\n", 0, HTTP1_E_VERSION,
	  NULL },
	{ "lowercase version", "GET / http/1.1\r\n\r\n", 0,
	  HTTP1_E_BAD_REQUEST, NULL },
	{ "version 1.10", "GET / HTTP/1.10\r\n\r\n", 0, HTTP1_E_BAD_REQUEST,
	  NULL },
	{ "short version", "GET / HTTP/1\r\n\r\n", 0, HTTP1_E_BAD_REQUEST,
	  NULL },
	{ "space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0,
	  HTTP1_E_BAD_REQUEST, NULL },
	{ "bare CR after version", "GET / HTTP/1.1\rHost: a\r\n\r\n", 0,
	  HTTP1_E_BAD_REQUEST, NULL },
	{ "asterisk with GET", "GET *" H11 "\r\n", 0, HTTP1_E_BAD_TARGET, NULL },
	{ "CONNECT origin", "CONNECT /x" H11 "\r\n", 0, HTTP1_E_BAD_TARGET,
	  NULL },
	{ "bad absolute-form", "GET http:/x" H11 "\r\n", 0, HTTP1_E_BAD_TARGET,
	  NULL },
	{ "empty authority", "GET http:///x" H11 "\r\n", 0, HTTP1_E_BAD_TARGET,
	  NULL },
	{ "relative target", "GET a/b" H11 "\r\n", 0, HTTP1_E_BAD_TARGET, NULL },

	/* headers */
	{ "NUL in header name", "GET /" H11 "X\0: y\r\n\r\n", 0,
	  HTTP1_E_BAD_CHAR, NULL },
	{ "NUL in value", "GET /" H11 "X: a\0b\r\n\r\n", 0, HTTP1_E_BAD_CHAR,
	  NULL },
	{ "DEL in value", "GET /" H11 "X: a\x7f\r\n\r\n", 0, HTTP1_E_BAD_CHAR,
	  NULL },
	{ "bare CR in value", "GET /" H11 "X: a\rb\r\n\r\n", 0,
	  HTTP1_E_BAD_HEADER, NULL },
	{ "space before colon", "GET /" H11 "X : y\r\n\r\n", 0,
	  HTTP1_E_BAD_HEADER, NULL },
	{ "no colon", "GET /" H11 "Xy\r\n\r\n", 0, HTTP1_E_BAD_HEADER, NULL },
	{ "empty name", "GET /" H11 ": y\r\n\r\n", 0, HTTP1_E_BAD_HEADER, NULL },
	{ "bad name char", "GET /" H11 "X/Y: z\r\n\r\n", 0, HTTP1_E_BAD_HEADER,
	  NULL },
	{ "obs-fold", "GET /" H11 "X: a\r\n  b\r\n\r\n", 0, HTTP1_E_OBS_FOLD,
	  NULL },
	{ "space before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0,
	  HTTP1_E_OBS_FOLD, NULL },
	{ "bare CR line end", "GET /" H11 "\r\r\n", 0, HTTP1_E_BAD_HEADER, NULL },
	{ "missing Host", "GET / HTTP/1.1\r\n\r\n", 0, HTTP1_E_BAD_HOST, NULL },
	{ "two Hosts", "GET /" H11 "host: b\r\n\r\n", 0, HTTP1_E_BAD_HOST, NULL },
	{ "Content-Length sign", "POST /" H11 "Content-Length: +5\r\n\r\n", 0,
	  HTTP1_E_BAD_LENGTH, NULL },
	{ "Content-Length negative", "POST /" H11 "Content-Length: -1\r\n\r\n",
	  0, HTTP1_E_BAD_LENGTH, NULL },
	{ "Content-Length junk", "POST /" H11 "Content-Length: 5a\r\n\r\n", 0,
	  HTTP1_E_BAD_LENGTH, NULL },
	{ "Content-Length inner space", "POST /" H11 "Content-Length: 1 2\r\n\r\n",
	  0, HTTP1_E_BAD_LENGTH, NULL },
	{ "Content-Length list", "POST /" H11 "Content-Length: 5, 5\r\n\r\n", 0,
	  HTTP1_E_BAD_LENGTH, NULL },
	{ "Content-Length empty", "POST /" H11 "Content-Length:\r\n\r\n", 0,
	  HTTP1_E_BAD_LENGTH, NULL },
	{ "Content-Length overflow", "POST /" H11
	  "Content-Length: 18446744073709551616\r\n\r\n", 0, HTTP1_E_BAD_LENGTH,
	  NULL },
	{ "Content-Length conflict", "POST /" H11 "Content-Length: 1\r\n"
	  "Content-Length: 2\r\n\r\n", 0, HTTP1_E_BAD_LENGTH, NULL },
	{ "Content-Length huge", "POST /" H11
	  "Content-Length: 18446744073709551615\r\n\r\n", 0,
	  HTTP1_E_BODY_TOO_LARGE, NULL },
	{ "Content-Length with chunked", "POST /" H11 "Content-Length: 3\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", 0, HTTP1_E_LENGTH_AND_TE, NULL },
	{ "chunked with Content-Length", "POST /" H11 "Transfer-Encoding: chunked"
	  "\r\nContent-Length: 3\r\n\r\n", 0, HTTP1_E_LENGTH_AND_TE, NULL },
	{ "TE gzip", "POST /" H11 "Transfer-Encoding: gzip\r\n\r\n", 0,
	  HTTP1_E_BAD_TE, NULL },
	{ "TE gzip, chunked", "POST /" H11 "Transfer-Encoding: gzip, chunked\r\n"
	  "\r\n", 0, HTTP1_E_UNSUPPORTED_TE, NULL },
	{ "TE over two lines", "POST /" H11 "Transfer-Encoding: gzip\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", 0, HTTP1_E_UNSUPPORTED_TE, NULL },
	{ "TE chunked, gzip", "POST /" H11 "Transfer-Encoding: chunked, gzip\r\n"
	  "\r\n", 0, HTTP1_E_BAD_TE, NULL },
	{ "TE chunked twice", "POST /" H11 "Transfer-Encoding: chunked\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", 0, HTTP1_E_BAD_TE, NULL },
	{ "TE empty", "POST /" H11 "Transfer-Encoding:\r\n\r\n", 0,
	  HTTP1_E_BAD_TE, NULL },
	{ "TE with parameter", "POST /" H11 "Transfer-Encoding: chunked;q=1\r\n"
	  "\r\n", 0, HTTP1_E_BAD_TE, NULL },
	{ "TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
	  "\r\n", 0, HTTP1_E_BAD_TE, NULL },
	{ "TE identity", "POST /" H11 "Transfer-Encoding: identity, chunked\r\n"
	  "\r\n", 0, HTTP1_E_UNSUPPORTED_TE, NULL },

	/* chunked framing */
	{ "chunk not hex", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "g\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk size empty", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk size sign", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "+1\r\na\r\n0\r\n\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk size 0x", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "0x1\r\na\r\n0\r\n\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk size overflow", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "10000000000000000\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk size too big", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "ffffffffffffffff\r\n", 0, HTTP1_E_BODY_TOO_LARGE, NULL },
	{ "chunk data too long", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "1\r\nab\r\n0\r\n\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk bare LF size", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "1\na\r\n0\r\n\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk bare LF data", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "1\r\na\n0\r\n\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk bare LF end", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "0\r\n\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk space after size", "POST /" H11 "Transfer-Encoding: chunked\r\n"
	  "\r\n1 \r\na\r\n0\r\n\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk ext ctl", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "1;a\x01\r\na\r\n0\r\n\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
	{ "chunk bad trailer", "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	  "0\r\n T: x\r\n\r\n", 0, HTTP1_E_BAD_CHUNK, NULL },
};

static void test_fixtures(void)
{
	size_t i;

	for (i = 0; i < countof(fixtures); i++) {
		const struct fx *f = &fixtures[i];
		size_t len = strlen(f->in);
		ssize_t final;
		int nreq, bad;
		char *t;

		/* a few fixtures embed NUL bytes: count through them */
		if (strstr(f->name, "NUL"))
			len = strlen(f->in) + 1 + strlen(f->in + strlen(f->in) + 1);
		t = transcript(f->in, len, NULL, 0, 0, NULL, &final, &nreq);
		ok(final == (f->err ? f->err : HTTP1_NEED_MORE) &&
		   nreq == f->nreq && (!f->has || strstr(t, f->has)),
		   "%s: %d requests, %s (%d)", f->name, nreq,
		   http1_error_reason(final), http1_error_status(final));
		if (f->has && !strstr(t, f->has))
			printf("# transcript: %s# want: %s\n", t, f->has);
		if (f->err)
			ok(http1_error_status(f->err) >= 400 &&
			   http1_error_status(final) == http1_error_status(f->err),
			   "%s: maps to %d", f->name, http1_error_status(f->err));
		bad = check_splits(f->in, len, 60, NULL);
		ok(bad == 0, "%s: same result whole, byte by byte, 60 splits",
		   f->name);
		free(t);
	}
}

/* }==================================================================== */

/* {====================================================================
** Focused checks
** ===================================================================== */

/* Parse all of `in` as one head; returns http1_parse's result. */
static ssize_t parse1(struct http1_request *r, struct http1_header *h,
                      uint32_t cap, const struct http1_limits *lim,
                      const char *in, size_t len)
{
	http1_init(r, h, cap, lim);
	return http1_parse(r, in, len);
}

static void test_fields(void)
{
	static const char in[] =
		"POST /api/v1/items?id=7&x HTTP/1.1\r\n"
		"Host: api.example.com:8080\r\n"
		"User-Agent: t/1.0\r\n"
		"Content-Length: 4\r\n"
		"\r\n"
		"abcd";
	struct http1_request r;
	struct http1_header h[8];
	ssize_t n = parse1(&r, h, 8, NULL, in, sizeof in - 1);

	ok(n == (ssize_t)(sizeof in - 1 - 4), "head length %zd", n);
	ok(r.method == HTTP1_POST && r.method_off == 0 && r.method_len == 4,
	   "method");
	ok(r.target_off == 5 && r.target_len == 20, "target offsets");
	ok(r.path_len == 13 && !memcmp(in + r.path_off, "/api/v1/items", 13),
	   "path");
	ok(r.query_len == 6 && !memcmp(in + r.query_off, "id=7&x", 6), "query");
	ok(r.nheaders == 3 && h[1].name_len == 10 &&
	   !memcmp(in + h[1].value_off, "t/1.0", 5), "headers");
	ok(r.host_len == 20 && !memcmp(in + r.host_off, "api.example.com:8080",
	   20), "host");
	ok(http1_find_header(&r, in, "user-AGENT", 10) == 1 &&
	   http1_find_header(&r, in, "content-length", 14) == 2 &&
	   http1_find_header(&r, in, "Accept", 6) == -1, "find header");
	ok(http1_body(&r, (char *)in, sizeof in - 3) == HTTP1_NEED_MORE &&
	   r.body_len == 2, "partial body: 2 bytes available");
	ok(http1_body(&r, (char *)in, sizeof in - 1) == (ssize_t)sizeof in - 1 &&
	   r.body_len == 4, "complete body");
	ok(http1_parse(&r, in, sizeof in - 1) == n, "completion is sticky");

	n = parse1(&r, h, 8, NULL, "GET / HTTP/1.1\r\nX: \x01\r\n\r\n", 23);
	ok(n == HTTP1_E_BAD_CHAR && http1_parse(&r, "GET", 3) == n,
	   "errors are sticky");
	http1_init(&r, h, 8, NULL);
	ok(http1_body(&r, (char *)in, 4) == HTTP1_E_BAD_REQUEST,
	   "body before head is refused");
}

static void test_keepalive(void)
{
	static const struct { const char *in; int keep; } t[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: te, Keep-Alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
		  "Connection: close\r\n\r\n", 0 },
	};
	struct http1_request r;
	struct http1_header h[8];
	size_t i;

	for (i = 0; i < countof(t); i++) {
		ssize_t n = parse1(&r, h, 8, NULL, t[i].in, strlen(t[i].in));
		ok(n > 0 && !!(r.flags & HTTP1_F_KEEP_ALIVE) == t[i].keep,
		   "keep-alive %d: %.*s", t[i].keep,
		   (int)strcspn(t[i].in + 16, "\r"), t[i].in + 16);
	}
}

/* Build "GET /<pad> HTTP/1.1\r\nHost: a\r\n" + nh headers + "\r\n". */
static size_t build(char *o, size_t target_pad, int nh, size_t value_pad)
{
	size_t n = 0;
	int i;

	n += (size_t)sprintf(o + n, "GET /");
	memset(o + n, 'a', target_pad);
	n += target_pad;
	n += (size_t)sprintf(o + n, " HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < nh; i++) {
		n += (size_t)sprintf(o + n, "X-%d: ", i);
		memset(o + n, 'v', value_pad);
		n += value_pad;
		n += (size_t)sprintf(o + n, "\r\n");
	}
	n += (size_t)sprintf(o + n, "\r\n");
	return n;
}

static void test_limits(void)
{
	static char in[1 << 16];
	struct http1_limits lim = HTTP1_LIMITS_DEFAULT;
	struct http1_request r;
	struct http1_header h[MAXH];
	size_t base, n;
	ssize_t rc;
	char body[64];

	/* head size: exactly max_head passes, one more byte is 431 */
	base = build(in, 1, 1, 0);
	n = build(in, 1, 1, 8192 - base);
	ok(n == 8192 && parse1(&r, h, MAXH, NULL, in, n) == 8192,
	   "head of exactly 8192 bytes");
	ok(check_splits(in, n, 5, NULL) == 0, "  ... resumable");
	n = build(in, 1, 1, 8192 - base + 1);
	rc = parse1(&r, h, MAXH, NULL, in, n);
	ok(rc == HTTP1_E_TOO_LARGE && http1_error_status(rc) == 431,
	   "head of 8193 bytes: 431");
	ok(check_splits(in, n, 5, NULL) == 0, "  ... resumable");
	rc = parse1(&r, h, MAXH, NULL, in, 8192);
	ok(rc == HTTP1_E_TOO_LARGE, "8192 bytes of an unfinished head: 431");
	rc = parse1(&r, h, MAXH, NULL, in, 8191);
	ok(rc == HTTP1_NEED_MORE, "8191 bytes of an unfinished head: more");

	/* request line: one that cannot end within max_head is 414 */
	n = build(in, 8192 - 16, 0, 0);   /* "GET /" + pad + " HTTP/1.1\r\n" */
	ok(memchr(in, '\n', n) == in + 8191, "request line ends at 8191");
	rc = parse1(&r, h, MAXH, NULL, in, n);
	ok(rc == HTTP1_E_TOO_LARGE, "request line fits, head does not: 431");
	n = build(in, 8192 - 16 + 1, 0, 0);
	rc = parse1(&r, h, MAXH, NULL, in, n);
	ok(rc == HTTP1_E_URI_TOO_LONG && http1_error_status(rc) == 414,
	   "request line of 8193 bytes: 414");
	ok(check_splits(in, n, 5, NULL) == 0, "  ... resumable");
	n = build(in, 100, 0, 0);
	lim.max_head = (uint32_t)n;
	ok(parse1(&r, h, MAXH, &lim, in, n) == (ssize_t)n,
	   "custom max_head %zu, exact", n);
	lim.max_head = (uint32_t)n - 1;
	ok(parse1(&r, h, MAXH, &lim, in, n) == HTTP1_E_TOO_LARGE,
	   "custom max_head, one short");

	/* header count: Host + 63 = 64 passes, Host + 64 is 431 */
	n = build(in, 1, 63, 1);
	ok(parse1(&r, h, MAXH, NULL, in, n) == (ssize_t)n && r.nheaders == 64,
	   "64 headers");
	n = build(in, 1, 64, 1);
	rc = parse1(&r, h, MAXH, NULL, in, n);
	ok(rc == HTTP1_E_TOO_MANY_HEADERS && http1_error_status(rc) == 431,
	   "65 headers: 431");
	ok(check_splits(in, n, 5, NULL) == 0, "  ... resumable");
	n = build(in, 1, 3, 1);
	ok(parse1(&r, h, 4, NULL, in, n) == (ssize_t)n, "array of 4, 4 headers");
	n = build(in, 1, 4, 1);
	ok(parse1(&r, h, 4, NULL, in, n) == HTTP1_E_TOO_MANY_HEADERS,
	   "array of 4 caps max_headers");

	/* body: exactly max_body passes, one more is 413 */
	lim = (struct http1_limits)HTTP1_LIMITS_DEFAULT;
	lim.max_body = 10;
	n = (size_t)sprintf(in, "POST /" H11 "Content-Length: 10\r\n\r\n0123456789");
	ok(parse1(&r, h, MAXH, &lim, in, n) > 0 &&
	   http1_body(&r, in, n) == (ssize_t)n, "Content-Length == max_body");
	n = (size_t)sprintf(in, "POST /" H11 "Content-Length: 11\r\n\r\n");
	rc = parse1(&r, h, MAXH, &lim, in, n);
	ok(rc == HTTP1_E_BODY_TOO_LARGE && http1_error_status(rc) == 413,
	   "Content-Length == max_body + 1: 413 before the body");
	n = (size_t)sprintf(in, "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	                    "3\r\n012\r\n7\r\n3456789\r\n0\r\n\r\n");
	ok(parse1(&r, h, MAXH, &lim, in, n) > 0 &&
	   http1_body(&r, in, n) == (ssize_t)n && r.body_len == 10 &&
	   !memcmp(in + r.head_len, "0123456789", 10), "chunked == max_body");
	ok(check_splits(in, n, 20, &lim) == 0, "  ... resumable");
	n = (size_t)sprintf(in, "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	                    "3\r\n012\r\n8\r\n");
	rc = parse1(&r, h, MAXH, &lim, in, n);
	ok(rc > 0 && http1_body(&r, in, n) == HTTP1_E_BODY_TOO_LARGE,
	   "chunked == max_body + 1: 413 at the size line");
	ok(check_splits(in, n, 20, &lim) == 0, "  ... resumable");

	/* chunk-size line and trailer section limits */
	n = (size_t)sprintf(in, "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n1;");
	memset(in + n, 'x', 4096 - 4);
	n += 4096 - 4;
	n += (size_t)sprintf(in + n, "\r\na\r\n0\r\n\r\n");
	rc = parse1(&r, h, MAXH, NULL, in, n);
	ok(rc > 0 && http1_body(&r, in, n) == (ssize_t)n,
	   "chunk-size line of 4096 bytes");
	memmove(in + rc + 2, in + rc + 1, n - (size_t)rc);
	in[rc + 1] = ';';
	n++;
	rc = parse1(&r, h, MAXH, NULL, in, n);
	ok(rc > 0 && http1_body(&r, in, n) == HTTP1_E_BAD_CHUNK,
	   "chunk-size line of 4097 bytes: 400");
	n = (size_t)sprintf(in, "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n"
	                    "0\r\nT: ");
	memset(in + n, 'x', 8192 - 7);
	n += 8192 - 7;
	n += (size_t)sprintf(in + n, "\r\n\r\n");
	rc = parse1(&r, h, MAXH, NULL, in, n);
	ok(rc > 0 && http1_body(&r, in, n) == (ssize_t)n,
	   "trailer section of 8192 bytes");
	in[n - 2] = 'y';
	in[n - 1] = '\r';
	memcpy(in + n, "\n\r\n", 3);
	n += 3;
	rc = parse1(&r, h, MAXH, NULL, in, n);
	ok(rc > 0 && http1_body(&r, in, n) == HTTP1_E_TOO_LARGE,
	   "trailer section of 8195 bytes: 431");
	(void)body;
}

/* Every split of a chunked body into three pieces decodes the same. */
static void test_chunked_splits(void)
{
	static const char raw[] =
		"1\r\na\r\n"
		"10;name=value;q=\"x y\"\r\n0123456789abcdef\r\n"
		"003\r\nxyz\r\n"
		"0\r\nExpires: never\r\n\r\n"
		"NEXT";
	static const char want[] = "a0123456789abcdefxyz";
	size_t len = sizeof raw - 1, i, j, bad = 0, bad_rc = 0;
	char buf[sizeof raw];

	for (i = 0; i <= len; i++) {
		for (j = i; j <= len; j++) {
			struct http1_chunked c;
			ssize_t rc;

			memcpy(buf, raw, len);
			http1_chunked_init(&c, 1000);
			rc = http1_chunked_decode(&c, buf, i);
			if (rc < 0 && rc != HTTP1_NEED_MORE)
				bad_rc++;
			rc = http1_chunked_decode(&c, buf, j);
			if (rc < 0 && rc != HTTP1_NEED_MORE)
				bad_rc++;
			rc = http1_chunked_decode(&c, buf, len);
			if (rc != (ssize_t)len - 4 || c.decoded != sizeof want - 1 ||
			    memcmp(buf, want, sizeof want - 1) ||
			    memcmp(buf + len - 4, "NEXT", 4))
				bad++;
		}
	}
	ok(bad == 0 && bad_rc == 0, "chunked body split at every (i, j): "
	   "%zu bad results, %zu errors", bad, bad_rc);

	/* compaction between calls: the buffer shrinks, output is the same */
	{
		struct http1_request r;
		struct http1_header h[4];
		char in[512];
		size_t n = (size_t)sprintf(in, "POST /" H11
		                           "Transfer-Encoding: chunked\r\n\r\n");
		size_t head = n, fill, k, before;
		ssize_t rc = 0;

		n += (size_t)sprintf(in + n, "%s", raw);
		ok(parse1(&r, h, 4, NULL, in, n) == (ssize_t)head, "head");
		/* feed 7 raw bytes at a time into a buffer that is compacted */
		{
			char cb[512];
			size_t src = head;
			memcpy(cb, in, head);
			fill = head;
			while (src < n) {
				k = n - src < 7 ? n - src : 7;
				memcpy(cb + fill, in + src, k);
				fill += k;
				src += k;
				rc = http1_body(&r, cb, fill);
				if (rc != HTTP1_NEED_MORE)
					break;
				before = fill;
				fill = http1_body_compact(&r, cb, fill);
				ok(fill == head + r.body_len && fill <= before,
				   "compact to head + %llu decoded",
				   (unsigned long long)r.body_len);
			}
			ok(rc > 0 && r.body_len == sizeof want - 1 &&
			   !memcmp(cb + head, want, sizeof want - 1) &&
			   !memcmp(cb + rc, "NEXT", (size_t)(fill - (size_t)rc)),
			   "compacted decode: next request follows at %zd", rc);
		}
	}
}

static void test_writer(void)
{
	static const struct http1_field f[] = {
		{ "Server", "wippy", 6, 5 },
		{ "Content-Type", "text/plain", 12, 10 },
	};
	struct http1_field evil = { "X", "a\r\nSet-Cookie: x", 1, 16 };
	struct http1_field badname = { "X Y", "a", 3, 1 };
	char buf[256];
	ssize_t n;
	const char *want = "HTTP/1.1 200 OK\r\nServer: wippy\r\n"
	                   "Content-Type: text/plain\r\nContent-Length: 1234567890"
	                   "\r\n\r\n";

	n = http1_write_head(buf, sizeof buf, 200, NULL, f, 2, 1234567890,
	                     HTTP1_KEEP);
	ok(n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n),
	   "200 with headers and length: %.*s", (int)strcspn(buf, "\r"), buf);
	ok(http1_write_head(buf, (size_t)n, 200, NULL, f, 2, 1234567890,
	                    HTTP1_KEEP) == n, "fits exactly");
	ok(http1_write_head(buf, (size_t)n - 1, 200, NULL, f, 2, 1234567890,
	                    HTTP1_KEEP) == -ENOSPC, "one byte short: -ENOSPC");

	n = http1_write_head(buf, sizeof buf, 404, NULL, NULL, 0, 0, HTTP1_CLOSE);
	want = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
	       "Connection: close\r\n\r\n";
	ok(n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n),
	   "404, length 0, close");
	n = http1_write_head(buf, sizeof buf, 200, "Fine", NULL, 0,
	                     HTTP1_CHUNKED, HTTP1_KEEP_EXPLICIT);
	want = "HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\n"
	       "Connection: keep-alive\r\n\r\n";
	ok(n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n),
	   "custom reason, chunked, explicit keep-alive");
	n = http1_write_head(buf, sizeof buf, 799, NULL, NULL, 0,
	                     HTTP1_NO_LENGTH, HTTP1_KEEP);
	want = "HTTP/1.1 799 \r\n\r\n";
	ok(n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n),
	   "unknown status, no length");
	n = http1_write_head(buf, sizeof buf, 204, NULL, NULL, 0,
	                     HTTP1_NO_LENGTH, HTTP1_KEEP);
	ok(n == 27 && !memcmp(buf, "HTTP/1.1 204 No Content\r\n\r\n", 27),
	   "204");
	ok(http1_write_head(buf, sizeof buf, 200, NULL, &evil, 1, 0, 1) ==
	   -EINVAL, "CRLF in a value: -EINVAL");
	ok(http1_write_head(buf, sizeof buf, 200, NULL, &badname, 1, 0, 1) ==
	   -EINVAL, "space in a name: -EINVAL");
	ok(http1_write_head(buf, sizeof buf, 200, "OK\r\nX: y", NULL, 0, 0, 1) ==
	   -EINVAL, "CRLF in the reason: -EINVAL");
	ok(http1_write_head(buf, sizeof buf, 99, NULL, NULL, 0, 0, 1) == -EINVAL &&
	   http1_write_head(buf, sizeof buf, 1000, NULL, NULL, 0, 0, 1) ==
	   -EINVAL, "status out of range: -EINVAL");
	ok(http1_write_head(buf, sizeof buf, 200, NULL, NULL, 0, -3, 1) ==
	   -EINVAL && http1_write_head(buf, sizeof buf, 200, NULL, NULL, 0, 0,
	   7) == -EINVAL, "bad length or keep-alive argument: -EINVAL");
	n = http1_write_head(buf, sizeof buf, 200, NULL, NULL, 0, INT64_MAX, 1);
	ok(n > 0 && strstr(buf, "Content-Length: 9223372036854775807\r\n"),
	   "largest length");

	ok(!strcmp(http1_status_reason(200), "OK") &&
	   !strcmp(http1_status_reason(413), "Content Too Large") &&
	   !strcmp(http1_status_reason(431), "Request Header Fields Too Large") &&
	   !strcmp(http1_status_reason(505), "HTTP Version Not Supported") &&
	   !strcmp(http1_status_reason(299), ""), "status reasons");
}

static void test_errors(void)
{
	int e, seen400 = 0, bad = 0;

	for (e = HTTP1_E_BAD_CHAR; e < HTTP1_E_LAST_; e++) {
		int s = http1_error_status(e);
		if (s != 400 && s != 413 && s != 414 && s != 431 && s != 501 &&
		    s != 505)
			bad++;
		if (!strcmp(http1_error_reason(e), "unknown error"))
			bad++;
		seen400 += s == 400;
	}
	ok(bad == 0 && seen400 == 10, "every error maps to a status and reason");
	ok(http1_error_status(HTTP1_NEED_MORE) == 0 &&
	   http1_error_status(10) == 0 && http1_error_status(-5000) == 0 &&
	   http1_error_status(HTTP1_E_LAST_) == 0, "non-errors map to 0");
	ok(!strcmp(http1_error_reason(HTTP1_NEED_MORE), "need more bytes") &&
	   !strcmp(http1_error_reason(3), "ok"), "non-error reasons");
}

/* }==================================================================== */

/* {====================================================================
** Guard pages
** ===================================================================== */

static char *guard_base;
static size_t guard_size;

/* Copy in[0, len) so it ends right before a PROT_NONE page. */
static char *at_guard(const char *in, size_t len)
{
	char *p = guard_base + guard_size - len;

	memcpy(p, in, len);
	return p;
}

static void run_guarded(const char *in, size_t len,
                        const struct http1_limits *lim)
{
	struct http1_request r;
	struct http1_header h[MAXH];
	size_t start = 0;
	int k;

	for (k = 0; k < 64 && start <= len; k++) {
		char *b = at_guard(in + start, len - start);
		ssize_t n;
		http1_init(&r, h, MAXH, lim);
		n = http1_parse(&r, b, len - start);
		if (n < 0)
			return;
		n = http1_body(&r, b, len - start);
		if (n <= 0)
			return;
		start += (size_t)n;
	}
}

static void test_guard(void)
{
	static char big[1 << 15];
	struct http1_limits lim = HTTP1_LIMITS_DEFAULT;
	size_t i, k, n, runs = 0;

	guard_size = sizeof big + 4096;
	guard_size = (guard_size + 4095) & ~(size_t)4095;
	guard_base = mmap(NULL, guard_size + 4096, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED) {
		ok(0, "mmap guard region");
		return;
	}
	ok(mprotect(guard_base + guard_size, 4096, PROT_NONE) == 0,
	   "guard page armed");
	for (i = 0; i < countof(fixtures); i++) {
		const char *in = fixtures[i].in;
		n = strlen(in);
		if (strstr(fixtures[i].name, "NUL"))
			n = strlen(in) + 1 + strlen(in + strlen(in) + 1);
		for (k = 0; k <= n; k++, runs++)
			run_guarded(in, k, NULL);
	}
	/* long lines exercise the 8-byte loops right up to the page end */
	for (k = 0; k < 64; k++, runs++) {
		n = build(big, 200 + k, 3, 100 + k);
		run_guarded(big, n - 2 - (k % 5), NULL);
		run_guarded(big, n - (k % 3), NULL);
	}
	lim.max_head = 1u << 15;
	n = build(big, 9000, 20, 1000);
	for (k = n - 40; k <= n; k++, runs++)
		run_guarded(big, k, &lim);
	ok(1, "%zu prefixes parsed against a guard page", runs);
	munmap(guard_base, guard_size + 4096);
}

/* }==================================================================== */

/* Many random requests built from pieces: every one resumable. */
static void test_random_mix(void)
{
	static const char *const parts[] = {
		"GET / HTTP/1.1\r\n", "POST /x?y HTTP/1.0\r\n", "Host: h\r\n",
		"Content-Length: 3\r\n", "Transfer-Encoding: chunked\r\n",
		"Connection: close\r\n", "X: a\tb\r\n", "\r\n", "\n", "abc",
		"3\r\nabc\r\n", "0\r\n\r\n", "Y:\x01\r\n", " fold\r\n",
		"GET http://a/b HTTP/1.1\r\n", "\r", "Expect: 100-continue\r\n",
	};
	char in[2048];
	int i, j, bad = 0;

	for (i = 0; i < 400; i++) {
		size_t n = 0;
		int np = 2 + (int)(rnd() % 12);
		for (j = 0; j < np; j++) {
			const char *p = parts[rnd() % countof(parts)];
			size_t k = strlen(p);
			memcpy(in + n, p, k);
			n += k;
		}
		bad += check_splits(in, n, 8, NULL) != 0;
	}
	ok(bad == 0, "400 random piece mixes resumable (%d differ)", bad);
}

int main(void)
{
	test_fixtures();
	test_fields();
	test_keepalive();
	test_limits();
	test_chunked_splits();
	test_writer();
	test_errors();
	test_guard();
	test_random_mix();
	return tap_done();
}
