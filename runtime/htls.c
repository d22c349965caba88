/*
** runtime/htls.c: TLS sessions over engine/net.h streams (see htls.h).
**
** A session: SSL with a read BIO (rbio: ciphertext from the ring) and a
** write BIO (wbio: ciphertext for the ring), both memory BIOs that grow as
** needed. Handshake records, alerts, session tickets and the owner's data
** all come out of wbio; flush() moves what is there into `tx` and sends it,
** one send at a time. `app` marks an owner's send: its plaintext (the
** owner's buffer, valid until on_sent) is encrypted SEAL_PIECE at a time
** as the previous piece goes out, and on_sent is reported when all of it
** has been sealed and wbio and tx have drained.
**
** Upcalls into the owner may close the stream (net_stream_close): every
** loop that calls up checks `closed` after each call, and t itself lives
** until the owner frees it from on_close, which never runs inside another
** callback of the stream.
*/
#include "htls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "log.h"

#define RX_CAP (16u << 10)   /* a plain receive's room; one TLS record */
#define PLAIN_CAP (16u << 10)
#define SEAL_PIECE (64u << 10)  /* plaintext encrypted per send: a large
                                ** response is never held twice whole */

/* {==== Contexts ====} */

struct ctx_old {
	SSL_CTX *ctx;
	struct ctx_old *next;
};

struct htls_ctx {
	_Atomic(SSL_CTX *) cur;
	struct ctx_old *older;       /* replaced ones: freed in htls_ctx_free */
	char *cert, *key;
	int min;                     /* TLS1_2_VERSION or TLS1_3_VERSION */
};

/* OpenSSL's last error as text (the queue is cleared). */
static const char *ssl_why(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	if (e == 0)
		snprintf(buf, cap, "unknown error");
	else
		ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *ctx_load(const struct htls_ctx *x, char *err, size_t n)
{
	char why[256];
	SSL_CTX *c;
	FILE *f;

	/* The file's own errno first: "no such file" says more than a PEM
	** parser's "no start line". */
	if ((f = fopen(x->cert, "r")) == NULL) {
		snprintf(err, n, "tls.cert_file \"%s\": %s", x->cert, strerror(errno));
		return NULL;
	}
	fclose(f);
	if ((f = fopen(x->key, "r")) == NULL) {
		snprintf(err, n, "tls.key_file \"%s\": %s", x->key, strerror(errno));
		return NULL;
	}
	fclose(f);
	ERR_clear_error();
	if ((c = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, n, "tls: %s", ssl_why(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c, x->min);
	/* No renegotiation: a client could make the server work for free. */
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(c, x->cert) != 1) {
		snprintf(err, n, "tls.cert_file \"%s\": not a PEM certificate (%s)",
			 x->cert, ssl_why(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c, x->key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, n, "tls.key_file \"%s\": not a PEM private key for the "
			 "certificate (%s)", x->key, ssl_why(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		snprintf(err, n, "tls.key_file \"%s\" does not match tls.cert_file "
			 "\"%s\" (%s)", x->key, x->cert, ssl_why(why, sizeof(why)));
		goto fail;
	}
	return c;
fail:
	SSL_CTX_free(c);
	return NULL;
}

struct htls_ctx *htls_ctx_new(const char *cert_file, const char *key_file,
			      const char *min_version, char *err, size_t errlen)
{
	struct htls_ctx *x = xcalloc(1, sizeof(*x));
	SSL_CTX *c;

	x->cert = xstrdup(cert_file);
	x->key = xstrdup(key_file);
	x->min = min_version && strcmp(min_version, "1.3") == 0 ? TLS1_3_VERSION
								 : TLS1_2_VERSION;
	if ((c = ctx_load(x, err, errlen)) == NULL) {
		htls_ctx_free(x);
		return NULL;
	}
	atomic_init(&x->cur, c);
	return x;
}

int htls_ctx_reload(struct htls_ctx *x, char *err, size_t errlen)
{
	SSL_CTX *c = ctx_load(x, err, errlen);
	struct ctx_old *o;

	if (c == NULL)
		return -1;
	o = xmalloc(sizeof(*o));
	o->ctx = atomic_load_explicit(&x->cur, memory_order_relaxed);
	o->next = x->older;
	x->older = o;
	atomic_store_explicit(&x->cur, c, memory_order_release);
	return 0;
}

void htls_ctx_fingerprint(struct htls_ctx *x, char *buf, size_t cap)
{
	SSL_CTX *c = atomic_load_explicit(&x->cur, memory_order_acquire);
	X509 *crt = SSL_CTX_get0_certificate(c);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	buf[0] = '\0';
	if (crt == NULL || X509_digest(crt, EVP_sha256(), md, &n) != 1)
		return;
	for (unsigned i = 0; i < n && 3 * i + 3 <= cap; i++)
		snprintf(buf + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
}

void htls_ctx_free(struct htls_ctx *x)
{
	if (x == NULL)
		return;
	SSL_CTX_free(atomic_load(&x->cur));
	for (struct ctx_old *o = x->older, *n; o; o = n) {
		n = o->next;
		SSL_CTX_free(o->ctx);
		free(o);
	}
	free(x->cert);
	free(x->key);
	free(x);
}

/* {==== Sessions ====} */

struct htls {
	SSL *ssl;
	BIO *rbio, *wbio;            /* owned by ssl */
	struct net_stream *st;
	const struct net_stream_cb *up;
	char *rx;                    /* a plain receive's room (lazy) */
	char *tx;                    /* ciphertext being sent */
	size_t tx_cap;
	uint8_t sending;             /* a send of tx is in flight */
	uint8_t app;                 /* an owner's send waits for on_sent */
	const char *app_buf;         /* its plaintext, sealed up to app_off */
	size_t app_len, app_off;
	uint8_t ready;               /* the handshake is done */
	uint8_t failed;              /* a fatal TLS error: no close_notify */
	uint8_t closed;              /* htls_close or a failure closed st */
};

struct htls *htls_new(struct htls_ctx *x, struct net_stream *st,
		      const struct net_stream_cb *up)
{
	struct htls *t = xcalloc(1, sizeof(*t));
	SSL_CTX *c = atomic_load_explicit(&x->cur, memory_order_acquire);

	t->st = st;
	t->up = up;
	t->ssl = SSL_new(c);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
		fprintf(stderr, "%s:%d: out of memory (SSL_new)\n", __FILE__, __LINE__);
		abort();
	}
	/* An empty read BIO means "more is coming", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_accept_state(t->ssl);
	return t;
}

void htls_free(struct htls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t->rx);
	free(t->tx);
	free(t);
}

static int seal(struct htls *t, const void *buf, size_t len);

/* Send what wbio holds (or the owner's next piece), when no send is in
** flight. Returns 0 or a negative errno. */
static int flush(struct htls *t)
{
	size_t n;
	int rc;

	if (t->sending || t->closed)
		return 0;
	n = BIO_ctrl_pending(t->wbio);
	if (n == 0 && t->app && t->app_off < t->app_len) {
		size_t k = t->app_len - t->app_off;
		if (k > SEAL_PIECE)
			k = SEAL_PIECE;
		if ((rc = seal(t, t->app_buf + t->app_off, k)) < 0)
			return rc;
		t->app_off += k;
		n = BIO_ctrl_pending(t->wbio);
	}
	if (n == 0)
		return 0;
	if (n > t->tx_cap) {
		t->tx_cap = n;
		t->tx = xrealloc(t->tx, n);
	}
	if (BIO_read(t->wbio, t->tx, (int)n) != (int)n)
		return -EIO;
	t->sending = 1;
	if ((rc = net_stream_send(t->st, t->tx, n)) < 0)
		t->sending = 0;
	return rc;
}

/* A fatal error: the alert (if any) goes out without waiting, the owner
** sees a failed read and closes. */
static void fail(struct htls *t, int res)
{
	size_t n = BIO_ctrl_pending(t->wbio);
	char buf[512];

	t->failed = 1;
	if (!t->sending && n > 0 && n <= sizeof(buf) &&
	    BIO_read(t->wbio, buf, (int)n) == (int)n)
		(void)net_stream_try_send(t->st, buf, n);
	t->up->on_read(t->st, res, NULL, 0);
}

/* The answer nginx gives to plain HTTP on a TLS port, in clear. */
static const char plain_http[] =
	"HTTP/1.1 400 Bad Request\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Length: 44\r\n"
	"Connection: close\r\n"
	"\r\n"
	"the plain HTTP request was sent to TLS port\n";

/* The handshake went as far as the ciphertext allows. Returns 1 when it
** is done, 0 when it needs more, -1 when it failed (st is being closed). */
static int handshake(struct htls *t)
{
	char why[256], peer[64];
	int r = SSL_do_handshake(t->ssl), e;
	unsigned long code;

	if (r == 1) {
		t->ready = 1;
		return 1;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		if (flush(t) < 0) {
			fail(t, -EPIPE);
			return -1;
		}
		return 0;
	}
	code = ERR_peek_last_error();
	net_stream_peer(t->st, peer, sizeof(peer));
	if (ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST) {
		log_debug("http tls: plain HTTP from %s on a TLS port", peer);
		ERR_clear_error();
		BIO_reset(t->wbio);
		(void)net_stream_try_send(t->st, plain_http, sizeof(plain_http) - 1);
	} else {
		log_debug("http tls: handshake with %s failed: %s", peer,
			  e == SSL_ERROR_SSL ? ssl_why(why, sizeof(why)) : "connection error");
		ERR_clear_error();
	}
	fail(t, -EPROTO);
	return -1;
}

char *htls_alloc(struct htls *t, size_t *cap)
{
	if (t->rx == NULL)
		t->rx = xmalloc(RX_CAP);
	*cap = RX_CAP;
	return t->rx;
}

void htls_on_read(struct htls *t, ssize_t res, const char *data, int in_place)
{
	char plain[PLAIN_CAP];
	(void)in_place;

	if (res <= 0) {
		/* The peer's end (mid-handshake too) or a failed receive: the
		** owner closes, as over a plain stream. */
		t->up->on_read(t->st, res, NULL, 0);
		return;
	}
	if (BIO_write(t->rbio, data, (int)res) != (int)res) {
		fail(t, -ENOMEM);
		return;
	}
	if (!t->ready && handshake(t) <= 0)
		goto rearm;
	for (;;) {
		int r = SSL_read(t->ssl, plain, sizeof(plain)), e;
		if (r > 0) {
			t->up->on_read(t->st, r, plain, 0);
			if (t->closed)
				return;
			continue;
		}
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {  /* close_notify */
			t->up->on_read(t->st, 0, NULL, 0);
		} else {
			char why[256];
			log_debug("http tls: read failed: %s",
				  e == SSL_ERROR_SSL ? ssl_why(why, sizeof(why)) : "connection error");
			ERR_clear_error();
			fail(t, -EPROTO);
		}
		return;
	}
	/* A session ticket after the handshake, a key update's answer. */
	if (flush(t) < 0) {
		fail(t, -EPIPE);
		return;
	}
rearm:
	if (!t->closed && !t->failed)
		(void)htls_recv(t);
}

void htls_on_sent(struct htls *t, int res)
{
	t->sending = 0;
	if (res < 0) {
		t->failed = 1;
		if (t->app) {
			t->app = 0;
			t->up->on_sent(t->st, res);
		} else {
			t->up->on_read(t->st, res, NULL, 0);
		}
		return;
	}
	if (BIO_ctrl_pending(t->wbio) > 0 || (t->app && t->app_off < t->app_len)) {
		if (flush(t) < 0)
			fail(t, -EPIPE);
		return;
	}
	if (t->app) {
		t->app = 0;
		t->up->on_sent(t->st, 0);
	}
}

int htls_recv(struct htls *t)
{
	if (t->closed)
		return -ENOTCONN;
	return net_stream_recv(t->st);
}

/* Encrypt into wbio. Returns 0 or a negative errno. */
static int seal(struct htls *t, const void *buf, size_t len)
{
	const char *p = buf;
	if (!t->ready || t->failed || t->closed)
		return -ENOTCONN;
	while (len > 0) {
		int k = len > (1u << 30) ? 1 << 30 : (int)len;
		int r = SSL_write(t->ssl, p, k);
		if (r <= 0) {
			ERR_clear_error();
			t->failed = 1;
			return -EIO;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int htls_send(struct htls *t, const void *buf, size_t len)
{
	int rc;
	if (!t->ready || t->failed || t->closed)
		return -ENOTCONN;
	if (t->app)
		return -EBUSY;
	t->app = 1;
	t->app_buf = buf;
	t->app_len = len;
	t->app_off = 0;
	if ((rc = flush(t)) < 0)
		t->app = 0;
	return rc;
}

ssize_t htls_try_send(struct htls *t, const void *buf, size_t len)
{
	/* Not between the pieces of a send: the bytes would land inside it. */
	int rc = t->app ? -EBUSY : seal(t, buf, len);
	if (rc == 0)
		rc = flush(t);
	return rc < 0 ? rc : (ssize_t)len;
}

void htls_close(struct htls *t)
{
	if (t->closed)
		return;
	if (t->ready && !t->failed && !t->sending) {
		char buf[256];
		size_t n;
		(void)SSL_shutdown(t->ssl);
		n = BIO_ctrl_pending(t->wbio);
		if (n > 0 && n <= sizeof(buf) && BIO_read(t->wbio, buf, (int)n) == (int)n)
			(void)net_stream_try_send(t->st, buf, n);
		ERR_clear_error();
	}
	t->closed = 1;
	net_stream_close(t->st);
}
