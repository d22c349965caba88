/*
** runtime/hstatic.h: http.static mounts, i.e. what to answer for a file
** request (the original's http.FileServer / ServeContent over an
** fs.directory), decided without I/O on the file's bytes.
**
** hstatic_serve resolves a request path under the mount's root and opens
** the file (openat2 with RESOLVE_BENEATH: no "..", no symlink, no
** absolute link leads outside the root), evaluates If-None-Match,
** If-Modified-Since, If-Range and Range against its size and mtime, and
** returns a reply: status, header fields, and either a short text body or
** an open descriptor with the byte range to send. The server (httpd.c)
** sends the head and reads the range through the ring in pieces.
**
** The open and fstat run on the calling shard: they touch only directory
** entries and inodes, which a local filesystem serves from its caches in
** microseconds; the bytes, which may need the disk, are read through
** io_uring. A mount is read-only after hstatic_create; any shard may use it.
*/
#ifndef RUNTIME_HSTATIC_H
#define RUNTIME_HSTATIC_H

#include <stddef.h>
#include <stdint.h>

#include "engine/http1.h"

struct hstatic;   /* opaque: one http.static entry */
struct hmw_chain;

/* A mount of root (absolute directory) at path ("/" or "/x", no trailing
** '/'), with the index file name (NULL: "index.html" for directories, and
** no SPA), a Cache-Control value (NULL: none), SPA fallback, and its
** middleware chain (owned from now on). Returns NULL with why when root
** cannot be opened as a directory. */
struct hstatic *hstatic_create(const char *path, const char *root, const char *index,
			       const char *cache, int spa, struct hmw_chain *chain,
			       char *why, size_t cap);

void hstatic_destroy(struct hstatic *s);

/* The mount's path length when path[0, len) lies under it ("/x" itself,
** "/x/..."; "/" takes every path), else -1. Longer mounts win. */
int hstatic_match(const struct hstatic *s, const char *path, size_t len);

const struct hmw_chain *hstatic_chain(const struct hstatic *s);

/* What to answer. Field values point into the reply itself or the mount;
** valid until the reply is reused. */
#define HSTATIC_NFIELDS 10
struct hstatic_reply {
	int status;
	struct http1_field f[HSTATIC_NFIELDS];
	size_t nf;
	const char *body;        /* fd < 0: the whole body (static text) */
	size_t blen;
	int fd;                  /* >= 0: send [off, off + len) of this file; the
	                         ** caller closes it */
	uint64_t off, len;
	int no_length;           /* 304: no Content-Length at all */
	char _buf[640];          /* storage of the generated values */
	size_t _used;
};

/* A request header's value, or NULL. */
typedef const char *(*hstatic_header_fn)(void *ud, const char *name, size_t nl,
					 size_t *vlen);

/* Answer method + path (raw, undecoded, no query) for mount s. HEAD gets
** the headers of GET (the caller sends no body). Never fails: errors are
** replies (400 bad escape, 404, 403, 405, 416). */
void hstatic_serve(const struct hstatic *s, const char *method, size_t ml,
		   const char *path, size_t plen, hstatic_header_fn header, void *ud,
		   struct hstatic_reply *r);

/* The Content-Type of a file name by its extension (a table of the
** common types; application/octet-stream otherwise). */
const char *hstatic_type(const char *name, size_t len);

#endif
