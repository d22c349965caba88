/*
** runtime/httpd.h: the HTTP/1.1 server of http.service entries, built on
** the shards' rings, and the request context its Lua handlers see.
**
** Each shard listens on its own SO_REUSEPORT socket with a multishot
** accept; a connection lives on the shard that accepted it. A request is
** parsed in the connection buffer (engine/http1.c), routed, and run as a
** call (proc_call) of a pooled function.lua state on the same shard. The
** response is buffered and sent when the handler returns.
*/
#ifndef RUNTIME_HTTPD_H
#define RUNTIME_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/http1.h"
#include "proc.h"
#include "route.h"

struct rt;
struct conn;

/* A growable byte buffer (malloc'd). */
struct hbuf {
	char *p;
	size_t len, cap;
};

void hbuf_add(struct hbuf *b, const void *s, size_t n);

/* One request as its handler sees it. Lives from dispatch until the
** handler's call ends and the response is handed to the connection. */
struct hreq {
	struct pext ext;             /* starts the call in the pooled state */
	struct conn *conn;           /* owner; keeps buf alive until done */
	struct proc *proc;           /* the pooled state running the call */
	const char *buf;             /* the request bytes (conn buffer) */
	const struct http1_request *req;
	struct route_match match;
	const char *body;            /* decoded body */
	size_t body_len;
	char remote[64];             /* "ip:port" */
	/* Response. */
	int status;                  /* 0 until set */
	int headers_sent;            /* a write happened: headers are final */
	int wrote;
	struct hbuf headers;         /* "Name: value\r\n" lines */
	struct hbuf out;             /* body */
	int has_content_type;
};

/* Boot: compile the routes of every http.service and bind their sockets
** (one per shard, SO_REUSEPORT). Prints and returns -1 on a bind error. */
int httpd_init(struct rt *rt);

/* After the engine started: every shard starts accepting. */
void httpd_start(struct rt *rt);

/* Stop accepting (shutdown begins). Any thread. */
void httpd_stop(struct rt *rt);

/* Free what httpd_init built (after the engine stopped). */
void httpd_free(struct rt *rt);

/* The request of the call running in L's process, or NULL. */
struct hreq *httpd_current(lua_State *L);

#endif
