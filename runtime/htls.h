/*
** runtime/htls.h: TLS for http.service connections (OpenSSL over memory
** BIOs on an engine/net.h stream).
**
** The ring does all the socket I/O: ciphertext the stream receives goes
** into the session's read BIO, SSL_read hands plaintext to the owner's
** on_read; what the owner sends goes through SSL_write into the write BIO,
** whose bytes the stream sends. OpenSSL never sees a descriptor, so nothing
** blocks the shard. The owner sees the plain net_stream_cb contract: on_read
** with copies (never in place), on_sent when the ciphertext of its send
** went out, on_close after the stream's last completion.
**
** A failed handshake (bad client hello, plain HTTP on the port, a peer
** that leaves halfway) shows to the owner as a failed read (res < 0) and
** is logged at debug: it ends that connection only. Plain HTTP gets a last
** word in clear, a 400 as nginx answers it.
*/
#ifndef RUNTIME_HTLS_H
#define RUNTIME_HTLS_H

#include <stddef.h>
#include <sys/types.h>

#include "engine/net.h"

/* {==== Contexts ====}
**
** One per http.service with tls, shared by its shards: SSL_new takes the
** current SSL_CTX (acquire load); a reload publishes a new one (release
** store) and keeps the older ones until htls_ctx_free, so a shard that
** loaded the old pointer may still use it. Sessions hold their own
** reference on their SSL_CTX, so existing connections keep the
** certificate they started with. */
struct htls_ctx;

/* Load cert_file (a PEM chain) and key_file (a PEM private key) with
** min_version "1.2" or "1.3". Any thread. Returns the context, or NULL
** with err[0, errlen) saying which file failed and why. */
struct htls_ctx *htls_ctx_new(const char *cert_file, const char *key_file,
			      const char *min_version, char *err, size_t errlen);

/* Load the same files again into a new SSL_CTX and make it current for new
** connections. One thread at a time (the signal thread). Returns 0, or -1
** with err filled: the current context stays. */
int htls_ctx_reload(struct htls_ctx *x, char *err, size_t errlen);

/* The SHA-256 fingerprint of the current certificate into buf (at least
** 96 bytes) as openssl x509 -fingerprint writes it ("AB:CD:..."), for logs. */
void htls_ctx_fingerprint(struct htls_ctx *x, char *buf, size_t cap);

/* Free x and every SSL_CTX it published. Only once no session is left. */
void htls_ctx_free(struct htls_ctx *x);

/* {==== Sessions ====} */

struct htls;

/* A server session for the stream st (initialised, not yet receiving)
** with the owner's callbacks up, which get st. On st's shard. */
struct htls *htls_new(struct htls_ctx *x, struct net_stream *st,
		      const struct net_stream_cb *up);

/* Free t (after up->on_close, or after net_stream_drop). */
void htls_free(struct htls *t);

/* The callbacks of st while it carries TLS: the owner's net_stream_cb
** forwards each to these (it finds t from st). */
char *htls_alloc(struct htls *t, size_t *cap);
void htls_on_read(struct htls *t, ssize_t res, const char *data, int in_place);
void htls_on_sent(struct htls *t, int res);

/* Keep st's receive armed. Returns 0 or a negative errno. */
int htls_recv(struct htls *t);

/* Encrypt buf[0, len) and send it; up->on_sent(st, res) reports when its
** ciphertext went out. One send at a time, as net_stream_send, and as
** there buf must stay valid until on_sent: it is encrypted in pieces as
** the previous ones go out. Returns 0 or a negative errno (then on_sent
** is not called; -ENOTCONN before the handshake ended, -EBUSY while a
** send is in progress). */
int htls_send(struct htls *t, const void *buf, size_t len);

/* Encrypt buf[0, len) and queue it ahead of anything sent later, without
** a completion (100 Continue). Returns len or a negative errno (-EBUSY
** while a send is in progress). */
ssize_t htls_try_send(struct htls *t, const void *buf, size_t len);

/* Send close_notify when nothing else is on the wire, then close st. */
void htls_close(struct htls *t);

#endif
