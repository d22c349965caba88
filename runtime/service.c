/*
** runtime/service.c: the supervisor of process.service entries.
**
** Each service has one record. Its process's exit callback runs on the
** shard that ran the process; a restart is a wheel timer on that shard
** which spawns the next incarnation. Incarnations never overlap, so the
** record is touched by one thread at a time, each hand-over ordered by the
** spawn (a shard post) or the exit (the same thread).
**
** Policy (spec 1.3/1.4): a clean exit is final (Exited); an error exit is
** retried after initial_delay * backoff_factor^attempt, capped at
** max_delay, with +/- jitter; max_attempts 0 retries forever. A run longer
** than stable_threshold resets the attempt count.
*/
#include "service.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "log.h"
#include "payload.h"
#include "proc.h"
#include "registry.h"
#include "rt.h"

struct service {
	struct rt *rt;
	const struct reg_entry *e;
	struct wheel_timer restart;
	struct task start_task;
	int attempts;
	uint64_t started_ms;
	struct payload input;   /* encoded `input:` list, copied per start */
	atomic_int stopped;
};

static struct service *services;
static size_t nservices;

static void start(struct service *s);

static void restart_fired(struct wheel_timer *t)
{
	struct service *s = container_of(t, struct service, restart);
	start(s);
}

static void service_exited(struct proc *p, void *arg)
{
	struct service *s = arg;
	uint64_t now = common_now_ms();
	const struct reg_lifecycle *lc = &s->e->lifecycle;

	if (!p->exit_error) {
		log_printf(LOG_LEVEL_INFO, NULL, "service %s exited", s->e->id);
		return;
	}
	if (atomic_load(&s->stopped) || atomic_load(&s->rt->stopping))
		return;
	if ((int64_t)(now - s->started_ms) * 1000000 >= lc->stable_threshold)
		s->attempts = 0;
	s->attempts++;
	if (lc->restart.max_attempts > 0 && s->attempts > lc->restart.max_attempts) {
		log_printf(LOG_LEVEL_ERROR, NULL, "service %s gave up after %d attempts: %s",
			   s->e->id, s->attempts - 1, p->exit_msg ? p->exit_msg : "error");
		return;
	}
	double delay = (double)lc->restart.initial_delay *
		       pow(lc->restart.backoff_factor, s->attempts - 1);
	if (delay > (double)lc->restart.max_delay)
		delay = (double)lc->restart.max_delay;
	if (lc->restart.jitter > 0)
		delay *= 1.0 + lc->restart.jitter * (2.0 * drand48() - 1.0);
	uint64_t ms = (uint64_t)(delay / 1e6);
	log_printf(LOG_LEVEL_WARN, NULL, "service %s failed, restarting in %llu ms "
		   "(attempt %d): %s", s->e->id, (unsigned long long)ms, s->attempts,
		   p->exit_msg ? p->exit_msg : "error");
	wheel_timer_init(&s->restart, restart_fired);
	shard_timer_add(&s->restart, shard_now_ms(shard_self()) + ms);
}

static void start(struct service *s)
{
	struct rt *rt = s->rt;
	struct spawn_opts o;
	struct payload args;
	const char *err = NULL;
	struct host *h = rt_host(rt, s->e->u.service.host->id);

	if (atomic_load(&s->stopped) || atomic_load(&rt->stopping))
		return;
	memset(&o, 0, sizeof(o));
	o.entry = s->e->u.service.process;
	o.host = h;
	o.on_exit = service_exited;
	o.on_exit_arg = s;
	args = s->input;
	if (s->input.len > PAYLOAD_INLINE) {
		args._u.heap = xmalloc(s->input.len);
		memcpy(args._u.heap, s->input._u.heap, s->input.len);
	}
	s->started_ms = common_now_ms();
	struct proc *p = proc_spawn(rt, &o, &args, &err);
	if (p == NULL) {
		payload_free(&args);
		log_printf(LOG_LEVEL_ERROR, NULL, "service %s: cannot start: %s", s->e->id, err);
		return;
	}
	log_printf(LOG_LEVEL_DEBUG, NULL, "service %s started as %s", s->e->id, p->pidstr);
	proc_unref(p);
}

/* Push a registry value as a Lua value. */
static void push_value(lua_State *L, const struct reg_value *v)
{
	switch (v->type) {
	case REG_NULL: lua_pushnil(L); break;
	case REG_BOOL: lua_pushboolean(L, v->b); break;
	case REG_INT: lua_pushinteger(L, v->i); break;
	case REG_FLOAT: lua_pushnumber(L, v->f); break;
	case REG_STR: lua_pushstring(L, v->str); break;
	case REG_SEQ:
		lua_createtable(L, (int)v->n, 0);
		for (size_t i = 0; i < v->n; i++) {
			push_value(L, v->items[i]);
			lua_seti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case REG_MAP:
		lua_createtable(L, 0, (int)v->n);
		for (size_t i = 0; i < v->n; i++) {
			push_value(L, v->items[i]);
			lua_setfield(L, -2, v->keys[i]);
		}
		break;
	}
}

static int encode_input(struct service *s)
{
	const struct reg_value *in = s->e->u.service.input;
	lua_State *L;
	int n = 0, rc;
	memset(&s->input, 0, sizeof(s->input));
	if (in == NULL)
		return 0;
	L = luaL_newstate();
	if (in->type == REG_SEQ) {
		for (size_t i = 0; i < in->n; i++)
			push_value(L, in->items[i]);
		n = (int)in->n;
	} else {
		push_value(L, in);
		n = 1;
	}
	rc = payload_encode(L, 1, n, &s->input);
	lua_close(L);
	return rc;
}

struct starter { struct task t; struct service *s; };

int service_start_all(struct rt *rt)
{
	struct reg_entry **order = NULL;
	size_t n = 0;
	struct reg_error err = {0};

	if (reg_service_order(rt->reg, &order, &n, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg ? err.msg : "service order error");
		reg_error_free(&err);
		return -1;
	}
	services = xcalloc(n + 1, sizeof(*services));
	nservices = 0;
	for (size_t i = 0; i < n; i++) {
		struct reg_entry *e = order[i];
		if (e->k != REG_K_PROCESS_SERVICE)
			continue;
		struct service *s = &services[nservices++];
		s->rt = rt;
		s->e = e;
		if (encode_input(s) < 0) {
			fprintf(stderr, "%s: cannot encode input\n", e->id);
			free(order);
			return -1;
		}
	}
	free(order);
	/* Dependency order: each start is posted in turn; `requires` only
	** orders starts here (a started process is Running for the spec's
	** purposes as soon as it is scheduled). */
	for (size_t i = 0; i < nservices; i++)
		if (services[i].e->lifecycle.auto_start)
			start(&services[i]);
	return 0;
}

void service_stop_all(struct rt *rt)
{
	(void)rt;
	for (size_t i = 0; i < nservices; i++)
		atomic_store(&services[i].stopped, 1);
}

void service_free_all(struct rt *rt)
{
	(void)rt;
	for (size_t i = 0; i < nservices; i++)
		payload_free(&services[i].input);
	free(services);
	services = NULL;
	nservices = 0;
}
