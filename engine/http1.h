/*
** engine/http1.h: the HTTP/1.1 request parser and response-head writer.
**
** Zero-copy: the parser never copies or allocates. Everything it reports is
** an (offset, length) pair relative to `buf`, the first byte of the request
** in the caller's connection buffer. Because no pointer into the buffer is
** kept, the caller may move or compact its buffer between calls as long as
** the request's bytes keep their order and `buf` points at the request's
** first byte again on the next call.
**
** Resumable: http1_parse() may be called again each time more bytes arrive,
** with the same request object and a longer `len`. It keeps the offset of the
** first line it has not accepted yet plus how far that line has been
** searched, so each byte is searched for a line end once and each complete
** line is validated once. The result never depends on how the bytes were
** split between calls: whatever a prefix returns other than
** HTTP1_NEED_MORE, the whole input returns too (the tests and the fuzz
** driver check exactly that).
**
** One request at a time, per connection:
**
**	http1_init(&req, hdrs, 64, NULL);
**	n = http1_parse(&req, buf, len);     // head; HTTP1_NEED_MORE: recv more
**	n = http1_body(&req, buf, len);      // body; > 0: whole request length
**	... handle; next request starts at buf + n ...
**	http1_reset(&req);
**
** Errors are negative; http1_error_status() gives the status to answer with.
** After any error the server sends that status with "Connection: close"
** and closes: the stream cannot be re-synchronised.
**
** Leniency, chosen to match nginx where it is safe:
**  - header and request lines may end in a bare LF as well as CRLF; empty
**    lines before the request line are skipped;
**  - bytes 0x80-0xFF are accepted in the target and in header values.
** Strictness, chosen against request smuggling (RFC 9112 sections 3, 5, 6):
**  - exactly one SP between the parts of the request line;
**  - no whitespace between a header name and its colon, no obs-fold;
**  - Content-Length is digits only, duplicates must agree;
**  - Content-Length together with Transfer-Encoding is rejected, so is
**    Transfer-Encoding in an HTTP/1.0 request;
**  - chunked framing requires CRLF line ends (a bare LF there is a 400).
**
** Runs on any thread; a request object belongs to one connection.
*/
#ifndef ENGINE_HTTP1_H
#define ENGINE_HTTP1_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* {====================================================================
** Results
** ===================================================================== */

/* Not an error: the request is incomplete, call again with more bytes. */
#define HTTP1_NEED_MORE (-EAGAIN)

/* Errors, far below every errno value. The status each maps to is listed;
** http1_error_status() returns it. */
enum http1_error {
	HTTP1_E_BAD_CHAR = -1001,   /* 400: control character or DEL in head */
	HTTP1_E_BAD_REQUEST,        /* 400: malformed request line */
	HTTP1_E_BAD_TARGET,         /* 400: request-target of the wrong form */
	HTTP1_E_BAD_HEADER,         /* 400: malformed header line */
	HTTP1_E_OBS_FOLD,           /* 400: header line folded (obs-fold) */
	HTTP1_E_BAD_HOST,           /* 400: Host missing (1.1) or repeated */
	HTTP1_E_BAD_LENGTH,         /* 400: Content-Length bad or conflicting */
	HTTP1_E_LENGTH_AND_TE,      /* 400: Content-Length with Transfer-Encoding */
	HTTP1_E_BAD_TE,             /* 400: chunked missing or not last, or 1.0 */
	HTTP1_E_BAD_CHUNK,          /* 400: malformed chunked framing */
	HTTP1_E_BODY_TOO_LARGE,     /* 413: body over limits.max_body */
	HTTP1_E_URI_TOO_LONG,       /* 414: request line alone over max_head */
	HTTP1_E_TOO_LARGE,          /* 431: head (or chunked trailer) too large */
	HTTP1_E_TOO_MANY_HEADERS,   /* 431: more than max_headers header lines */
	HTTP1_E_UNSUPPORTED_TE,     /* 501: a transfer coding other than chunked */
	HTTP1_E_VERSION,            /* 505: HTTP major version other than 1 */
	HTTP1_E_LAST_
};

/* Status code the server should answer error `err` with (400, 413, 414,
** 431, 501 or 505); 0 when err is not an http1 error (>= 0 or NEED_MORE). */
int http1_error_status(ssize_t err);

/* Short constant description of `err` for logs ("malformed header line");
** "ok" for values >= 0, "need more bytes", or "unknown error". */
const char *http1_error_reason(ssize_t err);

/* }==================================================================== */

/* {====================================================================
** Requests
** ===================================================================== */

enum http1_method {
	HTTP1_OTHER = 0,  /* a valid token we have no name for */
	HTTP1_GET, HTTP1_HEAD, HTTP1_POST, HTTP1_PUT, HTTP1_DELETE,
	HTTP1_CONNECT, HTTP1_OPTIONS, HTTP1_TRACE, HTTP1_PATCH
};

enum http1_target_form {
	HTTP1_ORIGIN_FORM = 0,  /* "/path?query" */
	HTTP1_ABSOLUTE_FORM,    /* "http://host/path?query" */
	HTTP1_AUTHORITY_FORM,   /* "host:port", CONNECT only */
	HTTP1_ASTERISK_FORM     /* "*", OPTIONS only */
};

enum http1_body_kind {
	HTTP1_BODY_NONE = 0,    /* no body (or Content-Length: 0) */
	HTTP1_BODY_LENGTH,      /* content_length bytes follow the head */
	HTTP1_BODY_CHUNKED      /* Transfer-Encoding: chunked */
};

/* Request flags (struct http1_request.flags). */
#define HTTP1_F_KEEP_ALIVE   0x01u  /* connection stays open after this one */
#define HTTP1_F_CONTINUE     0x02u  /* HTTP/1.1 "Expect: 100-continue" */
#define HTTP1_F_UPGRADE      0x04u  /* "upgrade" token in Connection */
#define HTTP1_F_HAS_HOST     0x08u  /* host_off/host_len are set */
#define HTTP1_F_HAS_LENGTH   0x10u  /* a Content-Length header was present */
#define HTTP1_F_HAS_TE       0x20u  /* a Transfer-Encoding header was present */
#define HTTP1_F_CONN_CLOSE   0x40u  /* "close" token in Connection */
#define HTTP1_F_CONN_KEEP    0x80u  /* "keep-alive" token in Connection */

/* One header line; offsets are relative to the request's first byte. The
** value has its surrounding whitespace removed and may be empty. */
struct http1_header {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

/* Hard limits. Defaults: HTTP1_LIMITS_DEFAULT. */
struct http1_limits {
	uint32_t max_head;    /* request line + headers + blank line, bytes
	                      ** (any empty lines before the request line count);
	                      ** at most 2^31 - 1 */
	uint32_t max_headers; /* header lines (capped by the array in init) */
	uint64_t max_body;    /* decoded body bytes */
};
#define HTTP1_LIMITS_DEFAULT { 8192, 64, 1u << 20 }

/* Incremental in-place chunked decoder; usable alone (see below) and
** embedded in each request. */
struct http1_chunked {
	uint64_t decoded;     /* decoded bytes, stored at the start of the body */
	uint64_t max_body;    /* limit on `decoded` */
	uint64_t _rd;         /* raw bytes consumed, relative to the body start */
	uint64_t _size;       /* chunk size being read, or data bytes left */
	uint32_t _line;       /* bytes of the size line / the trailer section */
	int32_t _err;         /* sticky error (0 = none) */
	uint8_t _state;
};

/* Parsed request. The public fields are valid once http1_parse() returned
** a positive value; while it returns HTTP1_NEED_MORE they are partial. */
struct http1_request {
	uint32_t head_len;          /* bytes of the head, body starts here */
	uint32_t method_off, method_len;
	uint32_t target_off, target_len;  /* the whole request-target */
	uint32_t path_off, path_len;      /* target up to '?'; empty for an
	                                  ** absolute-form target without path
	                                  ** (meaning "/") */
	uint32_t query_off, query_len;    /* after '?'; both 0 when no '?' */
	uint32_t authority_off, authority_len; /* absolute/authority-form */
	uint32_t host_off, host_len;      /* Host value if HTTP1_F_HAS_HOST */
	uint8_t method;             /* enum http1_method */
	uint8_t target_form;        /* enum http1_target_form */
	uint8_t minor_version;      /* 0 or 1 (1.2-1.9 are reported as 1) */
	uint8_t body_kind;          /* enum http1_body_kind */
	uint32_t flags;             /* HTTP1_F_* */
	uint64_t content_length;    /* if HTTP1_F_HAS_LENGTH */
	uint64_t body_len;          /* decoded body bytes at buf + head_len,
	                            ** updated by http1_body() */
	uint32_t nheaders;
	struct http1_header *headers;   /* caller's array, in arrival order */
	struct http1_limits limits;

	uint32_t _pos;      /* offset of the first line not accepted yet */
	uint32_t _scan;     /* [_pos, _scan) is known to hold no LF */
	uint8_t _state;
	uint8_t _te;        /* Transfer-Encoding summary bits */
	int32_t _err;       /* sticky error (0 = none) */
	struct http1_chunked _chunk;
};

/* Prepare `r` for the first request of a connection. `headers` is an array
** of `cap` entries owned by the caller that must outlive `r`; `lim` NULL
** means HTTP1_LIMITS_DEFAULT, and lim->max_headers is capped at `cap`. */
void http1_init(struct http1_request *r, struct http1_header *headers,
                uint32_t cap, const struct http1_limits *lim);

/* Forget the current request, keeping the array and limits, ready for the
** next one on the same connection. */
void http1_reset(struct http1_request *r);

/* Parse the request head in buf[0, len). `buf` is the request's first byte;
** `len` must not shrink between calls and bytes already passed must not
** change. Returns head_len (> 0) when the head is complete (the body, if
** any, starts at buf + head_len), HTTP1_NEED_MORE, or an HTTP1_E_* error.
** Errors and completion are sticky: later calls return the same value.
** Reads no byte at or past buf + len. A request line that does not fit in
** max_head gives HTTP1_E_URI_TOO_LONG (414); a header section that does not
** gives HTTP1_E_TOO_LARGE (431). A Content-Length above max_body is
** rejected here with HTTP1_E_BODY_TOO_LARGE, before any body arrives. */
ssize_t http1_parse(struct http1_request *r, const char *buf, size_t len);

/* Frame (and for chunked, decode in place) the body of a request whose head
** is complete, given the same `buf` and the bytes received so far. Updates
** r->body_len: decoded body bytes now at buf + head_len. Returns the total
** length of the request, head plus raw body (the next pipelined request
** starts at buf + that), HTTP1_NEED_MORE, or an error (HTTP1_E_BAD_CHUNK,
** HTTP1_E_BODY_TOO_LARGE, HTTP1_E_TOO_LARGE for a huge trailer). Chunked
** decoding rewrites bytes from buf + head_len on; other bodies are not
** touched. Called after http1_parse() failed it returns that error, and
** HTTP1_E_BAD_REQUEST while the head is still incomplete. */
ssize_t http1_body(struct http1_request *r, char *buf, size_t len);

/* For a chunked body in progress: drop the framing bytes already decoded
** away, so a large body occupies only its decoded size in the connection
** buffer. Moves the undecoded tail down and returns the new length of the
** request's bytes (<= len); the caller sets its buffer's fill level to
** that. Returns len unchanged for other bodies. */
size_t http1_body_compact(struct http1_request *r, char *buf, size_t len);

/* Index of the first header named `name` (ASCII case-insensitive), or -1. */
int http1_find_header(const struct http1_request *r, const char *buf,
                      const char *name, size_t name_len);

/* }==================================================================== */

/* {====================================================================
** Chunked decoder alone
** ===================================================================== */

/* Prepare a decoder whose decoded output may not exceed max_body bytes. */
void http1_chunked_init(struct http1_chunked *c, uint64_t max_body);

/* Decode the chunked body whose first raw byte is buf[0], len bytes being
** available so far; resumable like http1_parse (same buf start, growing
** len). Decoded data is written in place to buf[0, c->decoded). Returns the
** raw length of the whole chunked body including the last chunk and the
** trailer section when it is complete (bytes after it are untouched),
** HTTP1_NEED_MORE, or HTTP1_E_BAD_CHUNK / HTTP1_E_BODY_TOO_LARGE /
** HTTP1_E_TOO_LARGE (trailer section over 8 KiB). Chunk extensions are
** skipped (a size line may hold 4 KiB), trailer fields are skipped. */
ssize_t http1_chunked_decode(struct http1_chunked *c, char *buf, size_t len);

/* }==================================================================== */

/* {====================================================================
** Responses
** ===================================================================== */

/* A header to write: name and value need not be NUL-terminated. */
struct http1_field {
	const char *name;
	const char *value;
	size_t name_len, value_len;
};

/* content_length arguments of http1_write_head() that are not lengths. */
#define HTTP1_CHUNKED   (-1)  /* write "Transfer-Encoding: chunked" */
#define HTTP1_NO_LENGTH (-2)  /* write neither (1xx, 204, 304, or a body
                              ** delimited by closing the connection) */

/* keep_alive arguments of http1_write_head(). */
#define HTTP1_CLOSE          0  /* write "Connection: close" */
#define HTTP1_KEEP           1  /* write nothing: HTTP/1.1 default */
#define HTTP1_KEEP_EXPLICIT  2  /* write "Connection: keep-alive" (1.0) */

/* Format a response head into buf[0, cap): status line, the given fields in
** order, Content-Length or Transfer-Encoding, Connection, blank line.
** `reason` NULL means http1_status_reason(status). Returns the length
** written, -ENOSPC if it does not fit in cap (buf contents unspecified), or
** -EINVAL for a status outside 100-999 or a name/value/reason containing
** CR, LF or other control bytes (header injection). No locale, no printf. */
ssize_t http1_write_head(char *buf, size_t cap, int status, const char *reason,
                         const struct http1_field *fields, size_t nfields,
                         int64_t content_length, int keep_alive);

/* Standard reason phrase for `status` ("Not Found"); "" if unknown. */
const char *http1_status_reason(int status);

/* }==================================================================== */

#endif
