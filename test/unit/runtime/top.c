/*
** test/unit/runtime/top.c: `wippy top`'s reading of a scrape and of its
** URL: per-shard counters summed by shard (the HTTP responses' status
** classes into one figure), the busiest processes by pid and entry even
** though a pid holds braces, quoted escapes, lines it does not know left
** alone; and the URL forms it takes and refuses. The frame's rates come
** from two samples, the collector's steps among them (a dash when the
** scrape has none).
*/
#include "runtime/top.h"

#include <string.h>

#include "tap.h"

static const char scrape[] =
	"# HELP app_hits_total Hits.\n"
	"# TYPE app_hits_total counter\n"
	"app_hits_total{shard=\"9\"} 5\n"
	"wippy_processes_alive 7\n"
	"wippy_lua_heap_bytes 2097152\n"
	"wippy_shard_run_queue{shard=\"0\"} 3\n"
	"wippy_shard_run_queue{shard=\"1\"} 1\n"
	"wippy_shard_tasks_run_total{shard=\"1\"} 1000\n"
	"wippy_lua_gc_steps_total{shard=\"0\"} 50\n"
	"wippy_lua_gc_steps_total{shard=\"1\"} 7\n"
	"wippy_server_http_responses_total{shard=\"0\",code=\"2xx\"} 40\n"
	"wippy_server_http_responses_total{shard=\"0\",code=\"4xx\"} 2\n"
	"wippy_process_steps_total{pid=\"{app:p|0x00002}\",entry=\"app:w\"} 300\n"
	"wippy_process_steps_total{pid=\"{app:p|0x00001}\",entry=\"app:\\\"q\\\"\"} 100\n"
	"wippy_process_heap_bytes{pid=\"{app:p|0x00002}\",entry=\"app:w\"} 4096\n";

static void test_parse(void)
{
	static struct top_sample s;
	top_parse(scrape, &s);
	ok(s.alive == 7 && s.heap == 2097152, "alive and heap (%g, %g)", s.alive, s.heap);
	ok(s.nshards == 2, "shards from the shard labels the frame knows (%d)", s.nshards);
	ok(s.shard[0][F_RUNQ] == 3 && s.shard[1][F_RUNQ] == 1, "run queues by shard");
	ok(s.shard[0][F_HTTP] == 42, "HTTP responses summed over the classes (%g)",
	   s.shard[0][F_HTTP]);
	ok(s.shard[1][F_TASKS] == 1000, "tasks run");
	ok(s.gc_counted && s.shard[0][F_GC] == 50 && s.shard[1][F_GC] == 7,
	   "collector steps by shard (%g, %g)", s.shard[0][F_GC], s.shard[1][F_GC]);
	ok(s.nprocs == 2, "two processes (%d)", s.nprocs);
	ok(!strcmp(s.procs[0].pid, "{app:p|0x00002}") && !strcmp(s.procs[0].entry, "app:w") &&
	   s.procs[0].steps == 300 && s.procs[0].heap == 4096,
	   "a pid with braces, its steps and heap (%s %s)", s.procs[0].pid, s.procs[0].entry);
	ok(!strcmp(s.procs[1].entry, "app:\"q\""), "escaped quotes read back (%s)",
	   s.procs[1].entry);
}

static void test_rates(void)
{
	static struct top_sample a, b;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	top_parse(scrape, &a);
	top_parse(scrape, &b);
	a.t = 10;
	b.t = 12;
	b.shard[1][F_TASKS] = 3000;
	b.shard[0][F_GC] = 350;
	b.procs[0].steps = 500;
	top_render(f, "http://h/metrics", &a, &b, 0);
	fclose(f);
	ok(strstr(out, "\n    1      1      1000 ") != NULL, "tasks/s from two samples");
	if (strstr(out, "\n    1      1      1000 ") == NULL)
		fputs(out, stdout);
	ok(strstr(out, "{app:p|0x00002}") && strstr(out, " 100 ") &&
	   strstr(out, "4.0\n"), "steps/s and heap KB of the busiest");
	ok(strstr(out, "\033[2J") == NULL, "no escape codes without a terminal");
	ok(strstr(out, " GC/s\n") && strstr(out, "      150\n    1 "),
	   "GC steps/s of shard 0: (350 - 50) / 2 s");
	free(out);
	/* A runtime that does not count them (built on the shared liblua):
	** a dash, not a rate of zero. */
	top_parse("wippy_shard_run_queue{shard=\"0\"} 1\n", &a);
	top_parse("wippy_shard_run_queue{shard=\"0\"} 1\n", &b);
	a.t = 1;
	b.t = 2;
	out = NULL;
	f = open_memstream(&out, &len);
	top_render(f, "http://h/metrics", &a, &b, 0);
	fclose(f);
	ok(!b.gc_counted && strstr(out, "       -\n") != NULL, "no GC figure: a dash");
	free(out);
}

static void test_url(void)
{
	struct top_url u;
	char why[256];
	ok(top_parse_url("http://127.0.0.1:8080/metrics", &u, why, sizeof(why)) == 0 &&
	   !strcmp(u.host, "127.0.0.1") && !strcmp(u.port, "8080") && !strcmp(u.path, "/metrics"),
	   "host, port and path");
	ok(top_parse_url("http://localhost", &u, why, sizeof(why)) == 0 &&
	   !strcmp(u.port, "80") && !strcmp(u.path, "/metrics"), "defaults: port 80, /metrics");
	ok(top_parse_url("https://x/m", &u, why, sizeof(why)) < 0 && strstr(why, "http://"),
	   "https refused: %s", why);
	ok(top_parse_url("http://:80/m", &u, why, sizeof(why)) < 0 && strstr(why, "no host"),
	   "no host: %s", why);
	ok(top_parse_url("http://h:8x/m", &u, why, sizeof(why)) < 0 && strstr(why, "bad port"),
	   "bad port: %s", why);
}

int main(void)
{
	test_parse();
	test_rates();
	test_url();
	return tap_done();
}
