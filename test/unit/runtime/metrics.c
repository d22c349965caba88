/*
** test/unit/runtime/metrics.c: the metrics store. Four threads update the
** same counter, gauge and histogram series at once (and each makes
** series of its own meanwhile): the totals are exact. Also: label
** sorting and deduplication, name sanitising, type clashes, the caps
** with their drop count, bad updates, and the text a scrape writes, read
** back while the threads run. Prints the cost of one update, alone and
** with four threads, as a TAP comment.
*/
#include "runtime/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "tap.h"

#define NTHREADS 4
#define NUPDATES 20000

static struct metrics *M;
static atomic_int stop_scraping;

#define L(k, v) { k, v, sizeof(k) - 1, sizeof(v) - 1 }

static char *scrape(struct metrics *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	metrics_write(m, f);
	fclose(f);
	return buf;
}

static int upd(struct metrics *m, enum metrics_type t, enum metrics_op op, const char *name,
	       const struct metrics_label *l, size_t nl, double v)
{
	return metrics_update(m, t, op, name, strlen(name), l, nl, v, NULL);
}

static void *updater(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct metrics_label shared[] = { L("zone", "a"), L("app", "x") };
	char own[16];
	for (int i = 0; i < NUPDATES; i++) {
		/* labels in a different order per thread: one series */
		struct metrics_label l[2] = { shared[id & 1], shared[!(id & 1)] };
		upd(M, METRICS_COUNTER, METRICS_ADD, "jobs.done", l, 2, 1);
		upd(M, METRICS_GAUGE, METRICS_ADD, "in.flight", NULL, 0, (i & 1) ? -1 : 1);
		upd(M, METRICS_HISTOGRAM, METRICS_OBSERVE, "lat", NULL, 0, (i % 4) * 0.5);
		if (i % 100 == 0) { /* new series while others update */
			int n = snprintf(own, sizeof(own), "%d-%d", id, i);
			struct metrics_label o = { "t", own, 1, (size_t)n };
			upd(M, METRICS_COUNTER, METRICS_ADD, "per.thread", &o, 1, 1);
		}
	}
	return NULL;
}

static void *scraper(void *arg)
{
	(void)arg;
	int n = 0;
	while (!atomic_load(&stop_scraping) || n == 0) {
		char *s = scrape(M);
		free(s);
		n++;
	}
	return (void *)(intptr_t)n;
}

static double find_value(const char *text, const char *line_prefix)
{
	const char *p = strstr(text, line_prefix);
	return p ? strtod(p + strlen(line_prefix), NULL) : NAN;
}

static void test_threads(void)
{
	pthread_t th[NTHREADS], sc;
	void *scrapes;
	M = metrics_create(NULL);
	pthread_create(&sc, NULL, scraper, NULL);
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, updater, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&stop_scraping, 1);
	pthread_join(sc, &scrapes);
	ok((intptr_t)scrapes > 0, "scraped %ld times while the updates ran", (long)(intptr_t)scrapes);

	char *s = scrape(M);
	ok(find_value(s, "jobs_done_total{app=\"x\",zone=\"a\"} ") == NTHREADS * NUPDATES,
	   "counter: %d updates from %d threads, one series whatever the label order",
	   NTHREADS * NUPDATES, NTHREADS);
	ok(find_value(s, "\nin_flight ") == 0, "gauge: +1 -1 from every thread ends at 0");
	ok(find_value(s, "lat_count ") == NTHREADS * NUPDATES, "histogram count");
	ok(find_value(s, "lat_sum ") == NTHREADS * (NUPDATES / 4) * (0 + .5 + 1 + 1.5), "histogram sum");
	ok(find_value(s, "lat_bucket{le=\"0.005\"} ") == NTHREADS * NUPDATES / 4, "bucket le=0.005 (the zeros)");
	ok(find_value(s, "lat_bucket{le=\"0.5\"} ") == NTHREADS * NUPDATES / 2, "bucket le=0.5 is cumulative");
	ok(find_value(s, "lat_bucket{le=\"2.5\"} ") == NTHREADS * NUPDATES, "bucket le=2.5 has all");
	ok(find_value(s, "lat_bucket{le=\"+Inf\"} ") == NTHREADS * NUPDATES, "+Inf bucket == count");
	ok(metrics_nseries(M) == 3 + NTHREADS * (NUPDATES / 100), "series: 3 shared, %d own",
	   NTHREADS * (NUPDATES / 100));
	ok(find_value(s, "per_thread_total{t=\"3-19900\"} ") == 1, "a series made by a thread");
	ok(strstr(s, "# TYPE jobs_done_total counter\n") && strstr(s, "# TYPE lat histogram\n") &&
	   strstr(s, "# TYPE in_flight gauge\n"), "TYPE lines");
	free(s);
	metrics_destroy(M);
}

static void test_names_and_labels(void)
{
	struct metrics *m = metrics_create(NULL);
	char out[64];
	ok(metrics_sanitize("app.requests-total", 18, 0, out, sizeof(out)) == 18 &&
	   strcmp(out, "app_requests_total") == 0, "dots and dashes become _");
	ok(metrics_sanitize("9lives:x", 8, 0, out, sizeof(out)) == 9 && strcmp(out, "_9lives:x") == 0,
	   "a leading digit gets _, ':' stays in a name");
	ok(metrics_sanitize("a:b", 3, 1, out, sizeof(out)) == 3 && strcmp(out, "a_b") == 0,
	   "':' is not allowed in a label name");
	ok(metrics_sanitize("abcdef", 6, 0, out, 4) == 3 && strcmp(out, "abc") == 0, "truncated to fit");

	struct metrics_label l[] = { L("b.x", "2"), L("a", "q\"\\\nz"), L("b_x", "3") };
	ok(upd(m, METRICS_GAUGE, METRICS_SET, "g", l, 3, 1.5) == 0, "gauge_set");
	ok(upd(m, METRICS_COUNTER, METRICS_ADD, "c_total", NULL, 0, 3) == 0, "counter named _total");
	ok(upd(m, METRICS_COUNTER, METRICS_ADD, "c.x", NULL, 0, 0.25) == 0, "fractional add");
	char *s = scrape(m);
	ok(strstr(s, "g{a=\"q\\\"\\\\\\nz\",b_x=\"2\"} 1.5\n") != NULL,
	   "labels sorted, escaped, a duplicate after sanitising keeps the first");
	ok(strstr(s, "\nc_total 3\n") != NULL, "a counter already ending in _total keeps its name");
	ok(strstr(s, "\nc_x_total 0.25\n") != NULL, "_total appended");
	free(s);

	const char *why;
	ok(metrics_update(m, METRICS_GAUGE, METRICS_SET, "c.x", 3, NULL, 0, 1, &why) == METRICS_ECLASH &&
	   strstr(why, "another type"), "same series, another type: clash");
	struct metrics_label o = L("k", "v");
	ok(upd(m, METRICS_HISTOGRAM, METRICS_OBSERVE, "c.x", &o, 1, 1) == METRICS_ECLASH,
	   "same family, new labels, another type: clash");
	ok(metrics_update(m, METRICS_COUNTER, METRICS_ADD, "", 0, NULL, 0, 1, &why) == METRICS_EINVAL &&
	   strstr(why, "empty"), "empty name");
	ok(upd(m, METRICS_COUNTER, METRICS_ADD, "neg", NULL, 0, -1) == METRICS_EINVAL, "negative counter add");
	ok(upd(m, METRICS_COUNTER, METRICS_ADD, "nan", NULL, 0, NAN) == METRICS_EINVAL, "NaN counter add");
	ok(upd(m, METRICS_GAUGE, METRICS_ADD, "gneg", NULL, 0, -5) == 0, "a gauge may go down");
	ok(upd(m, METRICS_COUNTER, METRICS_SET, "c.x", NULL, 0, 1) == METRICS_EINVAL, "set on a counter");
	ok(upd(m, METRICS_HISTOGRAM, METRICS_ADD, "h", NULL, 0, 1) == METRICS_EINVAL, "add on a histogram");
	struct metrics_label many[METRICS_MAX_LABELS + 1];
	for (int i = 0; i <= METRICS_MAX_LABELS; i++)
		many[i] = (struct metrics_label){ "k", "v", 1, 1 };
	ok(upd(m, METRICS_GAUGE, METRICS_SET, "many", many, METRICS_MAX_LABELS + 1, 1) == METRICS_EINVAL,
	   "more than %d labels", METRICS_MAX_LABELS);
	ok(upd(m, METRICS_GAUGE, METRICS_SET, "many", many, METRICS_MAX_LABELS, 1) == 0,
	   "%d labels (all one name after dedup)", METRICS_MAX_LABELS);
	static char big[METRICS_MAX_KEY];
	memset(big, 'v', sizeof(big));
	struct metrics_label bl = { "k", big, 1, sizeof(big) };
	ok(upd(m, METRICS_GAUGE, METRICS_SET, "big", &bl, 1, 1) == METRICS_EINVAL, "key past 4096 bytes");
	ok(metrics_dropped(m) == 0, "nothing dropped");
	metrics_destroy(m);
}

static void test_caps(void)
{
	struct metrics_limits lim = { .max_families = 3, .max_series = 5 };
	struct metrics *m = metrics_create(&lim);
	char v[16];
	int rc = 0;
	for (int i = 0; i < 8; i++) {
		struct metrics_label l = { "id", v, 2, (size_t)snprintf(v, sizeof(v), "%d", i) };
		l.kl = 2;
		rc |= upd(m, METRICS_COUNTER, METRICS_ADD, "req", &l, 1, 1) == METRICS_EDROPPED ? (1 << i) : 0;
	}
	ok(rc == 0xe0, "series 6..8 of a family capped at 5 are dropped (mask %#x)", rc);
	ok(metrics_dropped(m) == 3, "3 dropped");
	struct metrics_label l0 = { "id", "0", 2, 1 };
	ok(upd(m, METRICS_COUNTER, METRICS_ADD, "req", &l0, 1, 1) == 0, "an existing series still updates");
	ok(upd(m, METRICS_GAUGE, METRICS_SET, "f2", NULL, 0, 1) == 0 &&
	   upd(m, METRICS_GAUGE, METRICS_SET, "f3", NULL, 0, 1) == 0, "families 2 and 3");
	ok(upd(m, METRICS_GAUGE, METRICS_SET, "f4", NULL, 0, 1) == METRICS_EDROPPED, "family 4 dropped");
	ok(metrics_dropped(m) == 4 && metrics_nfamilies(m) == 3 && metrics_nseries(m) == 7,
	   "counts: dropped 4, families 3, series 7");
	char *s = scrape(m);
	ok(strstr(s, "req_total{id=\"0\"} 2\n") && !strstr(s, "id=\"5\"") && !strstr(s, "f4"),
	   "the scrape has what was kept");
	free(s);
	metrics_destroy(m);

	struct metrics_limits tot = { .max_total = 4 };
	m = metrics_create(&tot);
	rc = 0;
	for (int i = 0; i < 6; i++) {
		char name[8];
		snprintf(name, sizeof(name), "n%d", i);
		rc |= upd(m, METRICS_GAUGE, METRICS_SET, name, NULL, 0, 1) == METRICS_EDROPPED ? (1 << i) : 0;
	}
	ok(rc == 0x30 && metrics_nseries(m) == 4 && metrics_dropped(m) == 2,
	   "the cap over all families: series 5 and 6 dropped (mask %#x)", rc);
	metrics_destroy(m);
}

static void test_numbers(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	metrics_write_num(f, 1); fputc(' ', f);
	metrics_write_num(f, 0.1); fputc(' ', f);
	metrics_write_num(f, -2.5); fputc(' ', f);
	metrics_write_num(f, INFINITY); fputc(' ', f);
	metrics_write_num(f, -INFINITY); fputc(' ', f);
	metrics_write_num(f, NAN); fputc(' ', f);
	metrics_write_num(f, 1e300); fputc(' ', f);
	metrics_write_num(f, 1.0 / 3);
	fclose(f);
	ok(strcmp(buf, "1 0.1 -2.5 +Inf -Inf NaN 1e+300 0.33333333333333331") == 0,
	   "numbers: %s", buf);
	free(buf);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *bench_thread(void *arg)
{
	struct metrics_label l[] = { L("path", "/api/users"), L("method", "GET") };
	for (int i = 0; i < 100000; i++)
		upd(M, METRICS_COUNTER, METRICS_ADD, "bench.requests", l, 2, 1);
	return arg;
}

/* Not a check: what one update costs, for the file comment of metrics.c
** (meaningless under a sanitizer). */
static void bench(void)
{
	pthread_t th[NTHREADS];
	M = metrics_create(NULL);
	double t0 = now_s();
	bench_thread(NULL);
	double one = (now_s() - t0) / 100000 * 1e9;
	t0 = now_s();
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, bench_thread, NULL);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	double four = (now_s() - t0) / (NTHREADS * 100000.0) * 1e9;
	printf("# one update with 2 labels: %.0f ns alone, %.0f ns of wall time each with "
	       "%d threads on one series\n", one, four, NTHREADS);
	metrics_destroy(M);
}

int main(void)
{
	test_threads();
	test_names_and_labels();
	test_caps();
	test_numbers();
	bench();
	return tap_done();
}
