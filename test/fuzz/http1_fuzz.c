/*
** test/fuzz/http1_fuzz.c: libFuzzer driver for engine/http1.c.
**
** Input layout: byte 0 picks the limits (small heads, few headers, small
** bodies make the limit paths reachable), bytes 1-4 seed the split
** generator, the rest is what a client sent on one connection.
**
** The connection is run twice: once with all bytes at once, once with the
** bytes arriving in pseudo-random pieces, the buffer reallocated to its
** exact fill size before every call (so ASan sees any read past the end
** and any stale pointer) and chunked bodies compacted while they wait.
** Both runs fold every parsed field and body into a digest per request;
** the digests and the final result must be equal, and every offset the
** parser reports must lie inside the bytes it was given.
**
** The same bytes are also decoded as a bare chunked body, whole and in
** pieces, and the decoded output compared; and cut into header fields for
** http1_write_head(), whose output must hold exactly the lines asked for.
**
** Build and run: test/fuzz/run.sh [seconds].
*/
#include "engine/http1.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXH 64
#define MAXREQ 256

struct run {
	uint64_t digest[MAXREQ];
	int nreq;
	ssize_t final;
};

struct split {
	uint64_t s;
	unsigned max;
};

static size_t next_piece(struct split *sp)
{
	sp->s ^= sp->s << 13;
	sp->s ^= sp->s >> 7;
	sp->s ^= sp->s << 17;
	return 1 + (size_t)(sp->s % sp->max);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (%s:%d)\n", \
	#c, __FILE__, __LINE__); abort(); } } while (0)

/* Check that every reported span is inside [0, head_len) and fold the
** request into one digest. */
static uint64_t digest(const struct http1_request *r, const char *b,
                       size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint32_t i, hl = r->head_len;

	CHECK(hl > 0 && hl <= len && hl <= r->limits.max_head);
	CHECK(r->method_off + r->method_len <= hl && r->method_len > 0);
	CHECK(r->target_off + r->target_len <= hl && r->target_len > 0);
	CHECK(r->path_off + r->path_len <= hl);
	CHECK(r->query_off + r->query_len <= hl);
	CHECK(r->authority_off + r->authority_len <= hl);
	CHECK(r->host_off + r->host_len <= hl);
	CHECK(r->nheaders <= r->limits.max_headers);
	CHECK(hl + r->body_len <= len);
	CHECK(r->body_len <= r->limits.max_body);
	for (i = 0; i < r->nheaders; i++) {
		const struct http1_header *x = &r->headers[i];
		CHECK(x->name_len > 0 && x->name_off + x->name_len <= hl);
		CHECK(x->value_off + x->value_len <= hl);
		CHECK(!memchr(b + x->value_off, '\n', x->value_len));
		CHECK(!memchr(b + x->value_off, '\r', x->value_len));
		h = fnv(h, b + x->name_off, x->name_len);
		h = fnv(h, ":", 1);
		h = fnv(h, b + x->value_off, x->value_len);
	}
	h = fnv(h, r, offsetof(struct http1_request, nheaders));
	h = fnv(h, b + r->method_off, r->method_len);
	h = fnv(h, b + r->target_off, r->target_len);
	h = fnv(h, b + hl, r->body_len);
	return h;
}

/* Run a connection over data[0, n); split == NULL means all at once. */
static void run_conn(const uint8_t *data, size_t n,
                     const struct http1_limits *lim, struct split *sp,
                     struct run *out)
{
	static struct http1_header hdrs[MAXH];
	struct http1_request r;
	char *buf = NULL;
	size_t fill = 0, start = 0, off = 0;
	int phase = 0;

	memset(out, 0, sizeof *out);
	out->final = HTTP1_NEED_MORE;
	http1_init(&r, hdrs, MAXH, lim);
	while (off < n || off == 0) {
		size_t k = sp ? next_piece(sp) : n;
		char *nb;

		if (k > n - off)
			k = n - off;
		/* a fresh exact-size buffer every time: no stale pointers, and
		** ASan flags any byte read at or past fill */
		nb = malloc(fill + k ? fill + k : 1);
		if (fill)
			memcpy(nb, buf, fill);
		if (k)
			memcpy(nb + fill, data + off, k);
		free(buf);
		buf = nb;
		fill += k;
		off += k;
		for (;;) {
			char *b = buf + start;
			size_t len = fill - start;
			ssize_t rc;

			if (phase == 0) {
				rc = http1_parse(&r, b, len);
				if (rc == HTTP1_NEED_MORE)
					break;
				if (rc < 0) {
					CHECK(http1_error_status(rc) >= 400);
					out->final = rc;
					goto done;
				}
				phase = 1;
			}
			rc = http1_body(&r, b, len);
			if (rc == HTTP1_NEED_MORE) {
				size_t nl;
				CHECK(r.body_len <= len - r.head_len);
				if (sp) {
					nl = http1_body_compact(&r, b, len);
					CHECK(nl <= len && nl >= r.head_len + r.body_len);
					fill = start + nl;
				}
				break;
			}
			if (rc < 0) {
				CHECK(http1_error_status(rc) >= 400);
				out->final = rc;
				goto done;
			}
			CHECK((size_t)rc <= len && (size_t)rc >= r.head_len);
			if (out->nreq < MAXREQ)
				out->digest[out->nreq] = digest(&r, b, len);
			out->nreq++;
			start += (size_t)rc;
			phase = 0;
			http1_reset(&r);
		}
		if (off == n)
			break;
	}
done:
	free(buf);
}

/* Decode data as a bare chunked body; returns the result and the digest of
** the decoded bytes in *h. */
static ssize_t run_chunked(const uint8_t *data, size_t n, uint64_t max,
                           struct split *sp, uint64_t *h)
{
	struct http1_chunked c;
	char *buf = malloc(n ? n : 1);
	size_t fill = 0;
	ssize_t rc = HTTP1_NEED_MORE;

	if (n)
		memcpy(buf, data, n);
	http1_chunked_init(&c, max);
	while (fill < n || fill == 0) {
		size_t k = sp ? next_piece(sp) : n;
		if (k > n - fill)
			k = n - fill;
		fill += k;
		rc = http1_chunked_decode(&c, buf, fill);
		if (rc != HTTP1_NEED_MORE)
			break;
		if (fill == n)
			break;
	}
	if (rc >= 0)
		CHECK((size_t)rc <= n && c.decoded <= (uint64_t)rc);
	CHECK(c.decoded <= max && c.decoded <= fill);
	*h = fnv(0xcbf29ce484222325ull, buf, c.decoded);
	free(buf);
	return rc;
}

/* Write a response head with fields cut from the input: it must either be
** refused or contain exactly the lines asked for (no header injection). */
static void run_writer(const uint8_t *data, size_t n, uint64_t seed)
{
	struct http1_field f[4];
	char out[1024];
	size_t nf = seed % 5, i, off = 0, lines = 0;
	int64_t cl = (seed >> 3) % 3 == 0 ? HTTP1_CHUNKED :
	             (seed >> 3) % 3 == 1 ? HTTP1_NO_LENGTH : (int64_t)(seed >> 8);
	int keep = (int)((seed >> 5) % 3);
	ssize_t rc;

	for (i = 0; i < nf; i++) {
		size_t a = (seed >> (8 + 4 * i)) % 9, b = (seed >> (10 + 4 * i)) % 17;
		if (off + a + b > n)
			return;
		f[i].name = (const char *)data + off;
		f[i].name_len = a;
		f[i].value = (const char *)data + off + a;
		f[i].value_len = b;
		off += a + b;
	}
	rc = http1_write_head(out, (seed >> 16) % sizeof out, 100 + (int)(seed % 900),
	                      NULL, f, nf, cl, keep);
	if (rc < 0) {
		CHECK(rc == -EINVAL || rc == -ENOSPC);
		return;
	}
	CHECK((size_t)rc >= 17 && !memcmp(out, "HTTP/1.1 ", 9));
	CHECK(!memcmp(out + rc - 4, "\r\n\r\n", 4));
	for (i = 0; i < (size_t)rc; i++) {
		if (out[i] == '\r') {
			CHECK(i + 1 < (size_t)rc && out[i + 1] == '\n');
			lines++;
			i++;
		} else {
			CHECK(out[i] != '\n' && out[i] != 0);
		}
	}
	CHECK(lines == 2 + nf + (cl != HTTP1_NO_LENGTH) + (keep != HTTP1_KEEP));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t heads[4] = { 8192, 40, 200, 1024 };
	static const uint32_t nhdrs[4] = { 64, 1, 4, 16 };
	static const uint64_t bodies[4] = { 1u << 20, 0, 5, 100 };
	static const unsigned maxes[8] = { 1, 2, 3, 7, 16, 64, 300, 5000 };
	struct http1_limits lim;
	struct split sp;
	struct run a, b;
	uint64_t seed, ha, hb;
	ssize_t ca, cb;
	int i;

	if (size < 5)
		return 0;
	lim.max_head = heads[data[0] & 3];
	lim.max_headers = nhdrs[(data[0] >> 2) & 3];
	lim.max_body = bodies[(data[0] >> 4) & 3];
	seed = (uint64_t)data[1] | (uint64_t)data[2] << 8 |
	       (uint64_t)data[3] << 16 | (uint64_t)data[4] << 24;
	data += 5;
	size -= 5;

	run_conn(data, size, &lim, NULL, &a);
	sp.s = seed * 0x9e3779b97f4a7c15ull + 1;
	sp.max = maxes[seed & 7];
	run_conn(data, size, &lim, &sp, &b);
	CHECK(a.final == b.final);
	CHECK(a.nreq == b.nreq);
	for (i = 0; i < a.nreq && i < MAXREQ; i++)
		CHECK(a.digest[i] == b.digest[i]);

	ca = run_chunked(data, size, lim.max_body ? lim.max_body : 64, NULL, &ha);
	sp.s = seed * 0x9e3779b97f4a7c15ull + 7;
	cb = run_chunked(data, size, lim.max_body ? lim.max_body : 64, &sp, &hb);
	CHECK(ca == cb && ha == hb);

	run_writer(data, size, seed * 0x2545f4914f6cdd1dull);
	return 0;
}
