/*
** runtime/httpd.h: the HTTP/1.1 server of http.service entries, built on
** engine/net streams, and the request and response its Lua handlers see.
**
** Each shard listens on its own SO_REUSEPORT socket with a multishot
** accept; a connection lives on the shard that accepted it. A request is
** parsed in the connection buffer (engine/http1.c), routed, and run as a
** call (proc_call) of a pooled function.lua state on the same shard (a
** large body may still be arriving then: "The body as it arrives"). The
** response is buffered and sent when the handler returns, unless the
** handler flushes it (hreq_flush), which streams it; the handler's
** library (lua_modules/http.c) reads the request and builds the response
** through the hreq_* functions only.
*/
#ifndef RUNTIME_HTTPD_H
#define RUNTIME_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "proc.h"
#include "route.h"

struct rt;
struct hreq; /* opaque: one request and its response (runtime/httpd_req.c) */

/* Boot: compile the routes, middleware and static mounts of every
** http.service and bind the sockets (one per shard, SO_REUSEPORT) of those
** that are auto_start or required by an auto_start service; the others
** stay unbound. Prints and returns -1 on a bind error. */
int httpd_init(struct rt *rt);

/* After the engine started: every shard starts accepting. */
void httpd_start(struct rt *rt);

/* Stop accepting (shutdown begins). Any thread. */
void httpd_stop(struct rt *rt);

/* Swap in route tables built from reg, a registry version made at run
** time (runtime/live.c): for every service, a new table of its routers'
** endpoints. Requests already matched finish on the table they matched
** in. One caller at a time; any thread. */
struct registry;
void httpd_apply(struct rt *rt, const struct registry *reg);

/* SIGHUP: every service with tls loads its certificate and key again;
** new connections use them, open ones keep theirs. A file that fails
** keeps the old ones and is logged as an error. Any thread, one at a
** time (the signal thread). */
void httpd_reload(struct rt *rt);

/* Free what httpd_init built (after the engine stopped). */
void httpd_free(struct rt *rt);

/* The request of the call running in L's process, or NULL. */
struct hreq *httpd_current(lua_State *L);

/*
** token_auth's validation (lua_modules/security_token.c hands it over at
** boot: this floor knows no token store). When a route's middleware
** picked a token, the handler's call runs fn(handler, token, store_id)
** instead of the handler: fn validates the token (it may park the
** coroutine), sets the process's security context (p->sec) to the
** token's actor and scope when the token is good, and then calls the
** handler, returning what it returns. The context is cleared when the
** call ends. NULL (no hook): tokens are ignored.
*/
void httpd_set_token_auth(lua_CFunction fn);

/*
** The endpoint_firewall / resource_firewall check (lua_modules/
** security.c hands it over at boot): fn(L, action, resource) on the
** handler's process, after token_auth, answers HTTPD_FW_ALLOW, or why
** not. A route with firewall middleware and no hook answers 401.
*/
enum { HTTPD_FW_ALLOW = 0, HTTPD_FW_DENY, HTTPD_FW_NO_ACTOR, HTTPD_FW_NO_SCOPE };
void httpd_set_firewall(int (*fn)(lua_State *L, const char *action, const char *resource));

/* {==== The request, as its handler reads it ====}
**
** A request lives from dispatch until its handler's call ends. Strings
** point into the connection's buffer, which does not move meanwhile; they
** are not NUL-terminated and are valid only while the call runs. */

/* The method token ("GET"). */
const char *hreq_method(const struct hreq *h, size_t *len);
/* The path without the query ("/" when the request line had none). */
const char *hreq_path(const struct hreq *h, size_t *len);
/* The raw query string after '?' (len 0 when none). */
const char *hreq_query(const struct hreq *h, size_t *len);
/* The value of the first header `name` (case-insensitive), or NULL. */
const char *hreq_header(const struct hreq *h, const char *name, size_t nl,
			size_t *len);
/* The Host of the request, or NULL when it had none. */
const char *hreq_host(const struct hreq *h, size_t *len);
/* "ip:port" of the client (NUL-terminated; empty when unknown). */
const char *hreq_remote(const struct hreq *h);
/* The decoded body (chunked framing removed; len 0 when none). */
const char *hreq_body(const struct hreq *h, size_t *len);
/* Content-Length as sent, the decoded length of a chunked body, or 0. */
uint64_t hreq_content_length(const struct hreq *h);
/* The route that matched and its captured parameters. */
const struct route_match *hreq_match(const struct hreq *h);

/* {==== The body as it arrives ====}
**
** A large Content-Length body may still be arriving while the handler
** runs (httpd.c, "Streamed request bodies"); then hreq_body is empty and
** the body is read through these, in order, once. For other bodies they
** read the buffered body the same way. */
#define HREQ_BODY_MORE 1  /* bytes can be taken now */
#define HREQ_BODY_END  0  /* all of it was taken */
#define HREQ_BODY_WAIT 2  /* more is to come */

/* Unique among the requests of this shard: a stream object's check that
** it belongs to the running request. */
uint64_t hreq_id(const struct hreq *h);
/* The body is arriving while the handler runs. */
int hreq_body_streamed(const struct hreq *h);
/* http.request{max_body = n}: the handler's own limit (0: none). */
void hreq_set_max_body(struct hreq *h, uint64_t n);
uint64_t hreq_max_body(const struct hreq *h);
/* http.request{timeout = ms}: a whole-body wait (hreq_body_all, then
** hreq_body_wait) that lasts longer wakes its reader early; 0: none. */
void hreq_set_timeout(struct hreq *h, uint64_t ms);
uint64_t hreq_timeout(const struct hreq *h);
/* After a wake: the deadline passed (once; the next wait starts anew). */
int hreq_body_timed_out(struct hreq *h);
/* Take up to n bytes that arrived; returns how many (0: see state). */
size_t hreq_body_take(struct hreq *h, char *dst, size_t n);
/* HREQ_BODY_MORE, _END, _WAIT, or HREQ_GONE (the client left before
** the end). */
int hreq_body_state(const struct hreq *h);
/* With state _WAIT, register co to be made ready (proc_ready, no values)
** when bytes arrive or the client leaves; returns _WAIT, or the state
** when it is not _WAIT; HREQ_INVALID when another coroutine waits. */
int hreq_body_wait(struct hreq *h, struct coro *co);
/* The whole body is wanted: receive without the bound. Returns _END when
** all of it is in (hreq_body_rest), _WAIT (wait with hreq_body_wait), or
** HREQ_GONE. */
int hreq_body_all(struct hreq *h);
/* What is in and not taken yet (valid until the next call). */
const char *hreq_body_rest(const struct hreq *h, size_t *len);

/* {==== The response ====}
**
** Buffered here and sent by the server when the handler's call ends; this
** file alone decides what goes out (status, headers, defaults, the 500s of
** a failed call). The first write fixes status and headers: after it they
** can no longer change. */

#define HREQ_SENT    (-1) /* headers already sent (a write happened) */
#define HREQ_INVALID (-2) /* a status outside 100..999, a NUL in a header */
#define HREQ_GONE    (-3) /* the client left (or the write timed out) */
#define HREQ_FULL    (-4) /* the client reads slower than the handler writes */

/* Set the status. Returns 0, HREQ_SENT or HREQ_INVALID. */
int hreq_set_status(struct hreq *h, int code);

/* Replace (case-insensitively) or add a header. Returns 0, HREQ_SENT or
** HREQ_INVALID. */
int hreq_set_header(struct hreq *h, const char *k, size_t kl, const char *v,
		    size_t vl);

/* Set Content-Type to `type` unless a write happened or the handler set
** one: the default of a typed write (write_json). */
void hreq_default_type(struct hreq *h, const char *type);

/* Append to the body; status and headers are final from now on. */
void hreq_write(struct hreq *h, const void *s, size_t n);

/* Send what was written so far: the first flush sends the head (chunked
** for HTTP/1.1, closing the connection after the body for 1.0) and makes
** the response a stream; each one after sends what was written since, as
** one chunk. Returns 0; HREQ_FULL when the client is that far behind and
** the handler should wait (hreq_wait); HREQ_GONE when the client left;
** HREQ_INVALID for a bad header (nothing sent). */
int hreq_flush(struct hreq *h);

/* After HREQ_FULL: 0 when the queue is already short enough, HREQ_GONE,
** or HREQ_FULL with co registered, to be made ready (proc_ready, no
** values) once the queue drains or the client leaves. */
int hreq_wait(struct hreq *h, struct coro *co);

/* The client left: writes are lost. */
int hreq_gone(const struct hreq *h);

/* set_transfer: CHUNKED or SSE (Cache-Control: no-cache; SSE also
** Content-Type: text/event-stream). The stream itself starts at the first
** flush. Returns 0 or HREQ_SENT. */
#define HREQ_TRANSFER_CHUNKED 1
#define HREQ_TRANSFER_SSE     2
int hreq_set_transfer(struct hreq *h, int mode);
int hreq_transfer(const struct hreq *h);   /* 0 or HREQ_TRANSFER_* */
int hreq_wrote(const struct hreq *h);      /* a write happened */
int hreq_streaming(const struct hreq *h);  /* the head went out by a flush */
size_t hreq_unflushed(const struct hreq *h); /* written since the last flush */

#endif
