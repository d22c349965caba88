/*
** runtime/testrun.c: `wippy test [--filter S] [--timeout D] [--shards N]
** [--config FILE]...`.
**
** Boots the app like `wippy run` (services start), then runs every
** function.lua entry with meta.type "test", one at a time, in its own
** process on the `wippy:tests` host (so it can spawn, monitor and receive
** events). A test passes by returning normally (nothing or true) and fails
** by raising, returning false, or returning nil, err. Each has a timeout
** (default 30 s, or meta.timeout), after which it is terminated. One line
** per test, then "N passed, N failed"; exit 1 if any failed.
**
** The runner is a task on shard 0 with the timeout timer in shard 0's
** wheel. A test's exit callback runs on the test's shard: it records the
** outcome and posts the runner, which moves on.
*/
#include "testrun.h"

#include <getopt.h>
#include <lauxlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/shard.h"
#include "runtime/conf.h"
#include "runtime/gotime.h"
#include "runtime/log.h"
#include "proc.h"
#include "registry.h"
#include "rt.h"
#include "service.h"

struct trun {
	struct rt *rt;
	const struct reg_entry **tests;
	int n, next;
	int passed, failed;
	struct task task;
	struct wheel_timer timer;
	int64_t timeout_ns;
	uint64_t cur_pid;
	uint64_t started_ns;
	atomic_int timed_out;
};

static struct trun run;

static void next_test(struct trun *r);

/* Outcome from the dying test's result: runs in a pcall on its state. */
static int outcome(lua_State *L)
{
	struct proc *p = lua_touserdata(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, "wippy.result");
	if (!lua_istable(L, -1)) {
		lua_pushstring(L, p->exit_msg ? p->exit_msg : "failed");
		return 1;
	}
	if (lua_getfield(L, -1, "error") != LUA_TNIL) {
		luaL_tolstring(L, -1, NULL);
		return 1;
	}
	lua_pop(L, 1);
	lua_getfield(L, -1, "value");
	if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
		lua_pushliteral(L, "returned false");
		return 1;
	}
	lua_pushnil(L);
	return 1;
}

static void test_exited(struct proc *p, void *arg)
{
	struct trun *r = arg;
	const char *why = NULL;
	double ms = (double)(common_now_ns() - r->started_ns) / 1e6;

	if (p->L) {
		lua_settop(p->L, 0);
		lua_pushcfunction(p->L, outcome);
		lua_pushlightuserdata(p->L, p);
		if (lua_pcall(p->L, 1, 1, 0) != LUA_OK || !lua_isnil(p->L, -1))
			why = lua_tostring(p->L, -1);
	} else if (p->exit_error) {
		why = p->exit_msg ? p->exit_msg : "failed";
	}
	if (atomic_load(&r->timed_out))
		why = "timed out";
	if (why) {
		r->failed++;
		printf("  FAIL  %-50s %8.1f ms\n        %s\n", p->entry->id, ms, why);
	} else {
		r->passed++;
		printf("  PASS  %-50s %8.1f ms\n", p->entry->id, ms);
	}
	fflush(stdout);
	if (p->L)
		lua_settop(p->L, 0);
	shard_post(engine_shard(r->rt->engine, 0), &r->task);
}

/* On shard 0: the current test ran out of time. */
static void timed_out(struct wheel_timer *t)
{
	struct trun *r = container_of(t, struct trun, timer);
	struct msg *m = msg_new(MSG_TERMINATE, 0, NULL);
	atomic_store(&r->timed_out, 1);
	proc_send(r->rt, r->cur_pid, m);
}

static void runner(struct task *t)
{
	struct trun *r = container_of(t, struct trun, task);
	if (wheel_is_active(&r->timer))
		shard_timer_cancel(&r->timer);
	next_test(r);
}

static int64_t test_timeout(const struct trun *r, const struct reg_entry *e)
{
	const char *s = reg_value_text(e->meta, "timeout");
	int64_t ns;
	if (s && gotime_parse_duration(s, strlen(s), &ns, NULL) == 0 && ns > 0)
		return ns;
	return r->timeout_ns;
}

static void next_test(struct trun *r)
{
	struct rt *rt = r->rt;
	while (r->next < r->n) {
		const struct reg_entry *e = r->tests[r->next++];
		struct spawn_opts o;
		struct payload none;
		const char *err = NULL;

		memset(&o, 0, sizeof(o));
		memset(&none, 0, sizeof(none));
		o.entry = e;
		o.host = rt_host(rt, "wippy:tests");
		o.on_exit = test_exited;
		o.on_exit_arg = r;
		atomic_store(&r->timed_out, 0);
		r->started_ns = common_now_ns();
		struct proc *p = proc_spawn(rt, &o, &none, &err);
		if (p == NULL) {
			r->failed++;
			printf("  FAIL  %-50s cannot start: %s\n", e->id, err);
			continue;
		}
		r->cur_pid = p->pid;
		proc_unref(p);
		wheel_timer_init(&r->timer, timed_out);
		shard_timer_add(&r->timer, shard_now_ms(shard_self()) +
				(uint64_t)(test_timeout(r, e) / 1000000));
		return;
	}
	printf("\n%d passed, %d failed\n", r->passed, r->failed);
	fflush(stdout);
	atomic_store(&rt->exit_code, r->failed ? 1 : 0);
	rt_begin_shutdown(rt, "tests finished", 1000000000LL);
}

static int matches(const struct reg_entry *e, const char *filter)
{
	const char *suite;
	if (filter == NULL)
		return 1;
	if (strstr(e->id, filter))
		return 1;
	suite = reg_value_str(e->meta, "suite");
	return suite && strstr(suite, filter);
}

int testrun_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"filter", required_argument, 0, 'f'},
		{"timeout", required_argument, 0, 't'},
		{"shards", required_argument, 0, 'n'},
		{"config", required_argument, 0, 'C'},
		{0, 0, 0, 0}
	};
	const char *filter = NULL, *shards = NULL;
	int64_t timeout = 30LL * 1000000000LL;
	int nfiles = 0, c;
	char **files = xcalloc((size_t)argc + 1, sizeof(*files));
	struct reg_error warn = {0};
	struct conf conf;
	char why[256];
	struct rt_opts bo;
	const struct reg_entry *e = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:t:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'f': filter = optarg; break;
		case 'n': shards = optarg; break;
		case 'C': files[nfiles++] = optarg; break;
		case 't':
			if (gotime_parse_duration(optarg, strlen(optarg), &timeout, NULL) < 0 || timeout <= 0) {
				fprintf(stderr, "wippy: invalid --timeout '%s'\n", optarg);
				free(files);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: wippy test [--filter S] [--timeout D] [--shards N] [--config FILE]...\n");
			free(files);
			return 2;
		}
	}
	/* The same knobs as `wippy run`: defaults, config files, then flags. */
	conf_defaults(&conf);
	c = conf_load(&conf, files, nfiles, &warn);
	free(files);
	if (c < 0) {
		reg_error_free(&warn);
		return 1;
	}
	if (shards && conf_set(&conf, "scheduler.shards", shards, why, sizeof(why)) < 0) {
		fprintf(stderr, "wippy: invalid --shards '%s': %s\n", shards, why);
		reg_error_free(&warn);
		return 2;
	}
	log_configure((enum log_level)conf.log_level, (enum log_format)conf.log_format, 2);
	for (const char *p = warn.msg; p && *p;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		log_warn("%.*s", len, p);
		p += len + (nl != NULL);
	}
	reg_error_free(&warn);
	memset(&bo, 0, sizeof(bo));
	bo.conf = &conf;
	run.rt = rt_boot(&bo);
	if (run.rt == NULL)
		return 1;
	run.timeout_ns = timeout;
	run.tests = xcalloc(reg_count(run.rt->reg) + 1, sizeof(*run.tests));
	while ((e = reg_next(run.rt->reg, e)) != NULL) {
		const char *type;
		if (e->k != REG_K_FUNCTION_LUA)
			continue;
		type = reg_value_str(e->meta, "type");
		if (type && strcmp(type, "test") == 0 && matches(e, filter))
			run.tests[run.n++] = e;
	}
	printf("running %d test%s\n", run.n, run.n == 1 ? "" : "s");
	fflush(stdout);
	run.task.run = runner;
	run.task.flags = TASK_PINNED;
	if (rt_start(run.rt) < 0) {
		rt_free(run.rt);
		free(run.tests);
		return 1;
	}
	if (service_start_all(run.rt) < 0)
		atomic_store(&run.rt->exit_code, 1);
	shard_post(engine_shard(run.rt->engine, 0), &run.task);
	int code = rt_wait(run.rt);
	rt_free(run.rt);
	free(run.tests);
	return code;
}
