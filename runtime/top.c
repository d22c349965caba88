/*
** runtime/top.c: `wippy top URL`, a terminal view of a running runtime.
**
** It reads the same figures Prometheus does: a GET of an http.service's
** `metrics:` path (runtime/rstats.h) once an interval, asking for the
** busiest processes with `?top=N`, and shows per-shard rates (from two
** consecutive scrapes) and the processes that ran the most steps since
** the last frame. A separate process that only reads the endpoint: the
** runtime it watches pays one scrape a second, and nothing is attached to
** it. Plain ANSI (clear and home) when stdout is a terminal, frames one
** after another otherwise; `-n N` stops after N frames (scripts, tests).
**
** The fetch is a blocking HTTP/1.0 GET on a socket of its own: this is a
** command-line tool with nothing else to do meanwhile, not a shard.
*/
#include "top.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/common.h"

#define TOP_ROWS 10

static const struct { const char *name; int field; } wanted[] = {
	{ "wippy_processes_spawned_total", F_SPAWNED },
	{ "wippy_processes_exited_total", F_EXITED },
	{ "wippy_messages_sent_total", F_SENT },
	{ "wippy_shard_tasks_run_total", F_TASKS },
	{ "wippy_shard_posts_total", F_POSTS },
	{ "wippy_shard_sleeps_total", F_SLEEPS },
	{ "wippy_server_http_responses_total", F_HTTP },
	{ "wippy_shard_run_queue", F_RUNQ },
	{ "wippy_timers_pending", F_TIMERS },
	{ "wippy_lua_gc_steps_total", F_GC },
};

static volatile sig_atomic_t stop;

static void on_sigint(int sig)
{
	(void)sig;
	stop = 1;
}

/* http://HOST[:PORT][/PATH]; the port defaults to 80 and the path to
** /metrics. Returns 0, or -1 with a message in why. */
int top_parse_url(const char *s, struct top_url *u, char *why, size_t cap)
{
	const char *h, *colon, *slash;
	size_t hl;

	if (strncmp(s, "http://", 7) != 0) {
		snprintf(why, cap, "URL must start with http:// (got \"%s\")", s);
		return -1;
	}
	h = s + 7;
	slash = strchr(h, '/');
	colon = memchr(h, ':', slash ? (size_t)(slash - h) : strlen(h));
	hl = colon ? (size_t)(colon - h) : slash ? (size_t)(slash - h) : strlen(h);
	if (hl == 0 || hl >= sizeof(u->host)) {
		snprintf(why, cap, "no host in \"%s\"", s);
		return -1;
	}
	memcpy(u->host, h, hl);
	u->host[hl] = '\0';
	if (colon) {
		size_t pl = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
		if (pl == 0 || pl >= sizeof(u->port) || strspn(colon + 1, "0123456789") < pl) {
			snprintf(why, cap, "bad port in \"%s\"", s);
			return -1;
		}
		memcpy(u->port, colon + 1, pl);
		u->port[pl] = '\0';
	} else {
		strcpy(u->port, "80");
	}
	snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "/metrics");
	return 0;
}

/* GET the scrape with ?top=N into a malloc'd body. Returns it, or NULL
** with a message in why. */
static char *fetch(const struct top_url *u, char *why, size_t cap)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	char req[1024], *buf = NULL, *body;
	size_t len = 0, bcap = 0;
	int fd = -1, rc;

	if ((rc = getaddrinfo(u->host, u->port, &hints, &ai)) != 0) {
		snprintf(why, cap, "%s: %s", u->host, gai_strerror(rc));
		return NULL;
	}
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(why, cap, "cannot connect to %s:%s: %s", u->host, u->port, strerror(errno));
		return NULL;
	}
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int n = snprintf(req, sizeof(req), "GET %s%stop=%d HTTP/1.0\r\nHost: %s:%s\r\n\r\n",
			 u->path, strchr(u->path, '?') ? "&" : "?", TOP_PROCS, u->host, u->port);
	if (write(fd, req, (size_t)n) != n) {
		snprintf(why, cap, "%s:%s: cannot send the request", u->host, u->port);
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t r;
		if (len + 65536 + 1 > bcap) {
			bcap = bcap ? bcap * 2 : 131072;
			buf = xrealloc(buf, bcap);
		}
		r = read(fd, buf + len, bcap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (buf == NULL) {
		snprintf(why, cap, "%s:%s: no answer", u->host, u->port);
		return NULL;
	}
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) != 0 || len < 12 || strncmp(buf + 9, "200", 3) != 0) {
		char *eol = strpbrk(buf, "\r\n");
		if (eol)
			*eol = '\0';
		snprintf(why, cap, "http://%.64s:%s%.128s answered \"%.80s\" (is it a "
			 "service's `metrics:` path?)", u->host, u->port, u->path, buf);
		free(buf);
		return NULL;
	}
	body = strstr(buf, "\r\n\r\n");
	if (body == NULL) {
		free(buf);
		snprintf(why, cap, "%s:%s: a truncated answer", u->host, u->port);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

/* The value of label `key` in the label text of a sample, into out. */
static int label(const char *labels, size_t ll, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	for (const char *p = labels, *end = labels + ll; p < end; p++) {
		if ((p == labels || p[-1] == ',' ) && (size_t)(end - p) > kl + 1 &&
		    memcmp(p, key, kl) == 0 && p[kl] == '=' && p[kl + 1] == '"') {
			size_t o = 0;
			for (p += kl + 2; p < end && *p != '"' && o + 1 < cap; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				out[o++] = *p;
			}
			out[o] = '\0';
			return 1;
		}
	}
	return 0;
}

/* The '}' that closes the labels starting at p: quoted values may hold
** braces (pids do). NULL when there is none before end. */
static const char *labels_end(const char *p, const char *end)
{
	int q = 0;
	for (; p < end; p++) {
		if (q && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '"')
			q = !q;
		else if (!q && *p == '}')
			return p;
	}
	return NULL;
}

static struct top_proc *proc_slot(struct top_sample *s, const char *pid, const char *entry)
{
	for (int i = 0; i < s->nprocs; i++)
		if (!strcmp(s->procs[i].pid, pid))
			return &s->procs[i];
	if (s->nprocs == TOP_PROCS)
		return NULL;
	struct top_proc *p = &s->procs[s->nprocs++];
	memset(p, 0, sizeof(*p));
	snprintf(p->pid, sizeof(p->pid), "%.95s", pid);
	snprintf(p->entry, sizeof(p->entry), "%s", entry);
	return p;
}

/* Read the lines of a scrape that a frame shows. */
void top_parse(const char *text, struct top_sample *s)
{
	memset(s, 0, sizeof(*s));
	for (const char *line = text; *line;) {
		const char *eol = strchr(line, '\n'), *end = eol ? eol : line + strlen(line);
		const char *brace = memchr(line, '{', (size_t)(end - line));
		const char *sp = memchr(line, ' ', (size_t)(end - line));
		if (*line != '#' && sp) {
			size_t nl = (size_t)((brace && brace < sp ? brace : sp) - line);
			const char *labels = "", *close = NULL;
			size_t ll = 0;
			if (brace && brace < sp && (close = labels_end(brace + 1, end)) != NULL) {
				labels = brace + 1;
				ll = (size_t)(close - labels);
				sp = memchr(close, ' ', (size_t)(end - close));
			}
			double v = sp ? strtod(sp + 1, NULL) : 0;
			char a[128], b[128];
			if (nl == strlen("wippy_processes_alive") &&
			    !memcmp(line, "wippy_processes_alive", nl))
				s->alive = v;
			else if (nl == strlen("wippy_lua_heap_bytes") &&
				 !memcmp(line, "wippy_lua_heap_bytes", nl))
				s->heap = v;
			else if ((nl == strlen("wippy_process_steps_total") &&
				  !memcmp(line, "wippy_process_steps_total", nl)) ||
				 (nl == strlen("wippy_process_heap_bytes") &&
				  !memcmp(line, "wippy_process_heap_bytes", nl))) {
				struct top_proc *p;
				if (label(labels, ll, "pid", a, sizeof(a)) &&
				    label(labels, ll, "entry", b, sizeof(b)) &&
				    (p = proc_slot(s, a, b)) != NULL) {
					if (line[14] == 's')
						p->steps = v;
					else
						p->heap = v;
				}
			} else if (label(labels, ll, "shard", a, sizeof(a))) {
				int sh = atoi(a);
				for (size_t k = 0; k < sizeof(wanted) / sizeof(wanted[0]); k++)
					if (nl == strlen(wanted[k].name) &&
					    !memcmp(line, wanted[k].name, nl) &&
					    sh >= 0 && sh < TOP_SHARDS) {
						s->shard[sh][wanted[k].field] += v;
						if (wanted[k].field == F_GC)
							s->gc_counted = 1;
						if (sh + 1 > s->nshards)
							s->nshards = sh + 1;
					}
			}
		}
		line = eol ? eol + 1 : end;
	}
}

static double rate(const struct top_sample *a, const struct top_sample *b, int sh, int f)
{
	double dt = b->t - a->t;
	double d = b->shard[sh][f] - a->shard[sh][f];
	return dt > 0 && d > 0 ? d / dt : 0;
}

/* One frame, from the previous sample a (NULL on the first) and b. */
void top_render(FILE *f, const char *url, const struct top_sample *a,
		const struct top_sample *b, int tty)
{
	char when[32];
	time_t now = time(NULL);
	strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
	if (tty)
		fputs("\033[H\033[2J", f);
	fprintf(f, "wippy top  %s  %s\n", url, when);
	fprintf(f, "processes alive %.0f   Lua heap %.1f MB   shards %d\n\n",
		b->alive, b->heap / 1048576.0, b->nshards);
	/* GC/s: the Lua collector's steps (wippy_lua_gc_steps_total), "-"
	** from a runtime that does not count them. */
	fprintf(f, "%5s %6s %9s %9s %9s %8s %8s %9s %8s %7s %8s\n", "SHARD", "RUNQ",
		"TASKS/s", "SENT/s", "POSTS/s", "SPAWN/s", "EXIT/s", "SLEEPS/s", "HTTP/s",
		"TIMERS", "GC/s");
	for (int i = 0; i < b->nshards; i++) {
		char gc[32] = "-";
		if (a != NULL && b->gc_counted)
			snprintf(gc, sizeof(gc), "%.0f", rate(a, b, i, F_GC));
		if (a == NULL)
			fprintf(f, "%5d %6.0f %9s %9s %9s %8s %8s %9s %8s %7.0f %8s\n", i,
				b->shard[i][F_RUNQ], "-", "-", "-", "-", "-", "-", "-",
				b->shard[i][F_TIMERS], gc);
		else
			fprintf(f, "%5d %6.0f %9.0f %9.0f %9.0f %8.0f %8.0f %9.0f %8.0f %7.0f %8s\n", i,
				b->shard[i][F_RUNQ], rate(a, b, i, F_TASKS), rate(a, b, i, F_SENT),
				rate(a, b, i, F_POSTS), rate(a, b, i, F_SPAWNED),
				rate(a, b, i, F_EXITED), rate(a, b, i, F_SLEEPS),
				rate(a, b, i, F_HTTP), b->shard[i][F_TIMERS], gc);
	}
	/* The busiest processes: steps since the last frame, for those in
	** both; on the first frame, their totals. */
	struct { const struct top_proc *p; double r; } rows[TOP_PROCS];
	int n = 0;
	for (int i = 0; i < b->nprocs; i++) {
		double r = b->procs[i].steps;
		if (a) {
			r = 0;
			for (int j = 0; j < a->nprocs; j++)
				if (!strcmp(a->procs[j].pid, b->procs[i].pid)) {
					r = (b->procs[i].steps - a->procs[j].steps) / (b->t - a->t);
					break;
				}
		}
		int k = n++;
		for (; k > 0 && rows[k - 1].r < r; k--)
			rows[k] = rows[k - 1];
		rows[k].p = &b->procs[i];
		rows[k].r = r;
	}
	fprintf(f, "\n%-28s %-28s %10s %10s\n", "PID", "ENTRY", a ? "STEPS/s" : "STEPS",
		"HEAP KB");
	for (int i = 0; i < n && i < TOP_ROWS; i++)
		fprintf(f, "%-28s %-28s %10.0f %10.1f\n", rows[i].p->pid, rows[i].p->entry,
			rows[i].r, rows[i].p->heap / 1024.0);
	fflush(f);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int top_main(int argc, char **argv)
{
	const char *url = NULL;
	long frames = -1;
	double interval = 1.0;
	struct top_url u;
	char why[512];
	struct top_sample *s[2];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			frames = strtol(argv[++i], NULL, 10);
			if (frames <= 0) {
				fprintf(stderr, "wippy top: -n takes a count of frames >= 1\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			interval = strtod(argv[++i], NULL);
			if (!(interval >= 0.1 && interval <= 3600)) {
				fprintf(stderr, "wippy top: --interval takes seconds, 0.1 to 3600\n");
				return 2;
			}
		} else if (argv[i][0] != '-' && url == NULL) {
			url = argv[i];
		} else {
			fprintf(stderr, "usage: wippy top URL [-n FRAMES] [--interval SECONDS]\n"
				"  URL: an http.service's metrics: path, e.g. "
				"http://127.0.0.1:8080/metrics\n");
			return 2;
		}
	}
	if (url == NULL) {
		fprintf(stderr, "usage: wippy top URL [-n FRAMES] [--interval SECONDS]\n");
		return 2;
	}
	if (top_parse_url(url, &u, why, sizeof(why)) < 0) {
		fprintf(stderr, "wippy top: %s\n", why);
		return 2;
	}
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	signal(SIGPIPE, SIG_IGN);
	s[0] = xcalloc(1, sizeof(*s[0]));
	s[1] = xcalloc(1, sizeof(*s[1]));
	int tty = isatty(STDOUT_FILENO), have = 0, rc = 0;
	for (long k = 0; !stop && (frames < 0 || k < frames); k++) {
		char *text = fetch(&u, why, sizeof(why));
		if (text == NULL) {
			fprintf(stderr, "wippy top: %s\n", why);
			rc = 1;
			break;
		}
		struct top_sample *cur = s[k & 1], *prev = s[(k + 1) & 1];
		top_parse(text, cur);
		cur->t = mono();
		free(text);
		top_render(stdout, url, have ? prev : NULL, cur, tty);
		have = 1;
		if (frames >= 0 && k + 1 >= frames)
			break;
		struct timespec ts = { (time_t)interval,
				       (long)((interval - floor(interval)) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop)
			;
	}
	free(s[0]);
	free(s[1]);
	return rc;
}
