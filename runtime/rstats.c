/*
** runtime/rstats.c: per-shard runtime counters and the metrics scrape.
**
** Slot i belongs to shard i's thread, which alone writes it (relaxed
** load + store, as engine/shard.c counts its own); slot n takes what
** other threads count, with atomic adds. A scrape, on whichever shard got
** the request, reads every slot and every shard's engine figures with
** relaxed loads: the values are each exact but not one snapshot, which is
** all a Prometheus scrape asks.
*/
#include "rstats.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/shard.h"
#include "metrics.h"
#include "proc.h"
#include "registry.h"
#include "rt.h"

#define NCODES 5 /* 1xx .. 5xx */

struct slot {
	atomic_uint_fast64_t spawned, exited, sent, mbox_hwm;
	atomic_int_fast64_t heap;
	atomic_uint_fast64_t gc_steps, gc_full;
	atomic_uint_fast64_t codes[NCODES];
	atomic_uint_fast64_t lat[METRICS_NBUCKETS + 1];
	atomic_uint_fast64_t lat_sum_ns;
} __attribute__((aligned(64)));

struct rstats {
	uint64_t gen;    /* see slot() */
	struct engine *e;
	int n;
	struct slot *s; /* [n + 1] */
};

/* Each rstats gets a generation, so that a thread's cached slot (below)
** never outlives the rstats it points into, even if a later one is
** allocated at the same address. */
static atomic_uint_fast64_t generations;

struct rstats *rstats_create(struct engine *e)
{
	struct rstats *r = xcalloc(1, sizeof(*r));
	r->gen = atomic_fetch_add_explicit(&generations, 1, memory_order_relaxed) + 1;
	r->e = e;
	r->n = engine_nshards(e);
	r->s = aligned_alloc(64, sizeof(struct slot) * (size_t)(r->n + 1));
	if (r->s == NULL)
		abort();
	memset(r->s, 0, sizeof(struct slot) * (size_t)(r->n + 1));
	return r;
}

void rstats_destroy(struct rstats *r)
{
	if (r == NULL)
		return;
	free(r->s);
	free(r);
}

static __thread uint64_t t_gen;
static __thread struct slot *t_slot;
static __thread int t_own;

/* The calling thread's slot; *own says whether it is a shard's own (plain
** increments) or the shared one (atomic adds). A thread is on one shard
** (or none) for its life: the answer is cached per thread, so a hot path
** pays one thread-local compare. */
static struct slot *slot(struct rstats *r, int *own)
{
	static struct slot none; /* before boot made the slots: dropped */
	struct shard *s;
	if (r == NULL) {
		*own = 0;
		return &none;
	}
	if (t_gen == r->gen) {
		*own = t_own;
		return t_slot;
	}
	s = shard_self();
	if (s && shard_engine(s) == r->e) {
		t_own = 1;
		t_slot = &r->s[shard_id(s)];
	} else {
		t_own = 0;
		t_slot = &r->s[r->n];
	}
	t_gen = r->gen;
	*own = t_own;
	return t_slot;
}

static inline void add(atomic_uint_fast64_t *c, uint64_t n, int own)
{
	if (own)
		atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
				      memory_order_relaxed);
	else
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void rstats_spawned(struct rstats *r)
{
	int own;
	struct slot *s = slot(r, &own);
	add(&s->spawned, 1, own);
}

void rstats_exited(struct rstats *r)
{
	int own;
	struct slot *s = slot(r, &own);
	add(&s->exited, 1, own);
}

void rstats_sent(struct rstats *r)
{
	int own;
	struct slot *s = slot(r, &own);
	add(&s->sent, 1, own);
}

void rstats_mbox(struct rstats *r, uint64_t n)
{
	int own;
	struct slot *s = slot(r, &own);
	uint64_t cur = atomic_load_explicit(&s->mbox_hwm, memory_order_relaxed);
	if (n <= cur)
		return;
	if (own)
		atomic_store_explicit(&s->mbox_hwm, n, memory_order_relaxed);
	else
		while (cur < n && !atomic_compare_exchange_weak_explicit(
				&s->mbox_hwm, &cur, n, memory_order_relaxed, memory_order_relaxed))
			;
}

void rstats_heap(struct rstats *r, int64_t delta)
{
	int own;
	struct slot *s = slot(r, &own);
	if (delta == 0)
		return;
	if (own)
		atomic_store_explicit(&s->heap, atomic_load_explicit(&s->heap,
				      memory_order_relaxed) + delta, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&s->heap, delta, memory_order_relaxed);
}

void rstats_gc(struct rstats *r, int full)
{
	int own;
	struct slot *s = slot(r, &own);
	add(full ? &s->gc_full : &s->gc_steps, 1, own);
}

void rstats_http(struct rstats *r, int status, int64_t ns)
{
	int own, c = status / 100 - 1;
	struct slot *s = slot(r, &own);
	if (c >= 0 && c < NCODES)
		add(&s->codes[c], 1, own);
	if (ns < 0)
		return;
	double sec = (double)ns / 1e9;
	int i = 0;
	while (i < METRICS_NBUCKETS && !(sec <= metrics_buckets[i]))
		i++;
	add(&s->lat[i], 1, own);
	add(&s->lat_sum_ns, (uint64_t)ns, own);
}

static uint64_t ld(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void rstats_totals(struct rstats *r, struct rstats_totals *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i <= r->n; i++) {
		o->spawned += ld(&r->s[i].spawned);
		o->exited += ld(&r->s[i].exited);
		o->sent += ld(&r->s[i].sent);
		o->heap += atomic_load_explicit(&r->s[i].heap, memory_order_relaxed);
	}
}

/* {==== The scrape ====} */

/* One family with a value per shard (the off-shard slot is folded into
** shard 0: it has no shard of its own). */
static void per_shard(FILE *f, struct rstats *r, const char *name, const char *type,
		      const char *help, size_t off)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (int i = 0; i < r->n; i++) {
		uint64_t v = ld((const atomic_uint_fast64_t *)((char *)&r->s[i] + off));
		if (i == 0)
			v += ld((const atomic_uint_fast64_t *)((char *)&r->s[r->n] + off));
		fprintf(f, "%s{shard=\"%d\"} %llu\n", name, i, (unsigned long long)v);
	}
}

/* A family from the engine's shard_stats, one field at off. */
static void engine_fam(FILE *f, const struct shard_stats *st, int n, const char *name,
		       const char *type, const char *help, size_t off)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s{shard=\"%d\"} %llu\n", name, i,
			(unsigned long long)*(const uint64_t *)((const char *)&st[i] + off));
}

static void write_runtime(FILE *f, struct rt *rt)
{
	struct rstats *r = rt->rstats;
	struct rstats_totals t;
	struct shard_stats *st = xcalloc((size_t)r->n, sizeof(*st));

	for (int i = 0; i < r->n; i++)
		shard_get_stats(engine_shard(r->e, i), &st[i]);
	rstats_totals(r, &t);

	fprintf(f, "# HELP wippy_processes_alive Processes alive (pooled function "
		"states aside).\n# TYPE wippy_processes_alive gauge\n"
		"wippy_processes_alive %lld\n", (long long)(t.spawned - t.exited));
	per_shard(f, r, "wippy_processes_spawned_total", "counter",
		  "Processes spawned, by the spawner's shard.", offsetof(struct slot, spawned));
	per_shard(f, r, "wippy_processes_exited_total", "counter",
		  "Processes that ended, by the shard they ended on.",
		  offsetof(struct slot, exited));
	per_shard(f, r, "wippy_messages_sent_total", "counter",
		  "Messages sent to processes, by the sender's shard.",
		  offsetof(struct slot, sent));
	per_shard(f, r, "wippy_mailbox_high_water", "gauge",
		  "Most messages seen queued in one process's inbox on the shard.",
		  offsetof(struct slot, mbox_hwm));
	fprintf(f, "# HELP wippy_lua_heap_bytes Bytes held by the Lua heaps of live "
		"states (as of each one's last step).\n# TYPE wippy_lua_heap_bytes gauge\n"
		"wippy_lua_heap_bytes %lld\n", (long long)t.heap);
#ifdef WIPPY_LUA_GC_WRAP
	/* Only where they are counted (runtime/luagc.c): a build on the
	** shared liblua5.4 cannot see the collector, and says nothing. */
	per_shard(f, r, "wippy_lua_gc_steps_total", "counter",
		  "Steps of the Lua collector in process states, by the shard that ran "
		  "them: each call of Lua's luaC_step, i.e. one incremental step, or one "
		  "minor or major collection in generational mode, whether the state's "
		  "allocation debt or the runtime (a heap past its memory limit) asked.",
		  offsetof(struct slot, gc_steps));
	per_shard(f, r, "wippy_lua_gc_full_total", "counter",
		  "Full Lua collections in process states, by shard: collectgarbage(), "
		  "lua_gc(LUA_GCCOLLECT), emergency collections on a failed allocation, "
		  "and the one a process's switch to generational mode runs.",
		  offsetof(struct slot, gc_full));
#endif

#define EF(name, type, help, field) \
	engine_fam(f, st, r->n, name, type, help, offsetof(struct shard_stats, field))
	EF("wippy_shard_run_queue", "gauge", "Tasks ready to run at the end of the last turn.", runq);
	EF("wippy_shard_turns_total", "counter", "Loop turns.", turns);
	EF("wippy_shard_tasks_run_total", "counter", "Tasks run.", tasks_run);
	EF("wippy_shard_wakeups_sent_total", "counter", "Wake-ups sent to sleeping shards.",
	   wakeups_sent);
	EF("wippy_shard_sleeps_total", "counter", "Times the shard slept in the kernel.", sleeps);
	EF("wippy_shard_spills_total", "counter", "Tasks spilled to the global queue.", spilled);
	EF("wippy_shard_steals_total", "counter", "Tasks taken from the global queue.", taken);
	EF("wippy_shard_posts_total", "counter", "Tasks posted to another shard (cross-shard "
	   "messages and wake-ups).", posts);
	EF("wippy_timers_pending", "gauge", "Timers in the shard's wheel at the end of the "
	   "last turn.", timers);
	EF("wippy_uring_submissions_total", "counter", "SQEs submitted to io_uring.", submitted);
	EF("wippy_uring_completions_total", "counter", "CQEs reaped from io_uring.", completed);
#undef EF

	static const char *const codes[NCODES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	fputs("# HELP wippy_server_http_responses_total HTTP responses, by status class.\n"
	      "# TYPE wippy_server_http_responses_total counter\n", f);
	for (int i = 0; i < r->n; i++)
		for (int c = 0; c < NCODES; c++) {
			uint64_t v = ld(&r->s[i].codes[c]) + (i == 0 ? ld(&r->s[r->n].codes[c]) : 0);
			fprintf(f, "wippy_server_http_responses_total{shard=\"%d\",code=\"%s\"} %llu\n",
				i, codes[c], (unsigned long long)v);
		}
	fputs("# HELP wippy_server_http_response_seconds From dispatch to the "
	      "response queued.\n# TYPE wippy_server_http_response_seconds histogram\n", f);
	for (int i = 0; i < r->n; i++) {
		const struct slot *s = &r->s[i];
		uint64_t cum = 0;
		for (int b = 0; b <= METRICS_NBUCKETS; b++) {
			cum += ld(&s->lat[b]);
			fprintf(f, "wippy_server_http_response_seconds_bucket{shard=\"%d\",le=\"", i);
			if (b == METRICS_NBUCKETS)
				fputs("+Inf", f);
			else
				metrics_write_num(f, metrics_buckets[b]);
			fprintf(f, "\"} %llu\n", (unsigned long long)cum);
		}
		/* The count is the +Inf bucket's, so that the two agree even
		** while a response is being counted. */
		fprintf(f, "wippy_server_http_response_seconds_sum{shard=\"%d\"} ", i);
		metrics_write_num(f, (double)ld(&s->lat_sum_ns) / 1e9);
		fprintf(f, "\nwippy_server_http_response_seconds_count{shard=\"%d\"} %llu\n", i,
			(unsigned long long)cum);
	}
	fprintf(f, "# HELP wippy_metrics_dropped_total Metric updates dropped at the "
		"series or family cap.\n# TYPE wippy_metrics_dropped_total counter\n"
		"wippy_metrics_dropped_total %llu\n",
		(unsigned long long)(rt->metrics ? metrics_dropped(rt->metrics) : 0));
	fprintf(f, "# HELP wippy_metrics_series Series held by the metrics module.\n"
		"# TYPE wippy_metrics_series gauge\nwippy_metrics_series %llu\n",
		(unsigned long long)(rt->metrics ? metrics_nseries(rt->metrics) : 0));
	free(st);
}

int rstats_is_scrape(const char *path, const char *method, size_t ml,
		     const char *target, size_t tl)
{
	const char *q;
	size_t pl;
	if (path == NULL)
		return 0;
	if (!((ml == 3 && memcmp(method, "GET", 3) == 0) ||
	      (ml == 4 && memcmp(method, "HEAD", 4) == 0)))
		return 0;
	q = memchr(target, '?', tl);
	if (q)
		tl = (size_t)(q - target);
	pl = strlen(path);
	return tl == pl && memcmp(target, path, pl) == 0;
}

/* {==== The busiest processes ====}
**
** A scrape with ?top=N walks the pid table (pt_each: each process is
** referenced, not locked) and keeps the N that ran the most steps, with
** their heaps. A plain scrape never walks: with a million processes the
** walk costs tens of milliseconds. */

struct top_ctx {
	int cap, n;
	struct top_row { uint64_t steps, heap; struct proc *p; } *rows;
};

static void top_proc(struct proc *p, void *arg)
{
	struct top_ctx *t = arg;
	uint64_t steps = atomic_load_explicit(&p->st_steps, memory_order_relaxed);
	int i;
	if (p->pooled)
		return;
	if (t->n == t->cap && steps <= t->rows[t->n - 1].steps)
		return;
	if (t->n == t->cap)
		proc_unref(t->rows[--t->n].p); /* the smallest goes */
	for (i = t->n; i > 0 && t->rows[i - 1].steps < steps; i--)
		t->rows[i] = t->rows[i - 1];
	proc_ref(p);
	t->rows[i] = (struct top_row){ steps,
		atomic_load_explicit(&p->st_heap, memory_order_relaxed), p };
	t->n++;
}

static void put_quoted(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' || s[i] == '"')
			fputc('\\', f);
		if (s[i] == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(s[i], f);
	}
}

static void write_top(FILE *f, struct rt *rt, int top)
{
	struct top_ctx t = { top, 0, xcalloc((size_t)top, sizeof(struct top_row)) };
	pt_each(rt, top_proc, &t);
	for (int k = 0; k < 2; k++) {
		fputs(k == 0 ? "# HELP wippy_process_steps_total Steps run by the processes "
			       "that ran the most (a scrape with ?top=N lists N).\n"
			       "# TYPE wippy_process_steps_total counter\n"
			     : "# HELP wippy_process_heap_bytes Their Lua heaps as of their "
			       "last step.\n# TYPE wippy_process_heap_bytes gauge\n", f);
		for (int i = 0; i < t.n; i++) {
			struct proc *p = t.rows[i].p;
			fputs(k == 0 ? "wippy_process_steps_total{pid=\"" : "wippy_process_heap_bytes{pid=\"", f);
			put_quoted(f, p->pidstr, p->pidlen);
			fputs("\",entry=\"", f);
			put_quoted(f, p->entry->id, strlen(p->entry->id));
			fprintf(f, "\"} %llu\n", (unsigned long long)(k == 0 ? t.rows[i].steps
									  : t.rows[i].heap));
		}
	}
	for (int i = 0; i < t.n; i++)
		proc_unref(t.rows[i].p);
	free(t.rows);
}

/* }==== */

char *rstats_scrape(struct rt *rt, size_t *len, int top)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (f == NULL)
		abort();
	if (rt->metrics)
		metrics_write(rt->metrics, f);
	if (rt->rstats)
		write_runtime(f, rt);
	if (top > 0)
		write_top(f, rt, top < RSTATS_TOP_MAX ? top : RSTATS_TOP_MAX);
	fclose(f);
	return buf;
}

/* {==== Hosts ====} */

struct count_ctx {
	struct rt *rt;
	struct rstats_host *out;
};

static void count_proc(struct proc *p, void *arg)
{
	struct count_ctx *c = arg;
	/* p->host never changes; HTTP handler states have a host of their
	** service's, in no rt->hosts slot, and are not counted. */
	for (int i = 0; i < c->rt->nhosts; i++)
		if (p->host == &c->rt->hosts[i]) {
			c->out[i].processes++;
			return;
		}
}

void rstats_hosts(struct rt *rt, struct rstats_host *out)
{
	struct count_ctx c = { rt, out };
	for (int i = 0; i < rt->nhosts; i++) {
		const struct host *h = &rt->hosts[i];
		out[i] = (struct rstats_host){ .id = h->id, .workers = h->n };
		for (int s = h->first; s < h->first + h->n; s++) {
			struct shard_stats st;
			shard_get_stats(engine_shard(rt->engine, s), &st);
			out[i].executed += st.tasks_run;
			out[i].stolen += st.taken;
			out[i].queue_depth += st.runq;
		}
	}
	pt_each(rt, count_proc, &c);
}
