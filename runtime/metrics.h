/*
** runtime/metrics.h: the store behind require("metrics"): counters,
** gauges and histograms with labels, shared by every shard, and their
** Prometheus text exposition.
**
** A family is a name with one type; a series is a family plus one label
** set. Both are made on first use and live until metrics_destroy. Names
** and label names are kept in Prometheus form: every character outside
** [a-zA-Z0-9_:] (label names: [a-zA-Z0-9_]) becomes '_', and a leading
** digit gets a '_' in front, as OTel's Prometheus exporter does; a
** counter's exposed name ends in "_total" (appended when missing).
**
** Bounded: at most max_families families, max_series series per family
** and max_total series in all. An update that would pass a cap is dropped and counted
** (metrics_dropped); the first drop logs one WARN. So a label with
** unbounded values (a request id) costs at most the cap, never the heap.
**
** Thread affinity: any thread, any number at once (see metrics.c for the
** locking and what an update costs).
*/
#ifndef RUNTIME_METRICS_H
#define RUNTIME_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct metrics; /* opaque */

enum metrics_type {
	METRICS_COUNTER = 1,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

/* What an update does to its series. */
enum metrics_op {
	METRICS_ADD,     /* counter, gauge: value += v (inc/dec: v = +-1) */
	METRICS_SET,     /* gauge: value = v */
	METRICS_OBSERVE, /* histogram: one observation of v */
};

/* One label as given (not yet sanitised; not NUL-terminated). */
struct metrics_label {
	const char *k, *v;
	size_t kl, vl;
};

struct metrics_limits {
	uint32_t max_families; /* 0: METRICS_MAX_FAMILIES */
	uint32_t max_series;   /* per family; 0: METRICS_MAX_SERIES */
	uint32_t max_total;    /* over all families; 0: METRICS_MAX_TOTAL */
};

#define METRICS_MAX_FAMILIES 1000
#define METRICS_MAX_SERIES   2000
#define METRICS_MAX_TOTAL    100000 /* ~20 MB with typical keys */
#define METRICS_MAX_LABELS   32   /* labels in one update */
#define METRICS_MAX_KEY      4096 /* name and labels of one series, bytes */

/* Results of metrics_update besides 0. */
#define METRICS_ECLASH   (-1) /* the name is a family of another type */
#define METRICS_EDROPPED (-2) /* past a cap: dropped and counted */
#define METRICS_EINVAL   (-3) /* empty name, too many labels, key too long,
			      ** a negative or NaN counter increment */

/* A new, empty store. lim may be NULL (the defaults). Never returns NULL. */
struct metrics *metrics_create(const struct metrics_limits *lim);

/* Free the store and every series. No update may run meanwhile. NULL is
** a no-op. */
void metrics_destroy(struct metrics *m);

/*
** Apply one update to the series (name, labels) of type t, making the
** family and the series on first use. labels need not be sorted; a label
** name given twice (after sanitising) keeps its first value in sorted
** order. Returns 0, METRICS_ECLASH, METRICS_EDROPPED or METRICS_EINVAL;
** *why (may be NULL) gets a static text for the last two kinds and
** ECLASH. The op must fit the type (ADD for counters and gauges, SET for
** gauges, OBSERVE for histograms): anything else is METRICS_EINVAL.
*/
int metrics_update(struct metrics *m, enum metrics_type t, enum metrics_op op,
		   const char *name, size_t nl, const struct metrics_label *labels,
		   size_t nlabels, double v, const char **why);

/* Updates dropped at a cap so far. */
uint64_t metrics_dropped(const struct metrics *m);

/* Families and series now held. */
uint32_t metrics_nfamilies(const struct metrics *m);
uint64_t metrics_nseries(const struct metrics *m);

/* Write every family in the Prometheus text format 0.0.4 to f, families
** in the order they were made, series likewise. Histograms use the
** Prometheus default buckets (.005 .. 10, then +Inf) and expose _bucket,
** _sum and _count. Takes each series' lock only while reading it: no
** update waits for more than one series' copy. */
void metrics_write(struct metrics *m, FILE *f);

/* Name sanitising as described above, into out (cap bytes with the NUL;
** truncated to fit). label: the label-name alphabet (no ':'). Returns
** the length written. */
size_t metrics_sanitize(const char *s, size_t n, int label, char *out, size_t cap);

/* The default histogram bounds, METRICS_NBUCKETS of them (+Inf aside). */
#define METRICS_NBUCKETS 11
extern const double metrics_buckets[METRICS_NBUCKETS];

/* Write a number the way the text format wants it (+Inf, -Inf, NaN,
** integers without an exponent up to 2^53, else %.17g). */
void metrics_write_num(FILE *f, double v);

#endif
