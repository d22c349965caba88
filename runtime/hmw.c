/*
** runtime/hmw.c: the HTTP middleware table and its middleware (cors,
** compress, ratelimit, real_ip, token_auth, endpoint_firewall,
** resource_firewall), after the original's
** service/http/middleware packages: the same option names (dot form
** first, the legacy underscore form where the original reads one), the
** same defaults and the same answers.
**
** Differences on purpose: an option value that does not parse is a load
** error here (the original falls back to the default silently), and the
** rate limiter's buckets are one table per chain shared by every shard
** under a mutex (a client's connections land on different shards; the
** lock is held for a hash lookup and never across I/O).
**
** Invariant: a compiled chain never changes but for the buckets; every
** string it holds is its own copy.
*/
#include "hmw.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "engine/common.h"
#include "gotime.h"

enum { MW_CORS = 1, MW_COMPRESS, MW_RATELIMIT, MW_REAL_IP, MW_TOKEN_AUTH, MW_METRICS,
       MW_ENDPOINT_FW, MW_RESOURCE_FW };

/* {==== Options ====} */

struct opts {
	const char *const *keys, *const *vals;
	size_t n;
	int bad;        /* index of the option that failed, -1 */
};

/* The value of key, else of the legacy key (may be NULL), else NULL. */
static const char *opt(struct opts *o, const char *key, const char *legacy, int *at)
{
	for (int pass = 0; pass < 2; pass++) {
		const char *k = pass ? legacy : key;
		if (k == NULL)
			continue;
		for (size_t i = 0; i < o->n; i++)
			if (!strcmp(o->keys[i], k)) {
				*at = (int)i;
				return o->vals[i];
			}
	}
	*at = -1;
	return NULL;
}

static int fail(struct opts *o, int at, char *why, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail(struct opts *o, int at, char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	o->bad = at;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* "true" / "false" (absent: def). */
static int opt_bool(struct opts *o, const char *key, const char *legacy, int def,
		    int *out, char *why, size_t cap)
{
	int at;
	const char *v = opt(o, key, legacy, &at);
	if (v == NULL || v[0] == '\0')
		*out = def;
	else if (!strcmp(v, "true"))
		*out = 1;
	else if (!strcmp(v, "false"))
		*out = 0;
	else
		return fail(o, at, why, cap, "option %s must be \"true\" or \"false\", got \"%s\"",
			    key, v);
	return 0;
}

/* A positive integer (absent: def). */
static int opt_pos(struct opts *o, const char *key, long def, long *out, char *why,
		   size_t cap)
{
	int at;
	char *end;
	const char *v = opt(o, key, NULL, &at);
	if (v == NULL || v[0] == '\0') {
		*out = def;
		return 0;
	}
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n <= 0 || end == v)
		return fail(o, at, why, cap, "option %s must be a positive integer, got \"%s\"",
			    key, v);
	*out = n;
	return 0;
}

/* A Go duration (absent: def), at least 1 ns. */
static int opt_dur(struct opts *o, const char *key, const char *def, int64_t *out,
		   const char **text, char *why, size_t cap)
{
	int at;
	const char *v = opt(o, key, NULL, &at);
	if (v == NULL || v[0] == '\0')
		v = def;
	if (gotime_parse_duration(v, strlen(v), out, NULL) < 0 || *out <= 0)
		return fail(o, at, why, cap, "option %s must be a duration like \"1m\", got \"%s\"",
			    key, v);
	if (text)
		*text = v;
	return 0;
}

/* }==== */

/* {==== The middleware ====} */

struct cors {
	char **origins;     /* allowed origins; NULL when "*" */
	size_t norigins;
	char *methods, *headers, *expose, *max_age;
	int credentials, private_net;
};

/* One bucket of the token-bucket limiter (golang.org/x/time/rate's
** Limiter: starts full, refills at rate per second up to burst). */
struct bucket {
	struct bucket *next;
	uint64_t last;      /* last refill, ns */
	uint64_t access;    /* last use, ns: the TTL and eviction clock */
	double tokens;
	char key[];
};

struct ratelimit {
	long requests, burst, max_entries;
	char *window_text;  /* as written: the X-RateLimit-Window value */
	double rate;        /* tokens per second */
	int64_t ttl, cleanup;
	int key_kind;       /* 0 ip, 1 header, 2 query */
	char *key_name;
	pthread_mutex_t lock;
	struct bucket **tab;
	size_t nbuckets, count;
	uint64_t last_sweep;
};

struct net4 { int v6; unsigned char addr[16]; int bits; };

struct realip {
	int trust_all;
	struct net4 *nets;
	size_t nnets;
};

struct compress {
	int level;
	long min_length;
};

/* token_auth: where the token is read from (the original's defaults:
** "Authorization" with "Bearer ", then the query parameter and the cookie
** x-auth-token) and the security.token_store that validates it. */
struct tokauth {
	char *store, *header, *prefix, *query, *cookie;
};

/* endpoint_firewall / resource_firewall: the action checked (default
** "access") and, for resource_firewall, the resource (its target). */
struct fw {
	char *action, *target;
};

struct step {
	int kind;
	union {
		struct fw fw;
		struct tokauth tok;
		struct cors cors;
		struct ratelimit rl;
		struct realip rip;
		struct compress comp;
	} u;
};

struct hmw_chain {
	struct step *steps;
	size_t n;
};

/* Split a comma list, trimmed, empty items dropped. */
static char **split_list(const char *s, size_t *n)
{
	char **out = NULL;
	*n = 0;
	while (*s) {
		const char *e = strchr(s, ',');
		if (e == NULL)
			e = s + strlen(s);
		const char *a = s, *b = e;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a) {
			out = xrealloc(out, (*n + 1) * sizeof(*out));
			out[*n] = xmalloc((size_t)(b - a) + 1);
			memcpy(out[*n], a, (size_t)(b - a));
			out[(*n)++][b - a] = '\0';
		}
		s = *e ? e + 1 : e;
	}
	return out;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static char *dup_or(const char *v, const char *def)
{
	return xstrdup(v && v[0] ? v : def);
}

static int cors_parse(struct cors *c, struct opts *o, char *why, size_t cap)
{
	int at;
	const char *origins = opt(o, "cors.allow.origins", "allow_origins", &at);
	if (origins == NULL || origins[0] == '\0')
		origins = "*";
	if (strcmp(origins, "*") != 0)
		c->origins = split_list(origins, &c->norigins);
	c->methods = dup_or(opt(o, "cors.allow.methods", "allow_methods", &at),
			    "GET,POST,PUT,DELETE,OPTIONS,PATCH");
	c->headers = dup_or(opt(o, "cors.allow.headers", "allow_headers", &at),
			    "Origin,Content-Type,Accept,Authorization,X-Requested-With");
	c->expose = dup_or(opt(o, "cors.expose.headers", "expose_headers", &at), "");
	const char *ma = opt(o, "cors.max.age", "max_age", &at);
	if (ma && ma[0]) {
		char *end;
		long v = strtol(ma, &end, 10);
		if (*end || v < 0 || end == ma)
			return fail(o, at, why, cap, "option %s must be a number of seconds, got \"%s\"",
				    "cors.max.age", ma);
	}
	c->max_age = dup_or(ma, "86400");
	if (opt_bool(o, "cors.allow.credentials", "allow_credentials", 0, &c->credentials,
		     why, cap) < 0 ||
	    opt_bool(o, "cors.allow.private.network", "allow_private_network", 0,
		     &c->private_net, why, cap) < 0)
		return -1;
	return 0;
}

/* The original's isAllowedOrigin: "*", exact, "*.suffix" (a real
** subdomain) and "localhost" (any port, http or https). */
static int origin_allowed(const struct cors *c, const char *o, size_t ol)
{
	for (size_t i = 0; i < c->norigins; i++) {
		const char *a = c->origins[i];
		size_t al = strlen(a);
		if (!strcmp(a, "*") || (al == ol && !memcmp(a, o, ol)))
			return 1;
		if (al > 2 && a[0] == '*' && a[1] == '.' && ol > al - 1 &&
		    !memcmp(o + ol - (al - 1), a + 1, al - 1))
			return 1;
		if (!strcmp(a, "localhost")) {
			static const char *const lh[] = { "http://localhost", "https://localhost" };
			for (int k = 0; k < 2; k++) {
				size_t n = strlen(lh[k]);
				if (ol >= n && !memcmp(o, lh[k], n) && (ol == n || o[n] == ':'))
					return 1;
			}
		}
	}
	return 0;
}

static void cors_run(const struct cors *c, struct hmw_req *r)
{
	size_t ol = 0, ml = 0;
	const char *o = r->header(r->ud, "Origin", 6, &ol);
	int check = c->origins != NULL;

	if (r->method_len == 7 && !memcmp(r->method, "OPTIONS", 7) &&
	    r->header(r->ud, "Access-Control-Request-Method", 29, &ml)) {
		if (o == NULL || (check && !origin_allowed(c, o, ol)))
			return; /* not a CORS preflight we answer: the handler's */
		hmw_hdrs_add(&r->add, "Access-Control-Allow-Origin", o, ol);
		hmw_hdrs_add(&r->add, "Access-Control-Allow-Methods", c->methods, strlen(c->methods));
		if (c->headers[0])
			hmw_hdrs_add(&r->add, "Access-Control-Allow-Headers", c->headers,
				     strlen(c->headers));
		if (c->max_age[0])
			hmw_hdrs_add(&r->add, "Access-Control-Max-Age", c->max_age, strlen(c->max_age));
		if (c->credentials)
			hmw_hdrs_add(&r->add, "Access-Control-Allow-Credentials", "true", 4);
		if (c->private_net)
			hmw_hdrs_add(&r->add, "Access-Control-Allow-Private-Network", "true", 4);
		static const char vary[] = "Origin, Access-Control-Request-Method, "
					   "Access-Control-Request-Headers";
		hmw_hdrs_add(&r->add, "Vary", vary, sizeof(vary) - 1);
		r->answer = 204;
		r->body = "";
		return;
	}
	if (o == NULL || (check && !origin_allowed(c, o, ol)))
		return;
	hmw_hdrs_add(&r->add, "Access-Control-Allow-Origin", o, ol);
	if (c->expose[0])
		hmw_hdrs_add(&r->add, "Access-Control-Expose-Headers", c->expose, strlen(c->expose));
	if (c->credentials)
		hmw_hdrs_add(&r->add, "Access-Control-Allow-Credentials", "true", 4);
	if (c->private_net)
		hmw_hdrs_add(&r->add, "Access-Control-Allow-Private-Network", "true", 4);
	hmw_hdrs_add(&r->add, "Vary", "Origin", 6);
}

static int compress_parse(struct compress *c, struct opts *o, char *why, size_t cap)
{
	int at;
	const char *lv = opt(o, "compress.level", NULL, &at);
	if (lv == NULL || lv[0] == '\0' || !strcmp(lv, "default"))
		c->level = Z_DEFAULT_COMPRESSION;
	else if (!strcmp(lv, "fastest"))
		c->level = Z_BEST_SPEED;
	else if (!strcmp(lv, "best"))
		c->level = Z_BEST_COMPRESSION;
	else
		return fail(o, at, why, cap, "option %s must be fastest, default or best, got \"%s\"",
			    "compress.level", lv);
	return opt_pos(o, "compress.min.length", 1024, &c->min_length, why, cap);
}

static int ratelimit_parse(struct ratelimit *rl, struct opts *o, char *why, size_t cap)
{
	int at;
	int64_t window;
	const char *wt, *key;

	if (opt_pos(o, "ratelimit.requests", 100, &rl->requests, why, cap) < 0 ||
	    opt_pos(o, "ratelimit.burst", 20, &rl->burst, why, cap) < 0 ||
	    opt_pos(o, "ratelimit.max_entries", 100000, &rl->max_entries, why, cap) < 0 ||
	    opt_dur(o, "ratelimit.window", "1m", &window, &wt, why, cap) < 0 ||
	    opt_dur(o, "ratelimit.cleanup_interval", "5m", &rl->cleanup, NULL, why, cap) < 0 ||
	    opt_dur(o, "ratelimit.entry_ttl", "10m", &rl->ttl, NULL, why, cap) < 0)
		return -1;
	key = opt(o, "ratelimit.key", NULL, &at);
	if (key == NULL || key[0] == '\0' || !strcmp(key, "ip")) {
		rl->key_kind = 0;
	} else if (!strncmp(key, "header:", 7) && key[7]) {
		rl->key_kind = 1;
		rl->key_name = xstrdup(key + 7);
	} else if (!strncmp(key, "query:", 6) && key[6]) {
		rl->key_kind = 2;
		rl->key_name = xstrdup(key + 6);
	} else {
		return fail(o, at, why, cap, "option %s must be ip, header:NAME or query:NAME, "
			    "got \"%s\"", "ratelimit.key", key);
	}
	/* As the original: a window under a second counts as one second. */
	if (window < 1000000000)
		window = 1000000000;
	rl->window_text = xstrdup(wt);
	rl->rate = (double)rl->requests / ((double)window / 1e9);
	rl->nbuckets = 1024;
	rl->tab = xcalloc(rl->nbuckets, sizeof(*rl->tab));
	pthread_mutex_init(&rl->lock, NULL);
	return 0;
}

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

/* Drop buckets unused for longer than the TTL; when full still, the
** least recently used one. Caller holds the lock. */
static void sweep(struct ratelimit *rl, uint64_t now, int need_room)
{
	struct bucket *oldest = NULL, **oldest_at = NULL;
	for (size_t i = 0; i < rl->nbuckets; i++)
		for (struct bucket **p = &rl->tab[i]; *p;) {
			struct bucket *b = *p;
			if (now - b->access > (uint64_t)rl->ttl) {
				*p = b->next;
				free(b);
				rl->count--;
				continue;
			}
			if (oldest == NULL || b->access < oldest->access) {
				oldest = b;
				oldest_at = p;
			}
			p = &b->next;
		}
	if (need_room && rl->count >= (size_t)rl->max_entries && oldest) {
		*oldest_at = oldest->next;
		free(oldest);
		rl->count--;
	}
	rl->last_sweep = now;
}

/* Take a token for key; 1 when allowed. */
static int take(struct ratelimit *rl, const char *key, size_t kl)
{
	uint64_t now = common_now_ns();
	int ok;
	pthread_mutex_lock(&rl->lock);
	if (now - rl->last_sweep > (uint64_t)rl->cleanup)
		sweep(rl, now, 0);
	struct bucket **head = &rl->tab[hash(key, kl) % rl->nbuckets], *b;
	for (b = *head; b; b = b->next)
		if (strlen(b->key) == kl && !memcmp(b->key, key, kl))
			break;
	if (b == NULL) {
		if (rl->count >= (size_t)rl->max_entries)
			sweep(rl, now, 1);
		b = xmalloc(sizeof(*b) + kl + 1);
		memcpy(b->key, key, kl);
		b->key[kl] = '\0';
		b->tokens = (double)rl->burst;
		b->last = now;
		b->next = *head;
		*head = b;
		rl->count++;
	}
	b->tokens += (double)(now - b->last) / 1e9 * rl->rate;
	if (b->tokens > (double)rl->burst)
		b->tokens = (double)rl->burst;
	b->last = now;
	b->access = now;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

const char *hmw_query_get(const char *q, size_t ql, const char *name, char *buf,
			  size_t cap, size_t *len)
{
	size_t nl = strlen(name);
	const char *p = q, *end = q + ql;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		if (eq && (size_t)(eq - p) == nl && !memcmp(p, name, nl)) {
			size_t n = 0;
			for (const char *s = eq + 1; s < e && n + 1 < cap; s++) {
				if (*s == '+') {
					buf[n++] = ' ';
				} else if (*s == '%' && e - s > 2 && isxdigit((unsigned char)s[1]) &&
					   isxdigit((unsigned char)s[2])) {
					char h[3] = { s[1], s[2], 0 };
					buf[n++] = (char)strtol(h, NULL, 16);
					s += 2;
				} else {
					buf[n++] = *s;
				}
			}
			*len = n;
			return n ? buf : NULL;
		}
		p = e + 1;
	}
	return NULL;
}

static void ratelimit_run(struct ratelimit *rl, struct hmw_req *r)
{
	char qbuf[256];
	const char *key;
	size_t kl = 0;

	if (rl->key_kind == 1) {
		key = r->header(r->ud, rl->key_name, strlen(rl->key_name), &kl);
	} else if (rl->key_kind == 2) {
		key = hmw_query_get(r->query, r->query_len, rl->key_name, qbuf, sizeof(qbuf), &kl);
	} else {
		/* The host part of RemoteAddr (real_ip may have left an ip alone). */
		const char *colon = strrchr(r->remote, ':');
		key = r->remote;
		kl = colon && strchr(r->remote, ':') == colon ? (size_t)(colon - r->remote)
							      : strlen(r->remote);
	}
	if (key == NULL || kl == 0) {
		r->answer = 400;
		r->body = "Rate limit key extraction failed\n";
		return;
	}
	if (take(rl, key, kl))
		return;
	char n[24];
	int k = snprintf(n, sizeof(n), "%ld", rl->requests);
	hmw_hdrs_add(&r->add, "X-RateLimit-Limit", n, (size_t)k);
	hmw_hdrs_add(&r->add, "X-RateLimit-Window", rl->window_text, strlen(rl->window_text));
	r->answer = 429;
	r->body = "Rate limit exceeded\n";
}

/* An address (v4 or v6) into a; 0 on success. */
static int parse_ip(const char *s, size_t n, struct net4 *a)
{
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->addr) == 1)
		return 0;
	if (inet_pton(AF_INET6, buf, a->addr) == 1) {
		a->v6 = 1;
		return 0;
	}
	return -1;
}

static int in_net(const struct net4 *ip, const struct net4 *net)
{
	if (ip->v6 != net->v6)
		return 0;
	int bits = net->bits;
	for (int i = 0; bits > 0; i++, bits -= 8) {
		unsigned char m = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((ip->addr[i] & m) != (net->addr[i] & m))
			return 0;
	}
	return 1;
}

static int realip_parse(struct realip *rp, struct opts *o, char *why, size_t cap)
{
	int at;
	if (opt_bool(o, "real_ip.trust_all", NULL, 0, &rp->trust_all, why, cap) < 0)
		return -1;
	const char *v = opt(o, "real_ip.trusted.subnets", "trusted_subnets", &at);
	if (v == NULL || v[0] == '\0')
		v = "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,"
		    "100.64.0.0/10,::1/128,fc00::/7,fe80::/10";
	size_t n;
	char **l = split_list(v, &n);
	rp->nets = xcalloc(n + 1, sizeof(*rp->nets));
	for (size_t i = 0; i < n; i++) {
		char *slash = strchr(l[i], '/'), *end;
		struct net4 *net = &rp->nets[rp->nnets];
		long bits = slash ? strtol(slash + 1, &end, 10) : -1;
		if (slash == NULL || *end || end == slash + 1 ||
		    parse_ip(l[i], (size_t)(slash - l[i]), net) < 0 ||
		    bits < 0 || bits > (net->v6 ? 128 : 32)) {
			int r = fail(o, at, why, cap, "option %s: \"%s\" is not a CIDR block "
				     "like 10.0.0.0/8", "real_ip.trusted.subnets", l[i]);
			free_list(l, n);
			return r;
		}
		net->bits = (int)bits;
		rp->nnets++;
	}
	free_list(l, n);
	return 0;
}

static void realip_run(const struct realip *rp, struct hmw_req *r)
{
	struct net4 peer, got;
	const char *colon = strrchr(r->remote, ':');
	size_t hl = colon ? (size_t)(colon - r->remote) : strlen(r->remote);
	int trusted = rp->trust_all;

	if (!trusted && parse_ip(r->remote, hl, &peer) == 0)
		for (size_t i = 0; i < rp->nnets && !trusted; i++)
			trusted = in_net(&peer, &rp->nets[i]);
	if (!trusted)
		return;
	static const char *const names[] = { "True-Client-IP", "X-Real-IP", "X-Forwarded-For" };
	for (int i = 0; i < 3; i++) {
		size_t vl;
		const char *v = r->header(r->ud, names[i], strlen(names[i]), &vl);
		if (v == NULL || vl == 0)
			continue;
		if (i == 2) { /* the first of the list: the client */
			const char *comma = memchr(v, ',', vl);
			if (comma)
				vl = (size_t)(comma - v);
		}
		while (vl && isspace((unsigned char)*v))
			v++, vl--;
		while (vl && isspace((unsigned char)v[vl - 1]))
			vl--;
		if (parse_ip(v, vl, &got) == 0 && vl < sizeof(r->remote)) {
			memcpy(r->remote, v, vl);
			r->remote[vl] = '\0';
		}
		return; /* the first header present decides, valid or not */
	}
}

/* }==== */

/* {==== token_auth ====} */

/* An option's text (absent or empty: def), copied. */
static char *opt_text(struct opts *o, const char *key, const char *legacy, const char *def)
{
	int at;
	const char *v = opt(o, key, legacy, &at);
	return xstrdup(v && v[0] ? v : def);
}

static int tokauth_parse(struct tokauth *t, struct opts *o, char *why, size_t cap)
{
	int at;
	const char *st = opt(o, "token_auth.store", "token_store", &at);
	const char *colon = st ? strchr(st, ':') : NULL;

	if (st == NULL || st[0] == '\0')
		return fail(o, at, why, cap, "option token_auth.store is required (the "
			    "security.token_store entry that validates the tokens)");
	if (colon == NULL || colon == st || colon[1] == '\0' || strchr(colon + 1, ':') ||
	    strpbrk(st, " \t\r\n"))
		return fail(o, at, why, cap, "option token_auth.store must be an entry id "
			    "like ns:name, got \"%s\"", st);
	t->store = xstrdup(st);
	t->header = opt_text(o, "token_auth.header.name", "header_name", "Authorization");
	for (const char *c = t->header; *c; c++)
		if (*c <= ' ' || *c >= 127 || strchr("()<>@,;:\\\"/[]?={}", *c)) {
			opt(o, "token_auth.header.name", "header_name", &at);
			return fail(o, at, why, cap, "option token_auth.header.name must be "
				    "a header name, got \"%s\"", t->header);
		}
	t->prefix = opt_text(o, "token_auth.header.prefix", "header_prefix", "Bearer ");
	t->query = opt_text(o, "token_auth.query.param", "query_param", "x-auth-token");
	t->cookie = opt_text(o, "token_auth.cookie.name", "cookie_name", "x-auth-token");
	return 0;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Keep v[0, n) as the request's token, percent-decoded when asked; one
** that does not fit is no token. Returns whether one was kept. */
static int tok_keep(struct hmw_req *r, const char *v, size_t n, int decode)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)v[i];
		if (decode && c == '%' && i + 2 < n && hexval(v[i + 1]) >= 0 &&
		    hexval(v[i + 2]) >= 0) {
			c = hexval(v[i + 1]) * 16 + hexval(v[i + 2]);
			i += 2;
		} else if (decode && c == '+') {
			c = ' ';
		}
		if (o + 1 >= sizeof(r->token))
			return r->token_len = 0, r->token[0] = '\0', 0;
		r->token[o++] = (char)c;
	}
	r->token[o] = '\0';
	r->token_len = o;
	return o > 0;
}

/* The value of name in a "k=v&k=v" query or "k=v; k=v" cookie list. */
static const char *list_get(const char *s, size_t n, const char *name, char sep,
			    size_t *vl)
{
	size_t nl = strlen(name);
	const char *p = s, *e = s + n;
	while (p < e) {
		const char *end = memchr(p, sep, (size_t)(e - p));
		if (end == NULL)
			end = e;
		while (p < end && sep == ';' && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(end - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
			*vl = (size_t)(end - p) - nl - 1;
			return p + nl + 1;
		}
		p = end + 1;
	}
	return NULL;
}

/* The original's order: the header (with its prefix), the query
** parameter, the cookie; the first non-empty one is the token. */
static void tokauth_run(const struct tokauth *t, struct hmw_req *r)
{
	size_t vl, pl = strlen(t->prefix);
	const char *v;

	snprintf(r->token_store, sizeof(r->token_store), "%s", t->store);
	r->token_len = 0;
	r->token[0] = '\0';
	v = r->header(r->ud, t->header, strlen(t->header), &vl);
	if (v && vl && (pl == 0 || (vl >= pl && !memcmp(v, t->prefix, pl))) &&
	    tok_keep(r, v + pl, vl - pl, 0))
		return;
	if (r->query_len && (v = list_get(r->query, r->query_len, t->query, '&', &vl)) &&
	    tok_keep(r, v, vl, 1))
		return;
	v = r->header(r->ud, "Cookie", 6, &vl);
	if (v && (v = list_get(v, vl, t->cookie, ';', &vl)))
		tok_keep(r, v, vl, 0);
}

/* }==== */

/* {==== endpoint_firewall, resource_firewall ====}
**
** The original's firewall package: a check of the request's actor and
** scope (set by token_auth) for action on the route's endpoint id, or on
** resource_firewall.target. The check itself needs the handler's process
** (token_auth's validation runs there), so the chain only records it. */

/* An action or a target: non-empty after the default, no blank or
** control characters (a policy could never match them as written). */
static int fw_text(struct opts *o, const char *key, const char *legacy, const char *def,
		   char **out, char *why, size_t cap)
{
	int at;
	const char *v = opt(o, key, legacy, &at);
	if (v == NULL || v[0] == '\0') {
		if (def == NULL)
			return fail(o, at, why, cap, "option %s is required (the resource "
				    "the firewall checks)", key);
		v = def;
	}
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 127)
			return fail(o, at, why, cap, "option %s must have no blanks or "
				    "control characters, got \"%s\"", key, v);
	*out = xstrdup(v);
	return 0;
}

static int fw_parse(struct fw *f, int kind, struct opts *o, char *why, size_t cap)
{
	if (kind == MW_ENDPOINT_FW)
		return fw_text(o, "endpoint_firewall.action", "endpoint_action", "access",
			       &f->action, why, cap);
	if (fw_text(o, "resource_firewall.action", "resource_action", "access", &f->action,
		    why, cap) < 0)
		return -1;
	return fw_text(o, "resource_firewall.target", "resource_target", NULL, &f->target,
		       why, cap);
}

/* }==== */

/* {==== The table ====}
**
** Every middleware name of the original. kind 0: the original has it and
** this runtime does not run it yet; listing it is a load error rather
** than a silent pass (a firewall that did nothing would open what the
** app meant to close). The others come here as their own kinds when
** they exist. metrics takes no options (the original ignores them). */
static const struct { const char *name; int kind; } table[] = {
	{ "cors", MW_CORS },
	{ "compress", MW_COMPRESS },
	{ "ratelimit", MW_RATELIMIT },
	{ "real_ip", MW_REAL_IP },
	{ "token_auth", MW_TOKEN_AUTH },
	{ "metrics", MW_METRICS },
	{ "endpoint_firewall", MW_ENDPOINT_FW },
	{ "resource_firewall", MW_RESOURCE_FW },
	{ "sendfile", 0 },
	{ "websocket_relay", 0 },
	{ "sse_relay", 0 },
	{ "otel", 0 },
};

int hmw_chain_create(struct hmw_chain **out, const char *const *names, size_t n,
		     const char *const *keys, const char *const *vals, size_t nopts,
		     char *why, size_t cap, int *bad_name, int *bad_opt)
{
	struct opts o = { keys, vals, nopts, -1 };
	struct hmw_chain *c;

	*out = NULL;
	*bad_name = *bad_opt = -1;
	if (n == 0)
		return 0;
	c = xcalloc(1, sizeof(*c));
	c->steps = xcalloc(n, sizeof(*c->steps));
	for (size_t i = 0, nfw = 0; i < n; i++) {
		struct step *s = &c->steps[i];
		size_t k;
		int rc = 0;
		for (k = 0; k < countof(table); k++)
			if (!strcmp(table[k].name, names[i]))
				break;
		if (k == countof(table) || table[k].kind == 0) {
			if (k == countof(table))
				snprintf(why, cap, "unknown middleware \"%s\" (known: cors, "
					 "compress, ratelimit, real_ip, token_auth, metrics, "
					 "endpoint_firewall, resource_firewall)", names[i]);
			else
				snprintf(why, cap, "middleware \"%s\" is not supported by this "
					 "runtime yet", names[i]);
			*bad_name = (int)i;
			hmw_chain_destroy(c);
			return -1;
		}
		s->kind = table[k].kind;
		c->n = i + 1; /* destroy frees what was parsed, also on failure */
		switch (s->kind) {
		case MW_CORS:
			rc = cors_parse(&s->u.cors, &o, why, cap);
			break;
		case MW_COMPRESS:
			rc = compress_parse(&s->u.comp, &o, why, cap);
			break;
		case MW_RATELIMIT:
			rc = ratelimit_parse(&s->u.rl, &o, why, cap);
			break;
		case MW_REAL_IP:
			rc = realip_parse(&s->u.rip, &o, why, cap);
			break;
		case MW_TOKEN_AUTH:
			rc = tokauth_parse(&s->u.tok, &o, why, cap);
			break;
		case MW_ENDPOINT_FW:
		case MW_RESOURCE_FW:
			if (++nfw > HMW_FW_MAX) {
				snprintf(why, cap, "at most %d firewall middleware in one "
					 "list", HMW_FW_MAX);
				rc = -1;
				break;
			}
			rc = fw_parse(&s->u.fw, s->kind, &o, why, cap);
			break;
		}
		if (rc < 0) {
			*bad_opt = o.bad;
			if (o.bad < 0)
				*bad_name = (int)i;
			hmw_chain_destroy(c);
			return -1;
		}
	}
	*out = c;
	return 0;
}

void hmw_chain_destroy(struct hmw_chain *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct step *s = &c->steps[i];
		switch (s->kind) {
		case MW_CORS:
			free_list(s->u.cors.origins, s->u.cors.norigins);
			free(s->u.cors.methods);
			free(s->u.cors.headers);
			free(s->u.cors.expose);
			free(s->u.cors.max_age);
			break;
		case MW_RATELIMIT:
			if (s->u.rl.tab) {
				for (size_t j = 0; j < s->u.rl.nbuckets; j++)
					for (struct bucket *b = s->u.rl.tab[j], *nx; b; b = nx) {
						nx = b->next;
						free(b);
					}
				free(s->u.rl.tab);
				pthread_mutex_destroy(&s->u.rl.lock);
			}
			free(s->u.rl.key_name);
			free(s->u.rl.window_text);
			break;
		case MW_REAL_IP:
			free(s->u.rip.nets);
			break;
		case MW_ENDPOINT_FW:
		case MW_RESOURCE_FW:
			free(s->u.fw.action);
			free(s->u.fw.target);
			break;
		case MW_TOKEN_AUTH:
			free(s->u.tok.store);
			free(s->u.tok.header);
			free(s->u.tok.prefix);
			free(s->u.tok.query);
			free(s->u.tok.cookie);
			break;
		}
	}
	free(c->steps);
	free(c);
}

struct hmw_chain *hmw_chain_concat(struct hmw_chain *a, struct hmw_chain *b)
{
	if (a == NULL || b == NULL)
		return a ? a : b;
	a->steps = xrealloc(a->steps, (a->n + b->n) * sizeof(*a->steps));
	memcpy(a->steps + a->n, b->steps, b->n * sizeof(*b->steps));
	a->n += b->n;
	free(b->steps);
	free(b);
	/* The steps moved: the rate limiters' locks (never taken yet, the
	** chains are new) are made again where they now are. */
	for (size_t i = 0; i < a->n; i++)
		if (a->steps[i].kind == MW_RATELIMIT && a->steps[i].u.rl.tab)
			pthread_mutex_init(&a->steps[i].u.rl.lock, NULL);
	return a;
}

void hmw_hdrs_add(struct hmw_hdrs *h, const char *name, const char *value, size_t vlen)
{
	size_t nl = strlen(name), need = h->len + nl + vlen + 2;
	if (need > h->cap) {
		h->cap = need * 2 + 64;
		h->p = xrealloc(h->p, h->cap);
	}
	memcpy(h->p + h->len, name, nl + 1);
	h->len += nl + 1;
	memcpy(h->p + h->len, value, vlen);
	h->p[h->len + vlen] = '\0';
	h->len += vlen + 1;
}

void hmw_hdrs_free(struct hmw_hdrs *h)
{
	free(h->p);
	memset(h, 0, sizeof(*h));
}

int hmw_run(const struct hmw_chain *c, struct hmw_req *r)
{
	r->answer = 0;
	for (size_t i = 0; c && i < c->n && r->answer == 0; i++) {
		struct step *s = &c->steps[i];
		switch (s->kind) {
		case MW_CORS:
			cors_run(&s->u.cors, r);
			break;
		case MW_COMPRESS:
			r->compress = 1;
			r->level = s->u.comp.level;
			r->min_length = (size_t)s->u.comp.min_length;
			break;
		case MW_RATELIMIT:
			ratelimit_run(&s->u.rl, r);
			break;
		case MW_REAL_IP:
			realip_run(&s->u.rip, r);
			break;
		case MW_TOKEN_AUTH:
			tokauth_run(&s->u.tok, r);
			break;
		case MW_METRICS:
			/* The server records the request from here on (its
			** answer, later middleware's included), as the original's
			** wrapper sees what the handlers after it do. */
			r->metrics = 1;
			break;
		case MW_ENDPOINT_FW:
		case MW_RESOURCE_FW:
			if (r->nfw < HMW_FW_MAX) {
				r->fw[r->nfw].action = s->u.fw.action;
				r->fw[r->nfw++].resource = s->u.fw.target;
			}
			break;
		}
	}
	return r->answer;
}

/* {==== gzip ====} */

/* Whether the Accept-Encoding value lists gzip with a q above 0. */
static int accepts_gzip(const char *v, size_t n)
{
	const char *p = v, *end = v + n;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		while (p < e && isspace((unsigned char)*p))
			p++;
		size_t rest = e > p ? (size_t)(e - p) : 0;
		const char *semi = rest ? memchr(p, ';', rest) : NULL;
		const char *te = semi ? semi : e;
		while (te > p && isspace((unsigned char)te[-1]))
			te--;
		if ((te - p == 4 && !strncasecmp(p, "gzip", 4)) || (te - p == 1 && *p == '*')) {
			const char *q = semi ? strstr(semi, "q=") : NULL;
			if (q == NULL || q >= e || strtod(q + 2, NULL) > 0)
				return 1;
		}
		p = e + 1;
	}
	return 0;
}

/* Types that are compressed already: gzip would only cost time. */
static int precompressed(const char *t, size_t n)
{
	static const char *const pre[] = { "image/", "video/", "audio/", "application/zip",
		"application/gzip", "application/x-gzip", "application/x-bzip2",
		"application/x-xz", "application/zstd", "font/woff", "application/wasm" };
	if (n >= 13 && !strncasecmp(t, "image/svg+xml", 13))
		return 0;
	for (size_t i = 0; i < countof(pre); i++) {
		size_t l = strlen(pre[i]);
		if (n >= l && !strncasecmp(t, pre[i], l))
			return strcmp(pre[i], "application/wasm") != 0;
	}
	return 0;
}

int hmw_would_compress(const struct hmw_req *r, int status, const char *accept_encoding,
		       size_t ae_len, const char *content_type, size_t ct_len, int encoded,
		       size_t len)
{
	return r->compress && accept_encoding != NULL && accepts_gzip(accept_encoding, ae_len) &&
	       len >= r->min_length && !encoded && status >= 200 && status != 204 &&
	       status != 304 && !(content_type && precompressed(content_type, ct_len));
}

int hmw_compress(const struct hmw_req *r, int status, const char *accept_encoding,
		 size_t ae_len, const char *content_type, size_t ct_len, int encoded,
		 const char *body, size_t len, char **out, size_t *olen)
{
	z_stream z;
	*out = NULL;
	if (!hmw_would_compress(r, status, accept_encoding, ae_len, content_type, ct_len,
				encoded, len))
		return 0;
	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip header and trailer, not raw zlib. */
	if (deflateInit2(&z, r->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	size_t cap = deflateBound(&z, (uLong)len);
	char *buf = xmalloc(cap);
	z.next_in = (Bytef *)(uintptr_t)body;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	*olen = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return 0;
	}
	*out = buf;
	return 1;
}
