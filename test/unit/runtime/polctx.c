/*
** test/unit/runtime/polctx.c: interned security contexts.
**
** Interning by (table, bytes): equal bytes under one table give one
** context, the same bytes under another table or different bytes give
** another; a second intern of equal bytes frees the newcomer and answers
** the first; the per-action lists hold exactly the policies with that
** action, are built once, and past POLCTX_ACTS come back owned. Then
** eight threads at once intern, find and ask the same and different
** contexts (run under SANITIZER=thread): every thread must see the one
** context per key and the same lists. Finally the cap: past POLCTX_MAX
** interning answers NULL and leaves the context with the caller.
*/
#include "runtime/polctx.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/common.h"
#include "runtime/reg_int.h"
#include "runtime/yaml.h"
#include "tap.h"
#include "yamltext.h"

static char tmpdir[] = "/tmp/polctx-test-XXXXXX";
static struct reg_arena arena;

static struct policy *compile(const char *id, const char *text)
{
	struct reg_value *v = yamltext(tmpdir, &arena, text);
	return v ? policy_compile(id, "app", reg_value_get(v, "policy"), NULL,
				  NULL, NULL) : NULL;
}

static struct policy *pol[3];

/* A context over all three policies, as a caller compiles one. */
static struct polctx *make(void)
{
	struct polctx *c = xcalloc(1, sizeof(*c));
	c->has_actor = c->has_scope = 1;
	c->actor_id = xstrdup("user:42");
	c->ps = xcalloc(3, sizeof(*c->ps));
	for (int i = 0; i < 3; i++)
		c->ps[i] = pol[i];
	c->n = 3;
	return c;
}

/* Two distinct table addresses: polctx only keys on them. */
static const char table_a, table_b;
#define TA ((const struct policy_table *)&table_a)
#define TB ((const struct policy_table *)&table_b)

static const char act_send[] = "process.send";
static const char act_spawn[] = "process.spawn";

static void test_intern(void)
{
	const char k1[] = "context one", k2[] = "context two";
	struct polctx *c1 = make(), *dup = make();
	const struct polctx *r;
	const struct policy *const *ps;
	size_t n;
	int owned;

	ok(polctx_find(TA, k1, sizeof(k1)) == NULL, "nothing interned yet");
	ok(polctx_intern(TA, k1, sizeof(k1), c1) == c1, "first intern keeps it");
	ok(polctx_find(TA, k1, sizeof(k1)) == c1, "found by its bytes");
	ok(polctx_find(TA, k1, sizeof(k1) - 1) == NULL, "a prefix is another key");
	ok(polctx_find(TA, k2, sizeof(k2)) == NULL, "other bytes: none");
	ok(polctx_find(TB, k1, sizeof(k1)) == NULL, "other table: none");
	r = polctx_intern(TA, k1, sizeof(k1), dup);   /* dup is freed */
	ok(r == c1, "an equal newcomer gets the first");
	ok(strcmp(r->actor_id, "user:42") == 0 && r->n == 3, "context intact");

	ps = polctx_acted(c1, act_send, &n, &owned);
	ok(!owned && n == 2 && ps[0] == pol[0] && ps[1] == pol[2],
	   "send: the two policies with it, in order");
	ok(polctx_acted(c1, act_send, &n, &owned) == ps, "built once");
	ps = polctx_acted(c1, act_spawn, &n, &owned);
	ok(!owned && n == 2 && ps[0] == pol[1] && ps[1] == pol[2],
	   "spawn: its own and the process.* one");

	/* Past POLCTX_ACTS distinct actions the list is the caller's. */
	static char acts[POLCTX_ACTS + 1][32];
	int owned_seen = 0;
	for (int i = 0; i < POLCTX_ACTS + 1; i++) {
		snprintf(acts[i], sizeof(acts[i]), "other.%d", i);
		ps = polctx_acted(c1, acts[i], &n, &owned);
		ok(n == 0, "other.%d: no policy has it", i);
		if (owned) {
			owned_seen++;
			free((void *)ps);
		}
	}
	ok(owned_seen == 3, "the slots left after send and spawn, then owned (%d)",
	   owned_seen);
}

#define THREADS 8
#define KEYS 64
#define ROUNDS 200

static const struct polctx *seen[THREADS][KEYS];
static const struct policy *const *seen_ps[THREADS][KEYS];

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	char key[32];
	size_t n;
	int owned;

	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < KEYS; k++) {
			int len = snprintf(key, sizeof(key), "stress %d", k);
			const struct polctx *c = polctx_find(TB, key, (size_t)len);
			if (c == NULL)
				c = polctx_intern(TB, key, (size_t)len, make());
			const struct policy *const *ps = polctx_acted(c, act_send, &n, &owned);
			if (r == 0) {
				seen[id][k] = c;
				seen_ps[id][k] = ps;
			} else if (seen[id][k] != c || seen_ps[id][k] != ps || n != 2) {
				seen[id][k] = NULL;   /* changed under us */
			}
		}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[THREADS];
	int same = 1;

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int k = 0; k < KEYS; k++)
		for (int i = 0; i < THREADS; i++)
			if (seen[i][k] == NULL || seen[i][k] != seen[0][k] ||
			    seen_ps[i][k] != seen_ps[0][k])
				same = 0;
	ok(same, "%d threads: one context and one list per key", THREADS);
}

static void test_cap(void)
{
	char key[32];
	int interned = 0, refused = 0;

	/* 1 + KEYS are in; fill up to the cap and one past it. */
	for (int k = 0; k < POLCTX_MAX; k++) {
		int len = snprintf(key, sizeof(key), "cap %d", k);
		struct polctx *c = make();
		const struct polctx *r = polctx_intern(TA, key, (size_t)len, c);
		if (r == c)
			interned++;
		else if (r == NULL) {
			refused++;
			polctx_free(c);
		}
	}
	ok(interned == POLCTX_MAX - 1 - KEYS, "interned up to the cap (%d)", interned);
	ok(refused == 1 + KEYS, "then refused (%d)", refused);
	ok(polctx_find(TA, "cap 0", 5) != NULL, "those interned stay");
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	pol[0] = compile("app:a", "policy: {actions: process.send, resources: '*', effect: allow}\n");
	pol[1] = compile("app:b", "policy: {actions: [process.spawn], resources: '*', effect: deny}\n");
	pol[2] = compile("app:c", "policy: {actions: 'process.*', resources: '{app:system|*', effect: deny}\n");
	ok(pol[0] && pol[1] && pol[2], "policies compile");
	test_intern();
	test_threads();
	test_cap();
	reg__arena_free(&arena);
	yamltext_cleanup(tmpdir);
	return tap_done();
}
