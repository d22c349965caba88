/*
** runtime/hclient.h: outgoing HTTP transfers, driven by libcurl's
** multi-socket API on the shard of whoever starts them.
**
** A transfer (struct hclient_xfer) is made, described and started on one
** shard and lives there: its sockets are watched with net_watch on that
** shard's ring and curl's timers sit on that shard's wheel, so whoever
** owns a transfer must stay on the shard until it is freed (a process pins
** itself with proc_io_begin). Every function here runs on the owning
** shard's thread. Knows no Lua.
*/
#ifndef RUNTIME_HCLIENT_H
#define RUNTIME_HCLIENT_H

#include <stddef.h>
#include <stdint.h>

struct rt;
struct hclient_xfer;

/* Why a transfer failed; HC_OK when it got a response. */
enum hclient_err {
	HC_OK = 0,
	HC_INVALID,   /* bad URL, scheme, option: the request cannot be made */
	HC_TIMEOUT,   /* the timeout passed before the response was complete */
	HC_TOOBIG,    /* the body passed max_body */
	HC_FAILED,    /* connect, TLS, protocol, too many redirects, ... */
	HC_BLOCKED    /* a guarded transfer reached a private address */
};

/* Default limits, the original's: 30 s per request, 120 MB of body. */
#define HCLIENT_TIMEOUT_MS  30000
#define HCLIENT_MAX_BODY    (120LL * 1024 * 1024)

/* A new transfer with nothing set, on the calling shard (which must be a
** shard of rt's engine). Never NULL (allocation aborts). */
struct hclient_xfer *hclient_new(struct rt *rt);

/*
** Describing a transfer, before hclient_start. Strings are copied. Those
** that can fail return 0 or -1 with a message in hclient_errmsg (and
** hclient_err HC_INVALID).
**
** hclient_set_url: an http or https URL; the nq (name, value) pairs of q
** replace the query parameters of the same names, and the whole query is
** then re-encoded with its names sorted (as Go's url.Values.Encode).
** hclient_set_method: any HTTP token; HEAD fetches no body.
** hclient_set_body: sent with Content-Length (POST gets an empty one).
** hclient_add_header: "Name: value"; hclient_set_cookies: "a=1; b=2"
** (either fails on a CR or LF).
** hclient_add_part / hclient_add_file: a multipart/form-data body instead
** (fields first, then files as application/octet-stream parts).
** hclient_set_tls: PEM texts (NULL: none); cert and key go together.
*/
int hclient_set_url(struct hclient_xfer *x, const char *url,
		    const char *const *q, size_t nq);
int hclient_set_method(struct hclient_xfer *x, const char *method);
void hclient_set_body(struct hclient_xfer *x, const char *data, size_t len);
int hclient_add_header(struct hclient_xfer *x, const char *line);
int hclient_set_cookies(struct hclient_xfer *x, const char *cookie_header);
void hclient_set_basic_auth(struct hclient_xfer *x, const char *user, const char *pass);
void hclient_set_timeout_ms(struct hclient_xfer *x, uint64_t ms);
void hclient_set_max_body(struct hclient_xfer *x, int64_t max);
void hclient_set_unix_socket(struct hclient_xfer *x, const char *path);
int hclient_add_part(struct hclient_xfer *x, const char *name, const char *value, size_t len);
int hclient_add_file(struct hclient_xfer *x, const char *field, const char *filename,
		     const char *content_type, const char *data, size_t len);
int hclient_set_tls(struct hclient_xfer *x, const char *ca, const char *cert,
		    const char *key, int insecure);

/* Start x; done(x, arg) runs once on this shard when it ends, outside any
** Lua step, from inside the driver: it may post work and read x, not free
** it. Returns 0, or -1 with hclient_errmsg set (done then never runs). */
int hclient_start(struct hclient_xfer *x, void (*done)(struct hclient_xfer *x, void *arg),
		  void *arg);

/*
** Streams. hclient_set_stream (before hclient_start) makes x hand its body
** over as it comes: data(x, arg) runs on the shard, from inside the
** driver, whenever body bytes were added (as done, it may post work, not
** free x); max_body does not apply, and past HCLIENT_STREAM_HIGH bytes
** held the transfer is paused until hclient_take drains it below half of
** that. hclient_take moves up to n bytes of what arrived into out and
** returns how many (0: nothing held now; see hclient_finished). It may
** call data from inside, so not from data or done.
** hclient_set_callbacks replaces done, data and their arg (a transfer
** handed from one owner to another).
*/
#define HCLIENT_STREAM_HIGH (256 * 1024)
void hclient_set_stream(struct hclient_xfer *x,
			void (*data)(struct hclient_xfer *x, void *arg));
void hclient_set_callbacks(struct hclient_xfer *x,
			   void (*done)(struct hclient_xfer *x, void *arg),
			   void (*data)(struct hclient_xfer *x, void *arg), void *arg);
size_t hclient_take(struct hclient_xfer *x, char *out, size_t n);
int hclient_finished(const struct hclient_xfer *x);

/*
** The private-address guard. hclient_guard (before hclient_start) checks
** the peer of every request x makes, on a new or a reused connection and
** after each redirect: a loopback, private, link-local or unspecified
** address (hclient_ip_private) that was not approved with hclient_approve
** ends x with HC_BLOCKED before anything is sent; hclient_blocked names
** the address. The owner decides (its policies), approves it and calls
** hclient_restart (x is reset and started again, with its done), or fails.
*/
int hclient_ip_private(const char *ip);
void hclient_guard(struct hclient_xfer *x);
void hclient_approve(struct hclient_xfer *x, const char *ip);
const char *hclient_blocked(const struct hclient_xfer *x);
int hclient_restart(struct hclient_xfer *x);

/* Free x whatever its state: a transfer in flight is removed first and
** its done never runs. NULL is ignored. Not from inside done. */
void hclient_free(struct hclient_xfer *x);

/* Results, valid after done ran. The body and the header texts belong to
** x. hclient_header returns the i-th header of the final response (names
** as received) or 0 past the end. */
enum hclient_err hclient_err(const struct hclient_xfer *x);
const char *hclient_errmsg(const struct hclient_xfer *x);
long hclient_status(const struct hclient_xfer *x);
const char *hclient_url(const struct hclient_xfer *x);
const char *hclient_body(const struct hclient_xfer *x, size_t *len);
int hclient_header(const struct hclient_xfer *x, size_t i, const char **name,
		   size_t *nlen, const char **value, size_t *vlen);

/* Query-style escaping as Go's url.QueryEscape / QueryUnescape (space is
** '+'). hclient_unescape returns the length written to out (at most len
** bytes) or -1 for a malformed % escape. */
char *hclient_escape(const char *s, size_t len, size_t *outlen); /* malloc'd */
long hclient_unescape(const char *s, size_t len, char *out);

/* The host of url (an IPv6 literal without its brackets) into buf, or
** -1 when url does not parse or has none. */
int hclient_url_host(const char *url, char *buf, size_t len);

/* At teardown, after the engine's threads have ended: free every shard's
** curl state. */
void hclient_destroy(struct rt *rt);

#endif
