/*
** test/unit/runtime/hmw.c: the middleware table. Compile errors name the
** culprit (an unknown name, a name not run here yet, each bad option
** value); cors, ratelimit (token bucket with refill and eviction),
** real_ip (trusted peers only, header priority, IPv6 subnets) and
** compress (gzip that zlib inflates back, and every case it declines)
** decide as the original's middleware do; the firewalls record their
** checks.
*/
#include "runtime/hmw.c"

#include <stdio.h>

#include "tap.h"

static const char *hv[8];
static const char *hdr(void *ud, const char *name, size_t nl, size_t *vl)
{
	(void)ud;
	for (int i = 0; i < 8 && hv[i]; i++)
		if (!strncasecmp(hv[i], name, nl) && hv[i][nl] == ':') {
			*vl = strlen(hv[i] + nl + 2);
			return hv[i] + nl + 2;
		}
	return NULL;
}

static struct hmw_chain *mk(const char *names, const char *const *kv, int *bn, int *bo,
			    char *why)
{
	const char *n[8] = { 0 }, *k[8] = { 0 }, *v[8] = { 0 };
	size_t nn = 0, no = 0;
	char *dup = strdup(names), *save = NULL;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
		n[nn++] = strdup(t);
	for (; kv && kv[2 * no]; no++) {
		k[no] = kv[2 * no];
		v[no] = kv[2 * no + 1];
	}
	struct hmw_chain *c = NULL;
	int rc = hmw_chain_create(&c, n, nn, k, v, no, why, 256, bn, bo);
	for (size_t i = 0; i < nn; i++)
		free((char *)n[i]);
	free(dup);
	return rc < 0 ? NULL : c;
}

static void req(struct hmw_req *r, const char *method, const char *remote)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->method_len = strlen(method);
	r->query = "";
	r->header = hdr;
	snprintf(r->remote, sizeof(r->remote), "%s", remote);
}

static const char *added(const struct hmw_req *r, const char *name)
{
	for (const char *p = r->add.p, *e = p + r->add.len; p && p < e;) {
		size_t a = strlen(p), b = strlen(p + a + 1);
		if (!strcmp(p, name))
			return p + a + 1;
		p += a + b + 2;
	}
	return NULL;
}

static void test_errors(void)
{
	char why[256];
	int bn, bo;
	ok(!mk("cors,zip", NULL, &bn, &bo, why) && bn == 1 && bo == -1 &&
	   strstr(why, "unknown middleware \"zip\""), "unknown name, its index");
	ok(!mk("sendfile", NULL, &bn, &bo, why) && bn == 0 && strstr(why, "not supported"),
	   "a name of the original not run here");
	struct hmw_chain *mc = mk("metrics", NULL, &bn, &bo, why);
	struct hmw_req mr = { .method = "GET", .method_len = 3 };
	ok(mc != NULL && hmw_run(mc, &mr) == 0 && mr.metrics == 1,
	   "metrics takes no options and marks the request for counting");
	hmw_chain_destroy(mc);
	ok(!mk("cors,token_auth", NULL, &bn, &bo, why) && bn == 1 && bo == -1 &&
	   strstr(why, "token_auth.store is required"), "token_auth without its store");
	const char *ns[] = { "token_auth.store", "tokens", NULL };
	ok(!mk("token_auth", ns, &bn, &bo, why) && bo == 0 && strstr(why, "like ns:name"),
	   "token_auth.store that is not an id, its option");
	const char *hn[] = { "token_auth.store", "a:t", "token_auth.header.name", "X:Y", NULL };
	ok(!mk("token_auth", hn, &bn, &bo, why) && bo == 1 && strstr(why, "header name"),
	   "a bad token_auth.header.name, its option");
	static const char *const bad[][2] = {
		{ "ratelimit.requests", "0" }, { "ratelimit.burst", "x" },
		{ "ratelimit.window", "0s" }, { "ratelimit.entry_ttl", "later" },
		{ "ratelimit.key", "header:" }, { "compress.level", "9" },
		{ "compress.min.length", "1e3" }, { "cors.allow.credentials", "1" },
		{ "cors.max.age", "-1" }, { "real_ip.trusted.subnets", "10.0.0.0" },
		{ "real_ip.trusted.subnets", "::1/129" }, { "real_ip.trust_all", "yes" },
	};
	for (size_t i = 0; i < countof(bad); i++) {
		const char *kv[] = { "other.option", "whatever", bad[i][0], bad[i][1], NULL };
		const char *mw = !strncmp(bad[i][0], "ratelimit", 9) ? "ratelimit" :
				 !strncmp(bad[i][0], "compress", 8) ? "compress" :
				 !strncmp(bad[i][0], "cors", 4) ? "cors" : "real_ip";
		ok(!mk(mw, kv, &bn, &bo, why) && bo == 1 && strstr(why, bad[i][0]),
		   "bad %s=%s: option 1 named", bad[i][0], bad[i][1]);
	}
	const char *legacy[] = { "allow_origins", "https://a.example", NULL };
	struct hmw_chain *c = mk("cors,compress,ratelimit,real_ip", legacy, &bn, &bo, why);
	ok(c != NULL, "all four with defaults and a legacy key");
	hmw_chain_destroy(c);
	ok(mk("", NULL, &bn, &bo, why) == NULL && bn == -1, "empty list: no chain, no error");
}

static void test_cors(void)
{
	char why[256];
	int bn, bo;
	const char *kv[] = { "cors.allow.origins", "https://a.example, *.b.example, localhost",
			     "cors.allow.credentials", "true", NULL };
	struct hmw_chain *c = mk("cors", kv, &bn, &bo, why);
	struct hmw_req r;
	hv[0] = "Origin: https://a.example";
	hv[1] = "Access-Control-Request-Method: PUT";
	hv[2] = NULL;
	req(&r, "OPTIONS", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 204 && !strcmp(added(&r, "Access-Control-Allow-Origin"), "https://a.example") &&
	   !strcmp(added(&r, "Access-Control-Allow-Credentials"), "true"), "preflight");
	hmw_hdrs_free(&r.add);
	hv[0] = "Origin: https://x.y.b.example";
	req(&r, "OPTIONS", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 204, "wildcard subdomain, nested");
	hmw_hdrs_free(&r.add);
	hv[0] = "Origin: http://localhost:5173";
	req(&r, "OPTIONS", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 204, "localhost with a port");
	hmw_hdrs_free(&r.add);
	hv[0] = "Origin: http://localhostile.example";
	req(&r, "OPTIONS", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 0 && r.add.len == 0, "not localhost");
	hv[0] = "Origin: https://b.example";
	req(&r, "OPTIONS", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 0 && r.add.len == 0, "*.b.example is not b.example");
	hv[0] = "Origin: https://a.example";
	hv[1] = NULL;
	req(&r, "OPTIONS", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 0 && added(&r, "Access-Control-Allow-Origin") &&
	   !added(&r, "Access-Control-Allow-Methods"), "OPTIONS without Request-Method: not a preflight");
	hmw_hdrs_free(&r.add);
	req(&r, "GET", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 0 && !strcmp(added(&r, "Vary"), "Origin"), "actual request");
	hmw_hdrs_free(&r.add);
	hv[0] = NULL;
	req(&r, "GET", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 0 && r.add.len == 0, "no Origin: nothing");
	hmw_chain_destroy(c);
}

static void test_ratelimit(void)
{
	char why[256];
	int bn, bo;
	const char *kv[] = { "ratelimit.requests", "10", "ratelimit.window", "1s",
			     "ratelimit.burst", "2", "ratelimit.max_entries", "2", NULL };
	struct hmw_chain *c = mk("ratelimit", kv, &bn, &bo, why);
	struct hmw_req r;
	hv[0] = NULL;
	int got[4];
	for (int i = 0; i < 3; i++) {
		req(&r, "GET", "9.9.9.9:1234");
		got[i] = hmw_run(c, &r);
		hmw_hdrs_free(&r.add);
	}
	ok(got[0] == 0 && got[1] == 0 && got[2] == 429, "burst 2, then 429");
	usleep(250000); /* 10/s: two tokens back */
	req(&r, "GET", "9.9.9.9:999");
	ok(hmw_run(c, &r) == 0, "refilled, the ip without its port is the key");
	req(&r, "GET", "8.8.8.8:1");
	ok(hmw_run(c, &r) == 0, "another ip");
	req(&r, "GET", "7.7.7.7:1");
	ok(hmw_run(c, &r) == 0 && c->steps[0].u.rl.count <= 2, "max_entries: the oldest evicted");
	hmw_chain_destroy(c);
	const char *kq[] = { "ratelimit.key", "query:k", "ratelimit.burst", "1", NULL };
	c = mk("ratelimit", kq, &bn, &bo, why);
	req(&r, "GET", "1.1.1.1:1");
	r.query = "a=1&k=x%20y";
	r.query_len = strlen(r.query);
	int a = hmw_run(c, &r);
	hmw_hdrs_free(&r.add);
	req(&r, "GET", "2.2.2.2:1");
	r.query = "k=x+y";
	r.query_len = strlen(r.query);
	int b = hmw_run(c, &r);
	ok(a == 0 && b == 429 && !strcmp(added(&r, "X-RateLimit-Window"), "1m"),
	   "query key, decoded, shared across ips");
	hmw_hdrs_free(&r.add);
	req(&r, "GET", "1.1.1.1:1");
	ok(hmw_run(c, &r) == 400, "no key: 400");
	hmw_chain_destroy(c);
}

static void test_realip(void)
{
	char why[256];
	int bn, bo;
	const char *kv[] = { "real_ip.trusted.subnets", "10.0.0.0/8, fd00::/8", NULL };
	struct hmw_chain *c = mk("real_ip", kv, &bn, &bo, why);
	struct hmw_req r;
	hv[0] = "X-Forwarded-For: 203.0.113.9 , 10.1.1.1";
	hv[1] = NULL;
	req(&r, "GET", "10.2.3.4:55");
	hmw_run(c, &r);
	ok(!strcmp(r.remote, "203.0.113.9"), "trusted peer: first X-Forwarded-For");
	req(&r, "GET", "11.2.3.4:55");
	hmw_run(c, &r);
	ok(!strcmp(r.remote, "11.2.3.4:55"), "untrusted peer: unchanged");
	hv[0] = "True-Client-IP: 2001:db8::1";
	hv[1] = "X-Real-IP: 198.51.100.1";
	hv[2] = NULL;
	req(&r, "GET", "10.0.0.1:1");
	hmw_run(c, &r);
	ok(!strcmp(r.remote, "2001:db8::1"), "True-Client-IP first, IPv6 accepted");
	hv[0] = "X-Real-IP: 300.1.1.1";
	hv[1] = NULL;
	req(&r, "GET", "10.0.0.1:1");
	hmw_run(c, &r);
	ok(!strcmp(r.remote, "10.0.0.1:1"), "an invalid address is ignored");
	hmw_chain_destroy(c);
	const char *all[] = { "real_ip.trust_all", "true", NULL };
	c = mk("real_ip", all, &bn, &bo, why);
	hv[0] = "X-Real-IP: 198.51.100.1";
	req(&r, "GET", "8.8.8.8:1");
	hmw_run(c, &r);
	ok(!strcmp(r.remote, "198.51.100.1"), "trust_all");
	hmw_chain_destroy(c);
}

static void test_token_auth(void)
{
	char why[256], big[700];
	int bn, bo;
	const char *kv[] = { "token_auth.store", "app:tokens", NULL };
	struct hmw_chain *c = mk("token_auth", kv, &bn, &bo, why);
	struct hmw_req r;

	ok(c != NULL, "token_auth with a store compiles (%s)", c ? "" : why);
	hv[0] = "Authorization: Bearer abc.def=";
	hv[1] = "Cookie: x-auth-token=fromcookie";
	hv[2] = NULL;
	req(&r, "GET", "1.2.3.4:5");
	ok(hmw_run(c, &r) == 0, "token_auth never answers");
	ok(!strcmp(r.token, "abc.def=") && r.token_len == 8, "the Bearer header first");
	ok(!strcmp(r.token_store, "app:tokens"), "the store id");
	hv[0] = "Authorization: Basic xyz";
	req(&r, "GET", "1.2.3.4:5");
	r.query = "a=1&x-auth-token=q%3D%3D&b=2";
	r.query_len = strlen(r.query);
	hmw_run(c, &r);
	ok(!strcmp(r.token, "q=="), "no Bearer prefix: the query parameter, decoded");
	r.query = "x-auth-tokenx=1";
	r.query_len = strlen(r.query);
	hmw_run(c, &r);
	ok(!strcmp(r.token, "fromcookie"), "then the cookie");
	hv[1] = "Cookie: a=b;  x-auth-token=c2";
	req(&r, "GET", "1.2.3.4:5");
	hmw_run(c, &r);
	ok(!strcmp(r.token, "c2"), "a cookie after others");
	hv[1] = NULL;
	req(&r, "GET", "1.2.3.4:5");
	hmw_run(c, &r);
	ok(r.token_len == 0 && r.token[0] == '\0', "none at all");
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "Authorization: Bearer ", 22);
	big[sizeof(big) - 1] = '\0';
	hv[0] = big;
	req(&r, "GET", "1.2.3.4:5");
	hmw_run(c, &r);
	ok(r.token_len == 0, "a token longer than the buffer is none");
	hmw_chain_destroy(c);
	const char *cu[] = { "token_auth.store", "app:t", "token_auth.header.name", "X-Key",
		"token_auth.header.prefix", "", "cookie_name", "sid", NULL };
	c = mk("token_auth", cu, &bn, &bo, why);
	hv[0] = "X-Key: raw";
	hv[1] = NULL;
	req(&r, "GET", "1.2.3.4:5");
	hmw_run(c, &r);
	ok(r.token_len == 0, "an empty prefix is the default one, as in the original");
	hv[0] = "X-Key: Bearer raw";
	req(&r, "GET", "1.2.3.4:5");
	hmw_run(c, &r);
	ok(!strcmp(r.token, "raw"), "a custom header");
	hv[0] = "Cookie: sid=s1";
	req(&r, "GET", "1.2.3.4:5");
	hmw_run(c, &r);
	ok(!strcmp(r.token, "s1"), "the legacy cookie_name key");
	hmw_chain_destroy(c);
	hv[0] = NULL;
}

/* endpoint_firewall / resource_firewall record their checks in list
** order (defaults, legacy keys); bad options name their option; a
** router's middleware and post_middleware chain as one. */
static void test_firewall(void)
{
	char why[256];
	int bn, bo;
	struct hmw_req r;
	const char *kv[] = { "resource_firewall.target", "app:reports", "resource_action", "read",
		"endpoint_action", "look", NULL };
	struct hmw_chain *c = mk("resource_firewall,endpoint_firewall", kv, &bn, &bo, why);

	ok(c != NULL, "both firewalls compile (%s)", c ? "" : why);
	req(&r, "GET", "1.2.3.4:5");
	ok(hmw_run(c, &r) == 0, "a firewall never answers in the chain");
	ok(r.nfw == 2 && !strcmp(r.fw[0].action, "read") &&
	   !strcmp(r.fw[0].resource, "app:reports"), "resource_firewall: legacy action, target");
	ok(!strcmp(r.fw[1].action, "look") && r.fw[1].resource == NULL,
	   "endpoint_firewall: legacy action, the endpoint as resource");
	hmw_chain_destroy(c);
	const char *dot[] = { "endpoint_firewall.action", "go", "endpoint_action", "look", NULL };
	c = mk("endpoint_firewall", dot, &bn, &bo, why);
	req(&r, "GET", "1.2.3.4:5");
	hmw_run(c, &r);
	ok(r.nfw == 1 && !strcmp(r.fw[0].action, "go"), "the dot key before the legacy one");
	hmw_chain_destroy(c);
	c = mk("endpoint_firewall", NULL, &bn, &bo, why);
	req(&r, "GET", "1.2.3.4:5");
	hmw_run(c, &r);
	ok(r.nfw == 1 && !strcmp(r.fw[0].action, "access"), "default action: access");
	hmw_chain_destroy(c);
	ok(!mk("resource_firewall", NULL, &bn, &bo, why) && bn == 0 && bo == -1 &&
	   strstr(why, "resource_firewall.target is required"), "resource_firewall needs a target");
	const char *blank[] = { "endpoint_firewall.action", "a\tb", NULL };
	ok(!mk("endpoint_firewall", blank, &bn, &bo, why) && bo == 0 &&
	   strstr(why, "no blanks"), "an action with a blank, its option");
	ok(!mk("endpoint_firewall,endpoint_firewall,endpoint_firewall,endpoint_firewall,"
	       "endpoint_firewall", NULL, &bn, &bo, why) && bn == 4 && strstr(why, "at most 4"),
	   "five firewalls: the fifth named");
	/* concat: token_auth then the post list's firewall, one chain */
	const char *ta[] = { "token_auth.store", "app:t", "ratelimit.requests", "1",
		"ratelimit.burst", "1", NULL };
	struct hmw_chain *pre = mk("token_auth,ratelimit", ta, &bn, &bo, why);
	struct hmw_chain *post = mk("endpoint_firewall", NULL, &bn, &bo, why);
	c = hmw_chain_concat(pre, post);
	hv[0] = "Authorization: Bearer tk";
	hv[1] = NULL;
	req(&r, "GET", "1.2.3.4:5");
	ok(hmw_run(c, &r) == 0 && !strcmp(r.token, "tk") && r.nfw == 1,
	   "concat: the first chain's steps, then the second's");
	req(&r, "GET", "1.2.3.4:5");
	ok(hmw_run(c, &r) == 429, "the moved rate limiter still counts (and locks)");
	hmw_hdrs_free(&r.add);
	hv[0] = NULL;
	hmw_chain_destroy(c);
	ok(hmw_chain_concat(NULL, NULL) == NULL, "concat of nothing");
	c = mk("endpoint_firewall", NULL, &bn, &bo, why);
	ok(hmw_chain_concat(c, NULL) == c && hmw_chain_concat(NULL, c) == c, "concat with one");
	hmw_chain_destroy(c);
}

static void test_compress(void)
{
	char why[256], *z;
	int bn, bo;
	size_t zl;
	const char *kv[] = { "compress.level", "best", "compress.min.length", "10", NULL };
	struct hmw_chain *c = mk("compress", kv, &bn, &bo, why);
	struct hmw_req r;
	char body[3000];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = "abcab"[i % 5];
	req(&r, "GET", "1.1.1.1:1");
	hv[0] = NULL;
	hmw_run(c, &r);
	ok(r.compress && r.level == Z_BEST_COMPRESSION && r.min_length == 10, "compress marked");
	const char *ae = "br, gzip;q=0.5";
	ok(hmw_compress(&r, 200, ae, strlen(ae), "text/plain", 10, 0, body, sizeof(body), &z, &zl) == 1 &&
	   zl < 200, "gzip");
	char back[4000];
	z_stream s;
	memset(&s, 0, sizeof(s));
	inflateInit2(&s, 15 + 16);
	s.next_in = (Bytef *)z;
	s.avail_in = (uInt)zl;
	s.next_out = (Bytef *)back;
	s.avail_out = sizeof(back);
	ok(inflate(&s, Z_FINISH) == Z_STREAM_END && s.total_out == sizeof(body) &&
	   !memcmp(back, body, sizeof(body)), "inflates back to the body");
	inflateEnd(&s);
	free(z);
	ok(!hmw_compress(&r, 200, "gzip;q=0", 8, NULL, 0, 0, body, sizeof(body), &z, &zl), "q=0");
	ok(!hmw_compress(&r, 200, NULL, 0, NULL, 0, 0, body, sizeof(body), &z, &zl), "no Accept-Encoding");
	ok(!hmw_compress(&r, 200, "gzip", 4, NULL, 0, 0, body, 5, &z, &zl), "under min.length");
	ok(!hmw_compress(&r, 200, "gzip", 4, "image/png", 9, 0, body, sizeof(body), &z, &zl), "png");
	ok(hmw_compress(&r, 200, "*", 1, "image/svg+xml", 13, 0, body, sizeof(body), &z, &zl), "svg, *");
	free(z);
	ok(!hmw_compress(&r, 200, "gzip", 4, NULL, 0, 1, body, sizeof(body), &z, &zl), "already encoded");
	ok(!hmw_compress(&r, 304, "gzip", 4, NULL, 0, 0, body, sizeof(body), &z, &zl), "304");
	hmw_chain_destroy(c);
}

int main(void)
{
	test_errors();
	test_cors();
	test_ratelimit();
	test_realip();
	test_token_auth();
	test_firewall();
	test_compress();
	return tap_done();
}
