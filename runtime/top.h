/*
** runtime/top.h: `wippy top`, a terminal view of a running runtime fed by
** the Prometheus text of an http.service's `metrics:` path (rstats.h).
** The parser and the renderer are exposed for the unit test.
*/
#ifndef RUNTIME_TOP_H
#define RUNTIME_TOP_H

#include <stddef.h>
#include <stdio.h>

#define TOP_SHARDS 256
#define TOP_PROCS  20 /* the busiest processes asked for (?top=N) */

/* The per-shard counters a frame shows. */
enum { F_SPAWNED, F_EXITED, F_SENT, F_TASKS, F_POSTS, F_SLEEPS, F_HTTP,
       F_RUNQ, F_TIMERS, F_GC, F_NFIELDS };

struct top_url {
	char host[256], port[16], path[512];
};

struct top_proc {
	char pid[96], entry[128];
	double steps, heap;
};

/* What a frame shows of one scrape. */
struct top_sample {
	double t;                           /* CLOCK_MONOTONIC seconds */
	int nshards;
	double shard[TOP_SHARDS][F_NFIELDS];
	double alive, heap;
	int gc_counted;                     /* wippy_lua_gc_steps_total was there */
	int nprocs;
	struct top_proc procs[TOP_PROCS];
};

/* http://HOST[:PORT][/PATH] (port 80, path /metrics by default). Returns
** 0, or -1 with a message in why. */
int top_parse_url(const char *s, struct top_url *u, char *why, size_t cap);

/* Fill s from a scrape's text (t is left 0). */
void top_parse(const char *text, struct top_sample *s);

/* Write one frame: rates from a (NULL on the first frame) to b; tty
** clears the screen first. */
void top_render(FILE *f, const char *url, const struct top_sample *a,
		const struct top_sample *b, int tty);

/* `wippy top URL [-n FRAMES] [--interval SECONDS]`: exit status. */
int top_main(int argc, char **argv);

#endif
