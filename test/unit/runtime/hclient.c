/*
** test/unit/runtime/hclient.c: the pure helpers of the HTTP client driver:
** query escaping as Go's url.QueryEscape/QueryUnescape, the query merge of
** hclient_set_url (Go's url.Values.Encode order), URL hosts and the
** private-address test of the guard. Transfers themselves run on shards
** and are tested end to end (test/integration/http_client.sh).
*/
#include "runtime/hclient.c"

#include "tap.h"

static void test_escape(void)
{
	size_t n;
	char *e = hclient_escape("a b&c/d~é", 10, &n);
	ok(strcmp(e, "a+b%26c%2Fd~%C3%A9") == 0 && n == strlen(e), "escape: %s", e);
	free(e);
	e = hclient_escape("", 0, &n);
	ok(e[0] == '\0' && n == 0, "escape of nothing");
	free(e);

	char out[32];
	long r = hclient_unescape("a+b%26%c3%A9", 12, out);
	ok(r == 6 && memcmp(out, "a b&\xc3\xa9", 6) == 0, "unescape (%ld)", r);
	ok(hclient_unescape("%", 1, out) == -1, "unescape: lone %%");
	ok(hclient_unescape("%4", 2, out) == -1, "unescape: one digit");
	ok(hclient_unescape("%zz", 3, out) == -1, "unescape: not hex");
	ok(hclient_unescape("ab%41", 5, out) == 3 && memcmp(out, "abA", 3) == 0, "unescape at the end");
}

static void test_merge(void)
{
	const char *q[] = { "a", "x y", "c", "3" };
	char *m = merge_query("b=2&a=1&a=0", q, 2);
	ok(strcmp(m, "a=x+y&b=2&c=3") == 0, "merge replaces a name, sorts: %s", m);
	free(m);
	m = merge_query(NULL, q, 2);
	ok(strcmp(m, "a=x+y&c=3") == 0, "merge into no query: %s", m);
	free(m);
	m = merge_query("z=1&z=0&flag&bad=%zz&&", q + 2, 1);
	ok(strcmp(m, "c=3&flag=&z=1&z=0") == 0,
	   "merge keeps the order of one name's values, drops what cannot be decoded: %s", m);
	free(m);
	m = merge_query("k=%2F%20", NULL, 0);
	ok(strcmp(m, "k=%2F+") == 0, "merge re-encodes: %s", m);
	free(m);
}

static void test_host(void)
{
	char h[64];
	ok(hclient_url_host("http://127.0.0.1:8080/x", h, sizeof(h)) == 0 &&
	   strcmp(h, "127.0.0.1") == 0, "host of an IPv4 URL");
	ok(hclient_url_host("https://[::1]:443/", h, sizeof(h)) == 0 && strcmp(h, "::1") == 0,
	   "host of an IPv6 URL, without brackets: %s", h);
	ok(hclient_url_host("http://Example.COM/", h, sizeof(h)) == 0, "host of a name");
	ok(hclient_url_host("not a url", h, sizeof(h)) == -1, "no host");
	ok(hclient_url_host("http://averyveryverylonghostname.example/", h, 8) == -1,
	   "a host longer than the buffer");
}

static void test_private(void)
{
	static const char *yes[] = { "127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1",
		"172.31.255.255", "192.168.1.1", "169.254.1.1", "0.0.0.0", "224.0.0.251",
		"::1", "::", "fc00::1", "fd12::3", "fe80::1", "ff02::1", "::ffff:10.0.0.1",
		"localhost" };
	static const char *no[] = { "8.8.8.8", "172.32.0.1", "172.15.0.1", "192.169.0.1",
		"224.0.1.1", "2001:db8::1", "::ffff:8.8.8.8", "example.com", "" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ok(hclient_ip_private(yes[i]), "%s is private", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok(!hclient_ip_private(no[i]), "%s is not", no[i]);
}

int main(void)
{
	test_escape();
	test_merge();
	test_host();
	test_private();
	return tap_done();
}
