/*
** runtime/metrics.c: families and series of the metrics module, safe
** from every shard thread at once, and their Prometheus text.
**
** Layout: series live in one hash table split into STRIPES stripes, each
** an open-addressing table with its own mutex; a series' stripe is fixed
** by the hash of its key (sanitised name, NUL, then each sorted label
** name and value, NUL-separated). An update hashes the key, locks that
** stripe, finds the series and changes its plain values, and unlocks.
** Families (name, type, their series in creation order) sit behind one
** mutex, `flock`, taken only to make a series, and by a scrape.
**
** Why a striped mutex and not per-shard tables merged at scrape time:
** gauge_set has to be last-writer-wins across shards, and a merge cannot
** tell which shard's set came last without a clock on every write; and
** a histogram read under its series' lock is always consistent (count ==
** +Inf bucket). The lock is uncontended unless two threads update series
** of one stripe in the same ~50 ns; its cost, an atomic exchange on a line
** that usually stays in the updater's cache, is small beside what the Lua
** call spends reading its label table. test/unit/runtime/metrics.c
** prints the cost of an update with two labels: about 155 ns alone and
** 120-150 ns of wall time each with 4 threads hammering one series on this
** 2-core machine, i.e. the lock does not serialise more than the hashing
** and key building around it (which run outside it).
**
** Lock order: flock before a stripe lock (making a series holds both, a
** scrape holds flock and takes stripes one at a time). Nothing is freed
** before metrics_destroy, so pointers handed between the two stay good.
*/
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "log.h"

#define STRIPES 16

const double metrics_buckets[METRICS_NBUCKETS] = {
	.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
};

struct family;

struct series {
	struct series *next;    /* the family's, in creation order */
	struct family *fam;
	uint64_t hash;
	char *key;              /* see the file comment; keylen bytes */
	uint32_t keylen;
	char *labels;           /* `k="v",...` escaped, "" when none */
	/* Values, read and written under the stripe's lock. */
	double value;           /* counter, gauge */
	double sum;             /* histogram */
	uint64_t count;
	uint64_t b[METRICS_NBUCKETS + 1]; /* per bucket, not cumulative */
};

struct family {
	struct family *next;    /* creation order */
	char *name;             /* as exposed (counters: ..._total) */
	char *key_name;         /* sanitised as given: what keys start with */
	enum metrics_type type;
	uint32_t nseries;
	struct series *head, *tail;
};

struct stripe {
	pthread_mutex_t lock;
	struct series **tab;    /* power of two, NULL-empty, no deletions */
	uint32_t cap, n;
} __attribute__((aligned(64)));

struct metrics {
	struct stripe st[STRIPES];
	pthread_mutex_t flock;
	struct family *fhead, *ftail;
	uint32_t nfam;                  /* under flock */
	_Atomic uint32_t nfam_pub;      /* a copy readable without it */
	atomic_uint_fast64_t nseries;
	atomic_uint_fast64_t dropped;
	atomic_int warned;
	uint32_t max_families, max_series, max_total;
};

/* FNV-1a, 64 bits: keys are short and this is one pass. */
static uint64_t hash_key(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int name_char(unsigned char c, int label)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || (!label && c == ':');
}

size_t metrics_sanitize(const char *s, size_t n, int label, char *out, size_t cap)
{
	size_t o = 0;
	if (cap == 0)
		return 0;
	if (n > 0 && s[0] >= '0' && s[0] <= '9' && o + 1 < cap)
		out[o++] = '_';
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		out[o++] = name_char((unsigned char)s[i], label) ? s[i] : '_';
	out[o] = '\0';
	return o;
}

struct metrics *metrics_create(const struct metrics_limits *lim)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&m->st[i].lock, NULL);
	pthread_mutex_init(&m->flock, NULL);
	m->max_families = lim && lim->max_families ? lim->max_families : METRICS_MAX_FAMILIES;
	m->max_series = lim && lim->max_series ? lim->max_series : METRICS_MAX_SERIES;
	m->max_total = lim && lim->max_total ? lim->max_total : METRICS_MAX_TOTAL;
	return m;
}

void metrics_destroy(struct metrics *m)
{
	if (m == NULL)
		return;
	for (struct family *f = m->fhead, *fn; f; f = fn) {
		fn = f->next;
		for (struct series *s = f->head, *sn; s; s = sn) {
			sn = s->next;
			free(s->key);
			free(s->labels);
			free(s);
		}
		free(f->name);
		free(f->key_name);
		free(f);
	}
	for (int i = 0; i < STRIPES; i++) {
		free(m->st[i].tab);
		pthread_mutex_destroy(&m->st[i].lock);
	}
	pthread_mutex_destroy(&m->flock);
	free(m);
}

/* {==== Keys ====} */

struct lab {
	char k[128];            /* sanitised name (truncated past 127) */
	const char *v;
	size_t kl, vl;
};

static int lab_cmp(const struct lab *a, const struct lab *b)
{
	int c = strcmp(a->k, b->k);
	return c;
}

/* Build the key of (name, labels) into key (METRICS_MAX_KEY bytes); the
** sorted, deduplicated labels are left in labs[0..*nl). Returns the
** length, or -1 when it does not fit. */
static long build_key(const char *name, size_t nlen, const struct metrics_label *in,
		      size_t nin, struct lab *labs, size_t *nl, char *key)
{
	size_t n = 0, k = 0;

	n = metrics_sanitize(name, nlen, 0, key, METRICS_MAX_KEY);
	if (nlen + 2 > METRICS_MAX_KEY)
		return -1;
	key[n++] = '\0';
	for (size_t i = 0; i < nin; i++) {
		struct lab t;
		t.kl = metrics_sanitize(in[i].k, in[i].kl, 1, t.k, sizeof(t.k));
		t.v = in[i].v;
		t.vl = in[i].vl;
		/* insertion sort: n <= METRICS_MAX_LABELS */
		size_t j = k;
		while (j > 0 && lab_cmp(&labs[j - 1], &t) > 0) {
			labs[j] = labs[j - 1];
			j--;
		}
		if (j > 0 && lab_cmp(&labs[j - 1], &t) == 0) {
			/* a duplicate after sanitising: keep the one already in */
			memmove(&labs[j], &labs[j + 1], (k - j) * sizeof(*labs));
			continue;
		}
		labs[j] = t;
		k++;
	}
	for (size_t i = 0; i < k; i++) {
		if (n + labs[i].kl + labs[i].vl + 2 > METRICS_MAX_KEY)
			return -1;
		memcpy(key + n, labs[i].k, labs[i].kl + 1);
		n += labs[i].kl + 1;
		memcpy(key + n, labs[i].v, labs[i].vl);
		n += labs[i].vl;
		key[n++] = '\0';
	}
	*nl = k;
	return (long)n;
}

/* `k="v",...` with the text format's escapes (\\, \", \n). */
static char *render_labels(const struct lab *labs, size_t n)
{
	size_t cap = 1;
	for (size_t i = 0; i < n; i++)
		cap += labs[i].kl + 2 * labs[i].vl + 4;
	char *s = xmalloc(cap), *p = s;
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, labs[i].k, labs[i].kl);
		p += labs[i].kl;
		*p++ = '=';
		*p++ = '"';
		for (size_t j = 0; j < labs[i].vl; j++) {
			char c = labs[i].v[j];
			if (c == '\\' || c == '"') {
				*p++ = '\\';
				*p++ = c;
			} else if (c == '\n') {
				*p++ = '\\';
				*p++ = 'n';
			} else {
				*p++ = c;
			}
		}
		*p++ = '"';
	}
	*p = '\0';
	return s;
}

/* {==== Lookup and insertion ====} */

/* The series with this key in st (its lock held), or NULL. */
static struct series *find(struct stripe *st, uint64_t h, const char *key, size_t n)
{
	if (st->cap == 0)
		return NULL;
	for (uint32_t i = (uint32_t)(h >> 4) & (st->cap - 1);; i = (i + 1) & (st->cap - 1)) {
		struct series *s = st->tab[i];
		if (s == NULL)
			return NULL;
		if (s->hash == h && s->keylen == n && memcmp(s->key, key, n) == 0)
			return s;
	}
}

static void put(struct stripe *st, struct series *s)
{
	if ((st->n + 1) * 4 > st->cap * 3) {
		uint32_t ncap = st->cap ? st->cap * 2 : 64;
		struct series **nt = xcalloc(ncap, sizeof(*nt));
		for (uint32_t i = 0; i < st->cap; i++)
			if (st->tab[i]) {
				uint32_t j = (uint32_t)(st->tab[i]->hash >> 4) & (ncap - 1);
				while (nt[j])
					j = (j + 1) & (ncap - 1);
				nt[j] = st->tab[i];
			}
		free(st->tab);
		st->tab = nt;
		st->cap = ncap;
	}
	uint32_t j = (uint32_t)(s->hash >> 4) & (st->cap - 1);
	while (st->tab[j])
		j = (j + 1) & (st->cap - 1);
	st->tab[j] = s;
	st->n++;
}

static void drop(struct metrics *m, const char *what, const char *name)
{
	atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
	if (atomic_exchange_explicit(&m->warned, 1, memory_order_relaxed) == 0)
		log_printf(LOG_LEVEL_WARN, NULL,
			   "metrics: %s (metric \"%s\"): updates past it are dropped "
			   "and counted in wippy_metrics_dropped_total", what, name);
}

/* flock held. The family named key_name, made if missing; NULL with *rc
** set when it has another type or no family may be made. */
static struct family *family_of(struct metrics *m, const char *key_name,
				enum metrics_type t, int *rc)
{
	struct family *f;
	for (f = m->fhead; f; f = f->next)
		if (strcmp(f->key_name, key_name) == 0) {
			if (f->type != t) {
				*rc = METRICS_ECLASH;
				return NULL;
			}
			return f;
		}
	if (m->nfam >= m->max_families) {
		drop(m, "the cap on metric families is reached", key_name);
		*rc = METRICS_EDROPPED;
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->key_name = xstrdup(key_name);
	f->type = t;
	size_t kl = strlen(key_name);
	if (t == METRICS_COUNTER && !(kl >= 6 && strcmp(key_name + kl - 6, "_total") == 0)) {
		f->name = xmalloc(kl + 7);
		memcpy(f->name, key_name, kl);
		memcpy(f->name + kl, "_total", 7);
	} else {
		f->name = xstrdup(key_name);
	}
	if (m->ftail)
		m->ftail->next = f;
	else
		m->fhead = f;
	m->ftail = f;
	m->nfam++;
	atomic_store_explicit(&m->nfam_pub, m->nfam, memory_order_relaxed);
	return f;
}

static void apply(struct series *s, enum metrics_op op, double v)
{
	switch (op) {
	case METRICS_ADD:
		s->value += v;
		break;
	case METRICS_SET:
		s->value = v;
		break;
	case METRICS_OBSERVE: {
		int i = 0;
		while (i < METRICS_NBUCKETS && !(v <= metrics_buckets[i]))
			i++;
		s->b[i]++;
		s->count++;
		s->sum += v;
		break;
	}
	}
}

static const char clash_why[] = "metric already registered with another type";

int metrics_update(struct metrics *m, enum metrics_type t, enum metrics_op op,
		   const char *name, size_t nl, const struct metrics_label *labels,
		   size_t nlabels, double v, const char **why)
{
	char key[METRICS_MAX_KEY];
	struct lab labs[METRICS_MAX_LABELS];
	size_t nlab = 0;
	const char *dummy;
	long n;
	int rc = 0;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if ((op == METRICS_ADD && t == METRICS_HISTOGRAM) ||
	    (op == METRICS_SET && t != METRICS_GAUGE) ||
	    (op == METRICS_OBSERVE && t != METRICS_HISTOGRAM)) {
		*why = "operation does not fit the metric type";
		return METRICS_EINVAL;
	}
	if (nl == 0) {
		*why = "metric name must not be empty";
		return METRICS_EINVAL;
	}
	if (nlabels > METRICS_MAX_LABELS) {
		*why = "too many labels (at most 32)";
		return METRICS_EINVAL;
	}
	if (t == METRICS_COUNTER && !(v >= 0)) {
		*why = "counter increment must be a non-negative number";
		return METRICS_EINVAL;
	}
	n = build_key(name, nl, labels, nlabels, labs, &nlab, key);
	if (n < 0) {
		*why = "metric name and labels too long (at most 4096 bytes)";
		return METRICS_EINVAL;
	}
	uint64_t h = hash_key(key, (size_t)n);
	struct stripe *st = &m->st[h & (STRIPES - 1)];
	struct series *s;

	pthread_mutex_lock(&st->lock);
	s = find(st, h, key, (size_t)n);
	if (s) {
		if (s->fam->type != t)
			rc = METRICS_ECLASH;
		else
			apply(s, op, v);
		pthread_mutex_unlock(&st->lock);
		if (rc)
			*why = clash_why;
		return rc;
	}
	pthread_mutex_unlock(&st->lock);

	/* Slow path, once per series: families first (lock order). */
	pthread_mutex_lock(&m->flock);
	struct family *f = family_of(m, key, t, &rc);
	if (f == NULL) {
		pthread_mutex_unlock(&m->flock);
		if (rc == METRICS_ECLASH)
			*why = clash_why;
		else
			*why = "dropped: too many metric families";
		return rc;
	}
	pthread_mutex_lock(&st->lock);
	s = find(st, h, key, (size_t)n); /* another thread may have made it */
	if (s == NULL) {
		/* nseries only grows under flock, which we hold */
		int total = atomic_load_explicit(&m->nseries, memory_order_relaxed) >= m->max_total;
		if (f->nseries >= m->max_series || total) {
			pthread_mutex_unlock(&st->lock);
			drop(m, total ? "the cap on series of all metrics is reached"
				      : "the cap on series of one metric is reached", f->name);
			pthread_mutex_unlock(&m->flock);
			*why = "dropped: too many series";
			return METRICS_EDROPPED;
		}
		s = xcalloc(1, sizeof(*s));
		s->fam = f;
		s->hash = h;
		s->keylen = (uint32_t)n;
		s->key = xmalloc((size_t)n);
		memcpy(s->key, key, (size_t)n);
		s->labels = render_labels(labs, nlab);
		put(st, s);
		if (f->tail)
			f->tail->next = s;
		else
			f->head = s;
		f->tail = s;
		f->nseries++;
		atomic_fetch_add_explicit(&m->nseries, 1, memory_order_relaxed);
	}
	apply(s, op, v);
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&m->flock);
	return 0;
}

uint64_t metrics_dropped(const struct metrics *m)
{
	return atomic_load_explicit(&m->dropped, memory_order_relaxed);
}

uint32_t metrics_nfamilies(const struct metrics *m)
{
	return atomic_load_explicit(&m->nfam_pub, memory_order_relaxed);
}

uint64_t metrics_nseries(const struct metrics *m)
{
	return atomic_load_explicit(&m->nseries, memory_order_relaxed);
}

/* {==== Exposition ====} */

void metrics_write_num(FILE *f, double v)
{
	char buf[40];
	if (isnan(v)) {
		fputs("NaN", f);
		return;
	}
	if (isinf(v)) {
		fputs(v > 0 ? "+Inf" : "-Inf", f);
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		fprintf(f, "%.0f", v);
		return;
	}
	/* the shortest of %.15g / %.17g that reads back as v */
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	fputs(buf, f);
}

static const char *type_name(enum metrics_type t)
{
	return t == METRICS_COUNTER ? "counter" : t == METRICS_GAUGE ? "gauge" : "histogram";
}

/* One histogram series from a copy taken under its lock. */
static void write_hist(FILE *f, const char *name, const char *labels,
		       const uint64_t *b, uint64_t count, double sum)
{
	uint64_t cum = 0;
	const char *sep = labels[0] ? "," : "";
	for (int i = 0; i <= METRICS_NBUCKETS; i++) {
		cum += b[i];
		fprintf(f, "%s_bucket{%s%sle=\"", name, labels, sep);
		if (i == METRICS_NBUCKETS)
			fputs("+Inf", f);
		else
			metrics_write_num(f, metrics_buckets[i]);
		fprintf(f, "\"} %llu\n", (unsigned long long)cum);
	}
	fprintf(f, "%s_sum%s%s%s ", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "");
	metrics_write_num(f, sum);
	fprintf(f, "\n%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
		labels[0] ? "}" : "", (unsigned long long)count);
}

void metrics_write(struct metrics *m, FILE *f)
{
	pthread_mutex_lock(&m->flock);
	for (struct family *fam = m->fhead; fam; fam = fam->next) {
		fprintf(f, "# TYPE %s %s\n", fam->name, type_name(fam->type));
		for (struct series *s = fam->head; s; s = s->next) {
			struct stripe *st = &m->st[s->hash & (STRIPES - 1)];
			uint64_t b[METRICS_NBUCKETS + 1], count;
			double value, sum;
			pthread_mutex_lock(&st->lock);
			value = s->value;
			sum = s->sum;
			count = s->count;
			memcpy(b, s->b, sizeof(b));
			pthread_mutex_unlock(&st->lock);
			if (fam->type == METRICS_HISTOGRAM) {
				write_hist(f, fam->name, s->labels, b, count, sum);
				continue;
			}
			if (s->labels[0])
				fprintf(f, "%s{%s} ", fam->name, s->labels);
			else
				fprintf(f, "%s ", fam->name);
			metrics_write_num(f, value);
			fputc('\n', f);
		}
	}
	pthread_mutex_unlock(&m->flock);
}
