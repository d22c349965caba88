/*
** runtime/hstatic.c: http.static mounts (see hstatic.h).
**
** Semantics follow Go's http.FileServer and ServeContent, which serve the
** original's static handler: a directory without a trailing '/' is
** redirected (301) to one; a directory serves its index file; Range is
** served as one range (206, 416 with "bytes * / size" when unsatisfiable);
** If-None-Match is evaluated before If-Modified-Since, and a date that
** does not parse is ignored; If-Range that does not match serves the whole
** file. SPA mode answers the index for any path that names no file.
** Added here: an ETag ("size-mtime", both hex) on every file, which Go
** leaves to the handler. Differs: ".." in a path is refused (404) rather
** than cleaned away, directories without an index are 404 (Go lists
** them), several ranges in one request get the whole file (200, which
** RFC 9110 allows), and the type comes from the extension only (Go also
** sniffs the first bytes).
*/
#include "hstatic.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/common.h"
#include "hmw.h"

#define MAX_PATH 4096

struct hstatic {
	char *path;          /* mount, without trailing '/' ("" for "/") */
	size_t plen;
	int root;            /* O_PATH descriptor of the root directory */
	char *index;         /* NULL: "index.html", no SPA */
	char *cache;
	int spa;
	struct hmw_chain *chain;
};

/* {==== Content types ====} */

static const struct { const char *ext, *type; } types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "csv", "text/csv; charset=utf-8" },
	{ "xml", "text/xml; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "avif", "image/avif" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "otf", "font/otf" },
	{ "wasm", "application/wasm" },
	{ "pdf", "application/pdf" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "tar", "application/x-tar" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "wav", "audio/wav" },
};

const char *hstatic_type(const char *name, size_t len)
{
	const char *dot = NULL;
	for (size_t i = len; i-- > 0 && name[i] != '/';)
		if (name[i] == '.') {
			dot = name + i + 1;
			break;
		}
	if (dot)
		for (size_t i = 0; i < countof(types); i++)
			if (strlen(types[i].ext) == (size_t)(name + len - dot) &&
			    !strncasecmp(dot, types[i].ext, (size_t)(name + len - dot)))
				return types[i].type;
	return "application/octet-stream";
}

/* }==== */

struct hstatic *hstatic_create(const char *path, const char *root, const char *index,
			       const char *cache, int spa, struct hmw_chain *chain,
			       char *why, size_t cap)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, cap, "cannot open directory %s: %s", root, strerror(errno));
		hmw_chain_destroy(chain);
		return NULL;
	}
	struct hstatic *s = xcalloc(1, sizeof(*s));
	s->plen = strlen(path);
	while (s->plen && path[s->plen - 1] == '/')
		s->plen--;
	s->path = xmalloc(s->plen + 1);
	memcpy(s->path, path, s->plen);
	s->path[s->plen] = '\0';
	s->root = fd;
	s->index = index ? xstrdup(index) : NULL;
	s->cache = cache && cache[0] ? xstrdup(cache) : NULL;
	s->spa = spa && index;
	s->chain = chain;
	return s;
}

void hstatic_destroy(struct hstatic *s)
{
	if (s == NULL)
		return;
	close(s->root);
	hmw_chain_destroy(s->chain);
	free(s->path);
	free(s->index);
	free(s->cache);
	free(s);
}

int hstatic_match(const struct hstatic *s, const char *path, size_t len)
{
	if (len < s->plen || memcmp(path, s->path, s->plen) != 0)
		return -1;
	if (len > s->plen && path[s->plen] != '/')
		return -1;
	return (int)s->plen;
}

const struct hmw_chain *hstatic_chain(const struct hstatic *s) { return s->chain; }

/* {==== Replies ====} */

static void field(struct hstatic_reply *r, const char *name, const char *v, size_t vl)
{
	if (r->nf < HSTATIC_NFIELDS)
		r->f[r->nf++] = (struct http1_field){ name, v, strlen(name), vl };
}

/* A generated value into the reply's own storage. */
static void fieldf(struct hstatic_reply *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fieldf(struct hstatic_reply *r, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *p = r->_buf + r->_used;
	size_t room = sizeof(r->_buf) - r->_used;
	va_start(ap, fmt);
	int n = vsnprintf(p, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return;
	r->_used += (size_t)n + 1;
	field(r, name, p, (size_t)n);
}

static void text(struct hstatic_reply *r, int status, const char *body)
{
	r->status = status;
	r->body = body;
	r->blen = strlen(body);
	field(r, "Content-Type", "text/plain; charset=utf-8", 25);
	field(r, "X-Content-Type-Options", "nosniff", 7);
}

/* }==== */

/* {==== Paths ====} */

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10);
}

/*
** The request path below the mount, percent-decoded and split, as a
** relative path "a/b/c" ("" for the root) in out. Returns 0, 1 when it
** ended with '/', -400 for a bad escape or a NUL, -404 for a ".."
** segment (the escape is refused, never cleaned into the root).
*/
static int clean(const char *p, size_t n, char *out, size_t cap)
{
	char dec[MAX_PATH];
	size_t dl = 0, ol = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '%') {
			if (i + 2 >= n || !isxdigit((unsigned char)p[i + 1]) ||
			    !isxdigit((unsigned char)p[i + 2]))
				return -400;
			c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
			i += 2;
		}
		if (c == 0)
			return -400;
		if (dl + 1 >= sizeof(dec))
			return -404;
		dec[dl++] = (char)c;
	}
	int slash = dl > 0 && dec[dl - 1] == '/';
	for (size_t i = 0; i < dl;) {
		size_t j = i;
		while (j < dl && dec[j] != '/')
			j++;
		size_t sl = j - i;
		if (sl == 2 && dec[i] == '.' && dec[i + 1] == '.')
			return -404;
		if (sl && !(sl == 1 && dec[i] == '.')) {
			if (ol + sl + 2 >= cap)
				return -404;
			if (ol)
				out[ol++] = '/';
			memcpy(out + ol, dec + i, sl);
			ol += sl;
		}
		i = j + 1;
	}
	out[ol] = '\0';
	return slash;
}

/* Open rel beneath dirfd: no "..", no absolute or magic links, nothing
** that resolves outside dirfd (EXDEV then). O_NONBLOCK so that a FIFO
** does not block the open; it is cleared on the regular file kept. */
static int open_beneath(int dirfd, const char *rel)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	long fd = syscall(SYS_openat2, dirfd, rel[0] ? rel : ".", &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* }==== */

/* {==== Conditions and ranges ====} */

/* An IMF-fixdate (RFC 9110 5.6.7) to seconds, or -1. The obsolete RFC
** 850 and asctime forms are accepted too, as Go's http.ParseTime does. */
static int64_t parse_date(const char *v, size_t n)
{
	static const char *const fmts[] = { "%a, %d %b %Y %H:%M:%S GMT",
		"%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y" };
	char buf[64];
	struct tm tm;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	for (size_t i = 0; i < countof(fmts); i++) {
		memset(&tm, 0, sizeof(tm));
		const char *end = strptime(buf, fmts[i], &tm);
		if (end && *end == '\0')
			return (int64_t)timegm(&tm);
	}
	return -1;
}

/* Whether the If-None-Match (or If-Range) list names etag; "*" matches. */
static int etag_in(const char *v, size_t n, const char *etag, size_t el, int weak_ok)
{
	const char *p = v, *end = v + n;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			break;
		if (*p == '*')
			return 1;
		const char *s = p;
		if (weak_ok && end - p > 2 && p[0] == 'W' && p[1] == '/')
			s = p += 2;
		if (*p != '"')
			return 0; /* malformed: matches nothing */
		const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (q == NULL)
			return 0;
		if ((size_t)(q + 1 - s) == el && !memcmp(s, etag, el))
			return 1;
		p = q + 1;
	}
	return 0;
}

/*
** The single range of a Range value against size: 1 with [*a, *b] set,
** 0 to serve the whole file (not "bytes=", or several ranges), -1 when
** malformed or unsatisfiable (416).
*/
static int parse_range(const char *v, size_t n, uint64_t size, uint64_t *a, uint64_t *b)
{
	char buf[128], *p, *end;
	if (n < 6 || strncmp(v, "bytes=", 6) != 0)
		return n == 0 ? 0 : -1;
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, v + 6, n - 6);
	buf[n - 6] = '\0';
	if (strchr(buf, ','))
		return 0;
	p = buf;
	while (*p == ' ')
		p++;
	if (*p == '-') { /* the last N bytes */
		if (!isdigit((unsigned char)p[1]))
			return -1;
		unsigned long long k = strtoull(p + 1, &end, 10);
		while (*end == ' ')
			end++;
		if (*end || k == 0 || size == 0)
			return -1;
		*a = k >= size ? 0 : size - k;
		*b = size - 1;
		return 1;
	}
	if (!isdigit((unsigned char)*p))
		return -1;
	unsigned long long s = strtoull(p, &end, 10);
	if (*end != '-')
		return -1;
	p = end + 1;
	while (*p == ' ')
		p++;
	unsigned long long e = size ? size - 1 : 0;
	if (*p) {
		if (!isdigit((unsigned char)*p))
			return -1;
		e = strtoull(p, &end, 10);
		while (*end == ' ')
			end++;
		if (*end || e < s)
			return -1;
		if (e >= size)
			e = size - 1;
	}
	if (s >= size)
		return -1;
	*a = s;
	*b = e;
	return 1;
}

/* }==== */

/* The answer for an open regular file of fd (name is its path, for the type). */
static void serve_file(const struct hstatic *s, int fd, const struct stat *st,
		       const char *name, const char *type, hstatic_header_fn header,
		       void *ud, struct hstatic_reply *r)
{
	char etag[64], lm[40];
	struct tm tm;
	size_t vl, el;
	const char *v;
	uint64_t size = (uint64_t)st->st_size, a = 0, b = 0;
	int64_t mtime = (int64_t)st->st_mtim.tv_sec;

	el = (size_t)snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)size,
			      (unsigned long long)(st->st_mtim.tv_sec * 1000000000ll +
						   st->st_mtim.tv_nsec));
	gmtime_r(&st->st_mtim.tv_sec, &tm);
	strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	fieldf(r, "ETag", "%s", etag);
	fieldf(r, "Last-Modified", "%s", lm);
	if (s->cache)
		field(r, "Cache-Control", s->cache, strlen(s->cache));

	/* 304: If-None-Match first; If-Modified-Since only without it. */
	if ((v = header(ud, "If-None-Match", 13, &vl)) != NULL) {
		if (etag_in(v, vl, etag, el, 1))
			goto not_modified;
	} else if ((v = header(ud, "If-Modified-Since", 17, &vl)) != NULL) {
		int64_t t = parse_date(v, vl);
		if (t >= 0 && mtime <= t)
			goto not_modified;
	}
	field(r, "Content-Type", type ? type : hstatic_type(name, strlen(name)),
	      strlen(type ? type : hstatic_type(name, strlen(name))));
	field(r, "Accept-Ranges", "bytes", 5);
	r->status = 200;
	r->fd = fd;
	r->off = 0;
	r->len = size;
	if ((v = header(ud, "Range", 5, &vl)) == NULL)
		return;
	/* If-Range: a strong etag that matches, or the exact date. */
	size_t il;
	const char *ir = header(ud, "If-Range", 8, &il);
	if (ir && !(il && ir[0] == '"' ? etag_in(ir, il, etag, el, 0)
				       : parse_date(ir, il) == mtime))
		return;
	switch (parse_range(v, vl, size, &a, &b)) {
	case 0:
		return;
	case 1:
		r->status = 206;
		r->off = a;
		r->len = b - a + 1;
		fieldf(r, "Content-Range", "bytes %llu-%llu/%llu", (unsigned long long)a,
		       (unsigned long long)b, (unsigned long long)size);
		return;
	default:
		close(fd);
		r->fd = -1;
		r->nf = 0;
		r->_used = 0;
		fieldf(r, "Content-Range", "bytes */%llu", (unsigned long long)size);
		text(r, 416, "invalid range: failed to overlap\n");
		return;
	}
not_modified:
	close(fd);
	r->status = 304;
	r->no_length = 1;
	r->body = "";
	r->blen = 0;
}

void hstatic_serve(const struct hstatic *s, const char *method, size_t ml,
		   const char *path, size_t plen, hstatic_header_fn header, void *ud,
		   struct hstatic_reply *r)
{
	char rel[MAX_PATH];
	struct stat st;
	int fd, slash;
	const char *type = NULL;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (!((ml == 3 && !memcmp(method, "GET", 3)) || (ml == 4 && !memcmp(method, "HEAD", 4)))) {
		field(r, "Allow", "GET, HEAD", 9);
		text(r, 405, "method not allowed\n");
		return;
	}
	path += s->plen;
	plen -= s->plen;
	if (plen == 0) { /* "/static": the mount's directory, with its slash */
		fieldf(r, "Location", "%s/", s->path);
		text(r, 301, "moved permanently\n");
		return;
	}
	slash = clean(path, plen, rel, sizeof(rel));
	if (slash == -400) {
		text(r, 400, "bad request: invalid path escape\n");
		return;
	}
	if (slash < 0)
		goto not_found;
	fd = open_beneath(s->root, rel);
	if (fd == -EACCES || fd == -EPERM) {
		text(r, 403, "403 Forbidden\n");
		return;
	}
	if (fd < 0) {
		/* ENOENT, ENOTDIR, ELOOP, EXDEV (outside the root), ...: no
		** such file here. Only plain absence falls back to the SPA. */
		if (s->spa && (fd == -ENOENT || fd == -ENOTDIR))
			goto spa;
		goto not_found;
	}
	if (fstat(fd, &st) < 0)
		goto close_not_found;
	if (S_ISDIR(st.st_mode)) {
		if (!slash && rel[0]) {
			close(fd);
			fieldf(r, "Location", "%s/%s/", s->path, rel);
			text(r, 301, "moved permanently\n");
			return;
		}
		int ifd = open_beneath(fd, s->index ? s->index : "index.html");
		close(fd);
		if (ifd < 0 || fstat(ifd, &st) < 0 || !S_ISREG(st.st_mode)) {
			if (ifd >= 0)
				close(ifd);
			if (s->spa)
				goto spa;
			goto not_found;
		}
		fd = ifd;
		type = hstatic_type(s->index ? s->index : "index.html",
				    strlen(s->index ? s->index : "index.html"));
	} else if (!S_ISREG(st.st_mode)) {
		goto close_not_found;
	}
	fcntl(fd, F_SETFL, 0); /* reads through the ring may block in its workers */
	serve_file(s, fd, &st, rel, type, header, ud, r);
	return;
spa:
	/* The index for any path that names no file: the original sets
	** text/html for it whatever its name. */
	fd = open_beneath(s->root, s->index);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		text(r, 500, "index file not found\n");
		return;
	}
	fcntl(fd, F_SETFL, 0);
	serve_file(s, fd, &st, s->index, "text/html; charset=utf-8", header, ud, r);
	return;
close_not_found:
	close(fd);
not_found:
	text(r, 404, "404 page not found\n");
}
