/*
** bench/hclient_floor.c: the two floors runtime/hclient.c chose between,
** for bench/http_client.sh: what one client thread pays per keep-alive GET
** with nothing of the runtime (no Lua, no processes, no ring) on top.
**
**   hclient_floor HOST PORT PATH CONNS SECONDS   (no arguments: exit 77)
**
** Two runs, one after the other, against the same server, each with CONNS
** keep-alive connections and one request in flight on each for SECONDS:
**   curl  libcurl's multi-socket API driving CONNS easy handles, as
**         hclient.c does (socket and timer callbacks, curl_multi_socket_
**         action on readiness), with epoll in place of the shard's ring; a
**         finished handle is removed and added back, which reuses its
**         connection from the multi's pool, as a new transfer would.
**   raw   an HTTP/1.1 client on non-blocking sockets and epoll: writes a
**         fixed GET, reads the status line, the head and a Content-Length
**         body, and sends the next request. No chunked bodies, redirects,
**         TLS or resolver: the least an http1 client must do.
** Prints, per run: "floor MODE CONNS SECONDS REQUESTS REQ_PER_S CPU_US_PER_REQ"
** with the CPU (user + system) of this process from getrusage over the
** run. A non-2xx answer or a broken connection is an error (exit 1).
*/
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void report(const char *mode, int conns, double secs, unsigned long n, double cpu)
{
	printf("floor %s %d %.0f %lu %.0f %.2f\n", mode, conns, secs, n, (double)n / secs,
	       n ? cpu * 1e6 / (double)n : 0);
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "hclient_floor: %s\n", what);
	exit(1);
}

/* {==== curl: the multi-socket API over epoll ====} */

static int ep;
static double curl_due = -1; /* when curl's timer expires (now_s), or -1 */

static int on_socket(CURL *e, curl_socket_t fd, int what, void *u, void *sp)
{
	(void)e;
	(void)u;
	struct epoll_event ev = { .data.fd = fd };
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	/* curl says nothing of whether it told us of fd before: sp, the
	** socket's pointer, marks those it did (any non-NULL value). */
	if (sp == NULL) {
		curl_multi_assign(u, fd, (void *)1);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST)
			epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	} else {
		epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	}
	return 0;
}

static int on_timer(CURLM *m, long ms, void *u)
{
	(void)m;
	(void)u;
	curl_due = ms < 0 ? -1 : now_s() + (double)ms / 1e3;
	return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	*(size_t *)u += sz * n;
	return sz * n;
}

static unsigned long run_curl(const char *url, int conns, double secs)
{
	CURLM *m = curl_multi_init();
	CURL **easy = calloc((size_t)conns, sizeof(*easy));
	size_t bytes = 0;
	unsigned long done = 0, connects = 0;
	int running = 0;
	double end;

	ep = epoll_create1(EPOLL_CLOEXEC);
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conns);
	for (int i = 0; i < conns; i++) {
		easy[i] = curl_easy_init();
		curl_easy_setopt(easy[i], CURLOPT_URL, url);
		curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &bytes);
		curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
		curl_multi_add_handle(m, easy[i]);
	}
	end = now_s() + secs;
	curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
	while (now_s() < end) {
		struct epoll_event evs[64];
		double wait = curl_due < 0 ? 0.1 : curl_due - now_s();
		int n = epoll_wait(ep, evs, 64, wait <= 0 ? 0 : (int)(wait * 1e3) + 1);
		for (int i = 0; i < n; i++)
			curl_multi_socket_action(m, evs[i].data.fd,
				(evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
				(evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
				(evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0),
				&running);
		/* As hclient.c's wheel timer: curl's timeout, once due (a
		** handle just added starts from it). */
		if (curl_due >= 0 && now_s() >= curl_due) {
			curl_due = -1;
			curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			long code = 0;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			if (msg->data.result != CURLE_OK || code / 100 != 2) {
				fprintf(stderr, "hclient_floor: curl: %s, status %ld\n",
					curl_easy_strerror(msg->data.result), code);
				exit(1);
			}
			long nc = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &nc);
			connects += (unsigned long)nc;
			done++;
			CURL *e = msg->easy_handle;
			curl_multi_remove_handle(m, e);
			curl_multi_add_handle(m, e);
		}
	}
	for (int i = 0; i < conns; i++) {
		curl_multi_remove_handle(m, easy[i]);
		curl_easy_cleanup(easy[i]);
	}
	curl_multi_cleanup(m);
	close(ep);
	free(easy);
	/* Keep-alive, as the raw client: one connection per handle. */
	if (connects > (unsigned long)conns)
		fprintf(stderr, "hclient_floor: curl opened %lu connections for %d handles\n",
			connects, conns);
	return done;
}

/* }==== */

/* {==== raw: HTTP/1.1 on sockets and epoll ====} */

struct conn {
	int fd;
	size_t len;          /* bytes in buf */
	size_t need;         /* head + body length once the head is read, else 0 */
	char buf[16384];
};

/* The whole response's length once buf holds its head: the head's length
** plus Content-Length. 0: the head is not complete yet; -1: not a 2xx
** with a Content-Length (this client reads nothing else). */
static long response_len(const char *b, size_t len)
{
	const char *end = memmem(b, len, "\r\n\r\n", 4), *p;
	long cl = -1;
	if (end == NULL)
		return len > 8192 ? -1 : 0;
	if (len < 12 || memcmp(b, "HTTP/1.", 7) != 0 || b[9] != '2')
		return -1;
	for (p = memchr(b, '\n', (size_t)(end - b)); p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
		p++;
		if ((size_t)(end - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
			cl = strtol(p + 15, NULL, 10);
	}
	return cl < 0 ? -1 : (long)(end + 4 - b) + cl;
}

static unsigned long run_raw(const char *host, const char *port, const char *path,
			     int conns, double secs)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	struct conn *c = calloc((size_t)conns, sizeof(*c));
	char req[1024];
	int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: */*\r\n\r\n",
			  path, host, port);
	unsigned long done = 0;
	double end;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		die("cannot resolve the host");
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < conns; i++) {
		int one = 1;
		c[i].fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c[i].fd < 0 || connect(c[i].fd, ai->ai_addr, ai->ai_addrlen) < 0)
			die("cannot connect");
		setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
	}
	freeaddrinfo(ai);
	end = now_s() + secs;
	/* A request is a few dozen bytes on an idle connection: the socket
	** buffer always takes it whole, so writes are not watched. */
	for (int i = 0; i < conns; i++)
		if (write(c[i].fd, req, (size_t)rl) != rl)
			die("write");
	while (now_s() < end) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 100);
		for (int k = 0; k < n; k++) {
			struct conn *x = &c[evs[k].data.u32];
			ssize_t r = read(x->fd, x->buf + x->len, sizeof(x->buf) - x->len);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0)
				die("the server closed a connection");
			x->len += (size_t)r;
			if (x->need == 0) {
				long need = response_len(x->buf, x->len);
				if (need < 0 || (size_t)need > sizeof(x->buf))
					die("raw: not a 2xx with a Content-Length that fits");
				x->need = (size_t)need;
			}
			if (x->need == 0 || x->len < x->need)
				continue;
			if (x->len > x->need)
				die("raw: bytes past the response (nothing was pipelined)");
			done++;
			x->len = x->need = 0;
			if (write(x->fd, req, (size_t)rl) != rl)
				die("write");
		}
	}
	for (int i = 0; i < conns; i++)
		close(c[i].fd);
	close(ep);
	free(c);
	return done;
}

/* }==== */

int main(int argc, char **argv)
{
	char url[1024];
	if (argc != 6)
		return 77;
	int conns = atoi(argv[4]);
	double secs = atof(argv[5]);
	if (conns < 1 || conns > 4096 || !(secs > 0))
		die("CONNS 1..4096 and SECONDS > 0");
	snprintf(url, sizeof(url), "http://%s:%s%s", argv[1], argv[2], argv[3]);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	double c0 = cpu_s();
	unsigned long n = run_curl(url, conns, secs);
	report("curl", conns, secs, n, cpu_s() - c0);

	c0 = cpu_s();
	n = run_raw(argv[1], argv[2], argv[3], conns, secs);
	report("raw", conns, secs, n, cpu_s() - c0);
	curl_global_cleanup();
	return 0;
}
