/*
** test/unit/runtime/hstatic.c: the pure parts of http.static (path
** cleaning, Range, If-None-Match, dates, types) and hstatic_serve over a
** real directory: escapes through "..", encodings and symlinks are refused
** (openat2 RESOLVE_BENEATH), and the reply's status, fields and range are
** those of Go's ServeContent for each request.
*/
#include "runtime/hstatic.c"

#include <stdio.h>
#include <stdlib.h>

#include "tap.h"

static void test_clean(void)
{
	char out[256];
	ok(clean("/a/b.txt", 8, out, sizeof(out)) == 0 && !strcmp(out, "a/b.txt"), "plain path");
	ok(clean("/a//./b/", 8, out, sizeof(out)) == 1 && !strcmp(out, "a/b"), "empty and . segments, trailing /");
	ok(clean("/%61%2Fb", 8, out, sizeof(out)) == 0 && !strcmp(out, "a/b"), "escapes decoded, %%2F splits");
	ok(clean("/a/../b", 7, out, sizeof(out)) == -404, ".. refused");
	ok(clean("/%2e%2e/x", 9, out, sizeof(out)) == -404, "%%2e%%2e refused");
	ok(clean("/a/%2E%2e", 9, out, sizeof(out)) == -404, "trailing encoded .. refused");
	ok(clean("/a%00b", 6, out, sizeof(out)) == -400, "NUL refused");
	ok(clean("/a%zz", 5, out, sizeof(out)) == -400, "bad escape");
	ok(clean("/a%2", 4, out, sizeof(out)) == -400, "cut escape");
	ok(clean("/", 1, out, sizeof(out)) == 1 && out[0] == '\0', "root");
	ok(clean("/...", 4, out, sizeof(out)) == 0 && !strcmp(out, "..."), "... is a name");
}

static void test_range(void)
{
	uint64_t a, b;
#define R(v, size) parse_range(v, strlen(v), size, &a, &b)
	ok(R("bytes=0-4", 10) == 1 && a == 0 && b == 4, "a-b");
	ok(R("bytes=3-", 10) == 1 && a == 3 && b == 9, "a-");
	ok(R("bytes=-3", 10) == 1 && a == 7 && b == 9, "-n");
	ok(R("bytes=-30", 10) == 1 && a == 0 && b == 9, "-n past the start: whole file");
	ok(R("bytes=5-100", 10) == 1 && b == 9, "end clamped");
	ok(R("bytes=10-", 10) == -1, "start at size: 416");
	ok(R("bytes=4-2", 10) == -1, "end before start");
	ok(R("bytes=-0", 10) == -1, "-0");
	ok(R("bytes=x-1", 10) == -1 && R("bytes=1-x", 10) == -1 && R("bytes=", 10) == -1, "junk");
	ok(R("lines=1-2", 10) == -1, "another unit");
	ok(R("bytes=0-1,3-4", 10) == 0, "several ranges: whole file");
	ok(R("bytes=0-0", 0) == -1, "empty file");
#undef R
}

static void test_etag_date(void)
{
	const char *e = "\"d-1\"";
	ok(etag_in("\"d-1\"", 5, e, 5, 1), "exact");
	ok(etag_in("\"x\", \"d-1\"", 10, e, 5, 1), "in a list");
	ok(etag_in("W/\"d-1\"", 7, e, 5, 1) && !etag_in("W/\"d-1\"", 7, e, 5, 0), "weak: If-None-Match only");
	ok(etag_in("*", 1, e, 5, 1), "*");
	ok(!etag_in("d-1", 3, e, 5, 1) && !etag_in("\"d-1", 4, e, 5, 1), "malformed matches nothing");
	ok(parse_date("Sun, 06 Nov 1994 08:49:37 GMT", 29) == 784111777, "IMF-fixdate");
	ok(parse_date("Sunday, 06-Nov-94 08:49:37 GMT", 30) == 784111777, "RFC 850");
	ok(parse_date("Sun Nov  6 08:49:37 1994", 24) == 784111777, "asctime");
	ok(parse_date("yesterday", 9) == -1 && parse_date("", 0) == -1, "bad dates");
	ok(!strcmp(hstatic_type("a/b.CSS", 7), "text/css; charset=utf-8"), "type, any case");
	ok(!strcmp(hstatic_type("x.tar.gz", 8), "application/gzip"), "last extension");
	ok(!strcmp(hstatic_type("dir.d/noext", 11), "application/octet-stream"), "no extension");
}

/* Request headers for hstatic_serve: "Name: value" strings. */
static const char *hdrs[4];
static const char *hdr(void *ud, const char *name, size_t nl, size_t *vl)
{
	(void)ud;
	for (int i = 0; i < 4 && hdrs[i]; i++)
		if (!strncasecmp(hdrs[i], name, nl) && hdrs[i][nl] == ':') {
			*vl = strlen(hdrs[i] + nl + 2);
			return hdrs[i] + nl + 2;
		}
	return NULL;
}

static const char *fval(const struct hstatic_reply *r, const char *name)
{
	static char v[256];
	for (size_t i = 0; i < r->nf; i++)
		if (!strcmp(r->f[i].name, name)) {
			snprintf(v, sizeof(v), "%.*s", (int)r->f[i].value_len, r->f[i].value);
			return v;
		}
	return NULL;
}

static int serve(struct hstatic *s, const char *method, const char *path,
		 struct hstatic_reply *r)
{
	hstatic_serve(s, method, strlen(method), path, strlen(path), hdr, NULL, r);
	if (r->fd >= 0)
		close(r->fd);
	return r->status;
}

static void test_serve(void)
{
	char dir[] = "/tmp/hstatic-XXXXXX", p[512], why[128];
	struct hstatic_reply r;
	ok(mkdtemp(dir) != NULL, "temp dir");
	snprintf(p, sizeof(p), "mkdir -p %s/root/d %s/out && printf 0123456789 > %s/root/f.txt && "
		 "printf '<i>' > %s/root/d/index.html && printf secret > %s/out/s && "
		 "ln -s ../out/s %s/root/up && ln -s %s/out/s %s/root/abs && ln -s f.txt %s/root/in && "
		 "mkfifo %s/root/fifo", dir, dir, dir, dir, dir, dir, dir, dir, dir, dir);
	ok(system(p) == 0, "tree made");
	snprintf(p, sizeof(p), "%s/root", dir);
	struct hstatic *s = hstatic_create("/m", p, NULL, "max-age=1", 0, NULL, why, sizeof(why));
	ok(s != NULL, "mount created");
	ok(hstatic_create("/m", "/nonexistent/x", NULL, NULL, 0, NULL, why, sizeof(why)) == NULL &&
	   strstr(why, "cannot open"), "a missing root is refused");
	ok(hstatic_match(s, "/m", 2) == 2 && hstatic_match(s, "/m/x", 4) == 2 &&
	   hstatic_match(s, "/mx", 3) == -1 && hstatic_match(s, "/", 1) == -1, "mount match");

	hdrs[0] = NULL;
	hstatic_serve(s, "GET", 3, "/m/f.txt", 8, hdr, NULL, &r);
	ok(r.status == 200 && r.fd >= 0 && r.off == 0 && r.len == 10, "file: 200, whole");
	ok(!strcmp(fval(&r, "Cache-Control"), "max-age=1") && fval(&r, "ETag") &&
	   fval(&r, "Last-Modified") && !strcmp(fval(&r, "Content-Type"), "text/plain; charset=utf-8"),
	   "file fields");
	char etag[64];
	snprintf(etag, sizeof(etag), "If-None-Match: %s", fval(&r, "ETag"));
	close(r.fd);
	hdrs[0] = etag;
	ok(serve(s, "GET", "/m/f.txt", &r) == 304 && r.fd < 0 && r.no_length, "304 on the ETag");
	hdrs[0] = "Range: bytes=2-5";
	hstatic_serve(s, "HEAD", 4, "/m/f.txt", 8, hdr, NULL, &r);
	ok(r.status == 206 && r.off == 2 && r.len == 4 &&
	   !strcmp(fval(&r, "Content-Range"), "bytes 2-5/10"), "HEAD with a range: 206");
	close(r.fd);
	hdrs[0] = "Range: bytes=20-";
	ok(serve(s, "GET", "/m/f.txt", &r) == 416 && r.fd < 0 &&
	   !strcmp(fval(&r, "Content-Range"), "bytes */10"), "416");
	hdrs[0] = NULL;
	ok(serve(s, "GET", "/m/d", &r) == 301 && !strcmp(fval(&r, "Location"), "/m/d/"), "dir redirect");
	ok(serve(s, "GET", "/m/d/", &r) == 200 && r.len == 3 &&
	   !strcmp(fval(&r, "Content-Type"), "text/html; charset=utf-8"), "dir index");
	ok(serve(s, "GET", "/m", &r) == 301, "mount redirect");
	ok(serve(s, "GET", "/m/", &r) == 404, "no index: 404, no listing");
	ok(serve(s, "GET", "/m/up", &r) == 404, "relative symlink out of the root");
	ok(serve(s, "GET", "/m/abs", &r) == 404, "absolute symlink");
	ok(serve(s, "GET", "/m/in", &r) == 200 && r.len == 10, "symlink inside");
	ok(serve(s, "GET", "/m/fifo", &r) == 404, "a FIFO is not served (nor blocks)");
	ok(serve(s, "GET", "/m/%2e%2e/out/s", &r) == 404, "encoded escape");
	ok(serve(s, "GET", "/m/nope", &r) == 404, "missing");
	ok(serve(s, "POST", "/m/f.txt", &r) == 405 && !strcmp(fval(&r, "Allow"), "GET, HEAD"), "405");
	hstatic_destroy(s);

	s = hstatic_create("/", p, "f.txt", NULL, 1, NULL, why, sizeof(why));
	ok(serve(s, "GET", "/any/route", &r) == 200 && r.len == 10 &&
	   !strcmp(fval(&r, "Content-Type"), "text/html; charset=utf-8"), "SPA fallback");
	ok(serve(s, "GET", "/d/index.html", &r) == 200 && r.len == 3, "SPA serves files");
	ok(serve(s, "GET", "/up", &r) == 404, "SPA: an escape is not a fallback");
	hstatic_destroy(s);
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	ok(system(p) == 0, "cleaned");
}

int main(void)
{
	test_clean();
	test_range();
	test_etag_date();
	test_serve();
	return tap_done();
}
