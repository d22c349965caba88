/*
** runtime/main.c: the `wippy` command line.
**
**   wippy init [-d SRC] [--modules-dir DIR] [-l LOCK]
**   wippy run [-x NS:ENTRY | -x HOST/NS:ENTRY] [--host ID] [-v] [-s]
**             [--config FILE]... [--shards N] [--log-format text|json]
**             [--stop-timeout D] [--proc-memory-limit BYTES]
**             [--node NAME] [--cluster nats://HOST:PORT] [args...]
**   wippy lint
**   wippy version
**
** Boot order: the knobs (runtime/conf.c: defaults, then .wippy.yaml or
** each --config FILE, then flags), read wippy.lock, load and validate the registry (errors name
** file:line:col; nothing starts on any error), compile every Lua entry,
** start the shards, start the auto_start services, then run the -x process
** if asked. SIGINT/SIGTERM (or the end of the -x process) begins shutdown:
** every process gets a CANCEL event, the runtime waits up to the stop
** timeout, terminates what is left, and exits; what cannot be stopped is
** abandoned (logged, exit 1) within a second of the stop timeout, and a
** second SIGINT or SIGTERM exits at once with 128 + its number (runtime/rt.c).
*/
#include <errno.h>
#include <getopt.h>
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/common.h"
#include "engine/shard.h"
#include "lua_modules/errors.h"
#include "runtime/env.h"
#include "runtime/log.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/registry.h"
#include "runtime/rt.h"
#include "lua_modules/linit.h"
#include "runtime/code.h"
#include "runtime/conf.h"
#include "runtime/service.h"
#include "runtime/testrun.h"
#include "runtime/top.h"

#define VERSION "0.1.0"

static void usage(FILE *f)
{
	const struct conf_key *k;
	size_t n;
	char d[64];

	fputs("usage: wippy <command> [options]\n"
	      "  init [-d SRC] [--modules-dir DIR] [-l LOCK]  write wippy.lock\n"
	      "  run [-x NS:ENTRY] [--host ID] [-v|-s] [--config FILE]... [args...]\n"
	      "                                 boot the registry and run it\n"
	      "  lint                           validate the registry, start nothing\n"
	      "  test [--filter S] [--timeout D] run the function.lua entries with meta.type: test\n"
	      "  top URL [-n N] [--interval S]  watch a running runtime's shards and busiest\n"
	      "                                 processes through a service's metrics: path\n"
	      "  version                        print the version\n"
	      "run options over the config files (.wippy.yaml, or each --config FILE):\n", f);
	/* From the knob table, so the help shows the defaults the code uses. */
	k = conf_keys(&n);
	for (size_t i = 0; i < n; i++) {
		if (k[i].flag == NULL)
			continue;
		fprintf(f, "  %-22s %s (%s, default %s)\n", k[i].flag, k[i].why, k[i].key,
			conf_format(&k[i], k[i].def, d, sizeof(d)));
	}
	fputs("  -v, -s                 debug logs, no logs (logmanager.min_level)\n"
	      "every setting and its default: conf/wippy.yaml\n", f);
}

/* {==== Lock file and registry ====} */

static int cmd_init(int argc, char **argv)
{
	const char *src = "./src", *mods = ".wippy", *lock = "wippy.lock";
	static const struct option opts[] = {
		{"src-dir", required_argument, 0, 'd'},
		{"modules-dir", required_argument, 0, 'm'},
		{"lock-file", required_argument, 0, 'l'},
		{0, 0, 0, 0}
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:m:l:", opts, NULL)) != -1) {
		if (c == 'd') src = optarg;
		else if (c == 'm') mods = optarg;
		else if (c == 'l') lock = optarg;
		else { usage(stderr); return 2; }
	}
	if (access(lock, F_OK) == 0) {
		fprintf(stderr, "wippy: %s already exists\n", lock);
		return 0;
	}
	int rc = reg_lock_write(lock, src, mods);
	if (rc < 0) {
		fprintf(stderr, "wippy: cannot write %s: %s\n", lock, strerror(-rc));
		return 1;
	}
	printf("wrote %s (src: %s, modules: %s)\n", lock, src, mods);
	return 0;
}

/* Print each line of a warning list to stderr as "warning: LINE". */
static void print_warnings(const struct reg_error *w)
{
	const char *p = w->msg;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		fprintf(stderr, "warning: %.*s\n", len, p);
		p += len + (nl != NULL);
	}
}

/* wippy lint: load and compile everything, start nothing. Errors exit 1;
** warnings (kinds this runtime ignores, modules: names it does not
** provide) are printed and counted but the exit stays 0, as in the
** original's lint. */
static int cmd_lint(void)
{
	struct registry *reg;
	struct reg_error mods;
	struct rt rt;
	if (rt_load_registry("wippy.lock", &reg, NULL) < 0)
		return 1;
	int nwarn = reg_warnings(reg)->count + reg_check_modules(reg, code_provides, &mods);
	print_warnings(reg_warnings(reg));
	print_warnings(&mods);
	reg_error_free(&mods);
	memset(&rt, 0, sizeof(rt));
	rt.reg = reg;
	int bad = code_compile_all(&rt);
	code_free_all(&rt);
	size_t n = reg_count(reg);
	reg_free(reg);
	if (bad) {
		fprintf(stderr, "wippy: %d Lua source%s failed to compile\n", bad, bad == 1 ? "" : "s");
		return 1;
	}
	if (nwarn)
		printf("ok: %zu entries, %d warning%s\n", n, nwarn, nwarn == 1 ? "" : "s");
	else
		printf("ok: %zu entries\n", n);
	return 0;
}

/* {==== The -x process ====} */

/* Exit code from the terminal process's result (spec 2): runs in a pcall
** on the dying process's state. */
static int terminal_result(lua_State *L)
{
	struct proc *p = lua_touserdata(L, 1);
	struct rt *rt = p->rt;
	int code = 0;
	lua_getfield(L, LUA_REGISTRYINDEX, "wippy.result");
	if (lua_istable(L, -1)) {
		if (lua_getfield(L, -1, "error") != LUA_TNIL) {
			fprintf(stderr, "error: %s\n", luaL_tolstring(L, -1, NULL));
			code = 1;
		} else {
			lua_pop(L, 1);
			lua_getfield(L, -1, "value");
			switch (lua_type(L, -1)) {
			case LUA_TNUMBER: {
				double d = lua_tonumber(L, -1);
				code = isfinite(d) ? (int)d : 1;
				break;
			}
			case LUA_TBOOLEAN:
				code = lua_toboolean(L, -1) ? 0 : 1;
				break;
			case LUA_TSTRING:
				fputs(lua_tostring(L, -1), stdout);
				fputc('\n', stdout);
				fflush(stdout);
				break;
			default:
				break;
			}
		}
	} else if (p->exit_error) {
		fprintf(stderr, "error: %s\n", p->exit_msg ? p->exit_msg : "process failed");
		code = 1;
	}
	atomic_store(&rt->exit_code, code);
	return 0;
}

static void terminal_exit(struct proc *p, void *arg)
{
	struct rt *rt = arg;
	if (p->L) {
		lua_pushcfunction(p->L, terminal_result);
		lua_pushlightuserdata(p->L, p);
		if (lua_pcall(p->L, 1, 0, 0) != LUA_OK)
			atomic_store(&rt->exit_code, 1);
	} else {
		fprintf(stderr, "error: %s\n", p->exit_msg ? p->exit_msg : "process failed");
		atomic_store(&rt->exit_code, 1);
	}
	/* A command-line run ends when its process does: services get their
	** CANCEL and a short grace (the full stop timeout only when given
	** explicitly, by shutdown.timeout or --stop-timeout), not the full
	** default wait after the output. */
	rt_begin_shutdown(rt, "terminal process finished",
		       rt->stop_timeout_set ? rt->stop_timeout_ns : 1000000000LL);
}

/* Resolve -x: "ns:entry" or the older "host/ns:entry". */
static int resolve_exec(struct rt *rt, const char *spec, const char *host_opt,
			const struct reg_entry **entry, struct host **host)
{
	char buf[512];
	const char *proc_id = spec, *host_id = host_opt;
	const char *slash = strchr(spec, '/');

	if (slash) {
		size_t n = (size_t)(slash - spec);
		if (n >= sizeof(buf)) n = sizeof(buf) - 1;
		memcpy(buf, spec, n);
		buf[n] = '\0';
		host_id = buf;
		proc_id = slash + 1;
	}
	if (strchr(proc_id, ':') == NULL) {
		fprintf(stderr, "wippy: invalid exec spec '%s' (want namespace:entry)\n", spec);
		return -1;
	}
	*entry = reg_find(rt->reg, proc_id);
	if (*entry == NULL || !reg_kind_is_process((*entry)->k)) {
		fprintf(stderr, "wippy: %s: no process.lua entry with that id\n", proc_id);
		return -1;
	}
	if (host_id) {
		*host = rt_host(rt, host_id);
		if (*host == NULL || !(*host)->terminal) {
			fprintf(stderr, "wippy: %s: no terminal.host with that id\n", host_id);
			return -1;
		}
		return 0;
	}
	*host = NULL;
	for (int i = 0; i < rt->nhosts; i++) {
		if (!rt->hosts[i].terminal)
			continue;
		if (*host) {
			fprintf(stderr, "wippy: multiple terminal hosts found, use --host\n");
			return -1;
		}
		*host = &rt->hosts[i];
	}
	if (*host == NULL) {
		fprintf(stderr, "wippy: no terminal.host found\n");
		return -1;
	}
	return 0;
}

static int spawn_exec(struct rt *rt, const struct reg_entry *e, struct host *h)
{
	struct spawn_opts o;
	struct payload args;
	const char *err = NULL;
	lua_State *L = luaL_newstate();

	for (int i = 0; i < rt->nargs; i++)
		lua_pushstring(L, rt->args[i]);
	memset(&args, 0, sizeof(args));
	payload_encode(L, 1, rt->nargs, &args);
	lua_close(L);
	memset(&o, 0, sizeof(o));
	o.entry = e;
	o.host = h;
	o.terminal = 1;
	o.on_exit = terminal_exit;
	o.on_exit_arg = rt;
	struct proc *p = proc_spawn(rt, &o, &args, &err);
	if (p == NULL) {
		payload_free(&args);
		fprintf(stderr, "wippy: cannot start %s: %s\n", e->id, err);
		return -1;
	}
	proc_unref(p);
	return 0;
}

/* {==== run ====} */

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"exec", required_argument, 0, 'x'},
		{"host", required_argument, 0, 'H'},
		{"config", required_argument, 0, 'C'},
		{"shards", required_argument, 0, 'n'},
		{"log-format", required_argument, 0, 'f'},
		{"stop-timeout", required_argument, 0, 't'},
		{"proc-memory-limit", required_argument, 0, 'M'},
		{"node", required_argument, 0, 'N'},
		{"cluster", required_argument, 0, 'K'},
		{"verbose", no_argument, 0, 'v'},
		{"silent", no_argument, 0, 's'},
		{"console", no_argument, 0, 'c'},
		{0, 0, 0, 0}
	};
	/* Flags that set a knob, kept until the config files are read: flags
	** override files whatever their order on the command line. */
	struct { const char *key, *text; } set[16];
	int nset = 0, nfiles = 0, level = -1, c, code;
	char **files = xcalloc((size_t)argc + 1, sizeof(*files));
	const char *exec = NULL, *host_opt = NULL;
	struct reg_error warn = {0};
	struct conf conf;
	char why[256];
	struct rt *rt;
	const struct reg_entry *xentry = NULL;
	struct host *xhost = NULL;

	optind = 1;
	/* "+": stop at the first non-option, which starts the process args. */
	while ((c = getopt_long(argc, argv, "+x:vsc", opts, NULL)) != -1) {
		const char *key = NULL;
		switch (c) {
		case 'x': exec = optarg; break;
		case 'H': host_opt = optarg; break;
		case 'C': files[nfiles++] = optarg; break;
		case 'v': level = LOG_LEVEL_DEBUG; break;
		case 's': level = LOG_LEVEL_SILENT; break;
		case 'c': break;
		case 'n': key = "scheduler.shards"; break;
		case 'f': key = "logmanager.format"; break;
		case 't': key = "shutdown.timeout"; break;
		case 'M': key = "process.memory_limit"; break;
		case 'N': key = "cluster.node"; break;
		case 'K': /* --cluster URL: the server, and joining it */
			key = "cluster.nats";
			if (nset < (int)countof(set)) {
				set[nset].key = "cluster.enabled";
				set[nset++].text = "true";
			}
			break;
		default:
			usage(stderr);
			free(files);
			return 2;
		}
		if (key && nset < (int)countof(set)) {
			set[nset].key = key;
			set[nset++].text = optarg;
		}
	}
	conf_defaults(&conf);
	code = conf_load(&conf, files, nfiles, &warn);
	free(files);
	for (int i = 0; code == 0 && i < nset; i++) {
		if (conf_set(&conf, set[i].key, set[i].text, why, sizeof(why)) < 0) {
			fprintf(stderr, "wippy: invalid %s '%s': %s\n",
				conf_find(set[i].key)->flag, set[i].text, why);
			code = 2;
		}
	}
	if (code != 0) {
		reg_error_free(&warn);
		return code < 0 ? 1 : code;
	}
	if (level >= 0)
		conf.log_level = level;
	log_configure((enum log_level)conf.log_level, (enum log_format)conf.log_format, 2);
	log_warn_lines(warn.msg);
	reg_error_free(&warn);
	struct rt_opts bo = {
		.conf = &conf, .args = argv + optind, .nargs = argc - optind,
	};
	rt = rt_boot(&bo);
	if (rt == NULL)
		return 1;
	if ((exec && resolve_exec(rt, exec, host_opt, &xentry, &xhost) < 0) ||
	    rt_start(rt) < 0) {
		rt_free(rt);   /* frees a runtime that never started too */
		return 1;
	}
	if (service_start_all(rt) < 0 || (exec && spawn_exec(rt, xentry, xhost) < 0)) {
		rt_begin_shutdown(rt, "boot failed", 1000000000LL);
		atomic_store(&rt->exit_code, 1);
	}
	code = rt_wait(rt);
	rt_free(rt);
	return code;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* The runtime names no Lua library: hand it ours, as lua.c calls
	** luaL_openlibs. */
	linit_init();
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "lint") == 0)
		return cmd_lint();
	if (strcmp(argv[1], "top") == 0)
		return top_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "test") == 0)
		return testrun_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("wippy %s\n", VERSION);
		return 0;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "wippy: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
