/*
** runtime/conf.c: the knob table, its defaults, and the config file reader.
**
** Owns: every runtime default (the table below is the one place each is
** written), reading `.wippy.yaml` / --config files into a struct conf, and
** the text forms of the values (flags, help). It may not act on a value:
** the runtime, the preemption watchdog, the log and the HTTP server read
** theirs from the struct conf their caller hands over. It parses YAML only
** through runtime/yaml.h, and Go durations only through runtime/gotime.h.
**
** File format: nested mappings whose dotted paths are the table's keys
** (`shutdown: {timeout: 30s}` sets "shutdown.timeout"). A malformed file
** and a known key with a value of the wrong type or range are errors at
** the value's file:line:col; an unknown key is a warning naming it, so a
** `.wippy.yaml` written for the original runtime (which has many sections
** this runtime does not know) still boots.
*/
#include "runtime/conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/common.h"
#include "runtime/gotime.h"
#include "runtime/log.h"
#include "runtime/reg_int.h"
#include "runtime/registry.h"
#include "runtime/yaml.h"

#define US  1000LL
#define MS  1000000LL
#define SEC 1000000000LL

/* enum log_level and enum log_format, by index. */
static const char *const level_names[] = { "debug", "info", "warn", "error", "silent", NULL };
static const char *const format_names[] = { "text", "json", NULL };
static const char *const bool_names[] = { "false", "true", NULL };
_Static_assert(LOG_LEVEL_DEBUG == 0 && LOG_LEVEL_SILENT == 4, "level_names order");
_Static_assert(LOG_FORMAT_TEXT == 0 && LOG_FORMAT_JSON == 1, "format_names order");

#define AT(m) offsetof(struct conf, m)

/*
** The table. Keys the original runtime's .wippy.yaml has for the same knob
** keep its name (origin "original"); the rest are ours, in sections named
** after what they tune. Keep conf/wippy.yaml in step: test/unit/runtime/
** conf.c fails when a row and the file disagree.
*/
static const struct conf_key keys[] = {
	{ .key = "scheduler.shards", .type = CONF_INT, .off = AT(shards),
	  .def = 0, .min = 0, .max = 1024, .flag = "--shards", .origin = "wippy",
	  .why = "shard threads, one io_uring each; 0 means one per CPU" },
	{ .key = "scheduler.slice", .type = CONF_DUR, .off = AT(slice_ns),
	  .def = 2 * MS, .min = 1 * MS, .max = 10 * SEC, .origin = "wippy",
	  .why = "a process running this long without yielding is preempted" },
	{ .key = "scheduler.spin", .type = CONF_DUR, .off = AT(spin_ns),
	  .def = 50 * US, .min = 0, .max = 1 * MS, .origin = "wippy",
	  .why = "a shard that ran work polls for more this long before it sleeps" },
	{ .key = "scheduler.runaway_limit", .type = CONF_DUR, .off = AT(runaway_ns),
	  .def = 5 * SEC, .min = 1 * MS, .max = 3600 * SEC, .origin = "wippy",
	  .why = "code that cannot yield this long fails instead of holding a shard" },
	{ .key = "process.memory_limit", .type = CONF_SIZE, .off = AT(proc_mem_bytes),
	  .def = (int64_t)512 << 20, .min = 0, .max = INT64_MAX,
	  .flag = "--proc-memory-limit", .origin = "wippy",
	  .why = "Lua heap per process; past it the process fails, the runtime goes on (0: none)" },
	{ .key = "process.mailbox_warn", .type = CONF_INT, .off = AT(mailbox_warn),
	  .def = 100000, .min = 1, .max = INT64_MAX, .origin = "wippy",
	  .why = "a process with this many queued messages is logged once" },
	{ .key = "shutdown.timeout", .type = CONF_DUR, .off = AT(stop_timeout_ns),
	  .def = 10 * SEC, .min = 0, .max = INT64_MAX, .flag = "--stop-timeout",
	  .origin = "original",
	  .why = "grace between shutdown's CANCEL and terminating what is left" },
	{ .key = "logmanager.min_level", .type = CONF_ENUM, .off = AT(log_level),
	  .def = LOG_LEVEL_INFO, .names = level_names, .ints = 1, .int_base = -1,
	  .origin = "original",
	  .why = "least severe record written (-v: debug, -s: silent); also -1..2 as in the original" },
	{ .key = "logmanager.format", .type = CONF_ENUM, .off = AT(log_format),
	  .def = LOG_FORMAT_TEXT, .names = format_names, .flag = "--log-format",
	  .origin = "wippy",
	  .why = "log lines on stderr: text for people, json for collectors" },
	{ .key = "http.handler_pool.idle_max", .type = CONF_INT, .off = AT(http_pool_idle),
	  .def = 32, .min = 0, .max = 1 << 20, .origin = "wippy",
	  .why = "idle handler Lua states kept per shard and route for the next request" },
	{ .key = "http.max_connections", .type = CONF_INT, .off = AT(http_max_conns),
	  .def = 0, .min = 0, .max = 1 << 24, .origin = "wippy",
	  .why = "open HTTP connections per shard; past it a new one gets 503 and is closed "
		 "(0: the fd limit, less a reserve, shared by the shards)" },
	{ .key = "security.strict_mode", .type = CONF_ENUM, .off = AT(security_strict),
	  .def = 0, .names = bool_names, .origin = "original",
	  .why = "a process without an actor or a scope is denied every checked operation" },
	{ .key = "cluster.enabled", .type = CONF_ENUM, .off = AT(cluster_enabled),
	  .def = 0, .names = bool_names, .origin = "wippy",
	  .why = "join the cluster at cluster.nats (--cluster URL sets both)" },
	{ .key = "cluster.nats", .type = CONF_STR, .off = AT(cluster_nats),
	  .max = sizeof(((struct conf *)0)->cluster_nats), .flag = "--cluster",
	  .origin = "wippy",
	  .why = "NATS server URL of the cluster (JetStream on), e.g. nats://127.0.0.1:4222, or a comma-separated list of a NATS cluster's servers" },
	{ .key = "cluster.node", .type = CONF_STR, .off = AT(cluster_node),
	  .max = sizeof(((struct conf *)0)->cluster_node), .flag = "--node",
	  .origin = "wippy",
	  .why = "this node's name, unique in the cluster (default: the host name)" },
	{ .key = "cluster.heartbeat", .type = CONF_DUR, .off = AT(cluster_hb_ns),
	  .def = 1 * SEC, .min = 50 * MS, .max = 600 * SEC, .origin = "wippy",
	  .why = "presence refresh; a node silent for 3 heartbeats is down" },
};
_Static_assert(countof(keys) <= 32, "struct conf.given has 32 bits");

const struct conf_key *conf_keys(size_t *n)
{
	*n = countof(keys);
	return keys;
}

const struct conf_key *conf_find(const char *key)
{
	for (size_t i = 0; i < countof(keys); i++)
		if (strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

static int64_t *slot(struct conf *c, const struct conf_key *k)
{
	return (int64_t *)((char *)c + k->off);
}

void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < countof(keys); i++)
		if (keys[i].type != CONF_STR)
			*slot(c, &keys[i]) = keys[i].def;
}

int conf_given(const struct conf *c, const char *key)
{
	const struct conf_key *k = conf_find(key);
	return k && (c->given & (1u << (k - keys)));
}

/* {==== Values ====} */

/* "512M", "4K", "1048576", "1.5G", optionally with a trailing B / iB. */
static int parse_size(const char *s, int64_t *out)
{
	char *end;
	double v, mul = 1;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || v < 0 || errno)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	}
	if (mul > 1 && *end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v * mul >= 9.2e18)
		return -1;
	*out = (int64_t)(v * mul);
	return 0;
}

static const char *type_text(const struct conf_key *k)
{
	switch (k->type) {
	case CONF_INT:  return "an integer";
	case CONF_DUR:  return "a duration like \"10s\"";
	case CONF_SIZE: return "a size like 512M or a byte count";
	case CONF_STR:  return "a string";
	case CONF_ENUM: break;
	}
	return "one of the names";
}

/* Names of an enum row, "a, b or c", into buf. */
static const char *names_text(const struct conf_key *k, char *buf, size_t n)
{
	size_t len = 0, cnt = 0;

	while (k->names[cnt])
		cnt++;
	buf[0] = '\0';
	for (size_t i = 0; i < cnt && len < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s%s",
					i == 0 ? "" : i + 1 == cnt ? " or " : ", ", k->names[i]);
	return buf;
}

/* Range check and store. Returns 0 or -1 with why. */
static int store(struct conf *c, const struct conf_key *k, int64_t v,
		 char *why, size_t n)
{
	char a[GOTIME_DURATION_BUF + 16], b[GOTIME_DURATION_BUF + 16];

	if (k->type != CONF_ENUM && (v < k->min || v > k->max)) {
		if (k->max == INT64_MAX)
			snprintf(why, n, "%s: must be at least %s", k->key,
				 conf_format(k, k->min, a, sizeof(a)));
		else
			snprintf(why, n, "%s: must be between %s and %s", k->key,
				 conf_format(k, k->min, a, sizeof(a)),
				 conf_format(k, k->max, b, sizeof(b)));
		return -1;
	}
	*slot(c, k) = v;
	c->given |= 1u << (k - keys);
	return 0;
}

/*
** Decode row k from a scalar: text is its text, and when is_int the YAML
** reader typed it an integer i (flags pass their text only, is_int 0).
*/
static int decode(struct conf *c, const struct conf_key *k, const char *text,
		  int is_int, int64_t i, char *why, size_t n)
{
	char buf[96];
	int64_t v;
	char *end;

	switch (k->type) {
	case CONF_STR:
		if (strlen(text) >= (size_t)k->max) {
			snprintf(why, n, "%s: longer than %lld bytes", k->key,
				 (long long)k->max - 1);
			return -1;
		}
		memcpy((char *)c + k->off, text, strlen(text) + 1);
		c->given |= 1u << (k - keys);
		return 0;
	case CONF_INT:
		if (!is_int) {
			errno = 0;
			v = strtoll(text, &end, 10);
			if (*text == '\0' || *end || errno)
				goto type;
			return store(c, k, v, why, n);
		}
		return store(c, k, i, why, n);
	case CONF_DUR:
		if (is_int) {
			if (i != 0)
				goto type;	/* a unit is required, as in Go */
			return store(c, k, 0, why, n);
		}
		if (gotime_parse_duration(text, strlen(text), &v, NULL) < 0)
			goto type;
		return store(c, k, v, why, n);
	case CONF_SIZE:
		if (is_int)
			return store(c, k, i, why, n);
		if (parse_size(text, &v) < 0)
			goto type;
		return store(c, k, v, why, n);
	case CONF_ENUM:
		if (is_int || (k->ints && *text && strspn(text, "-0123456789") == strlen(text))) {
			if (!k->ints)
				goto type;
			v = is_int ? i : strtoll(text, NULL, 10);
			v -= k->int_base;
			for (int64_t j = 0; k->names[j]; j++)
				if (j == v)
					return store(c, k, v, why, n);
			goto type;
		}
		for (int64_t j = 0; k->names[j]; j++)
			if (strcmp(k->names[j], text) == 0)
				return store(c, k, j, why, n);
		snprintf(why, n, "%s: must be %s, got \"%s\"", k->key,
			 names_text(k, buf, sizeof(buf)), text);
		return -1;
	}
type:
	if (k->type == CONF_ENUM && k->ints) {
		int cnt = 0;
		while (k->names[cnt])
			cnt++;
		snprintf(why, n, "%s: must be %s, or %d to %d, got %s", k->key,
			 names_text(k, buf, sizeof(buf)), k->int_base, cnt - 1 + k->int_base, text);
	} else if (k->type == CONF_ENUM)
		snprintf(why, n, "%s: must be %s, got %s", k->key,
			 names_text(k, buf, sizeof(buf)), text);
	else
		snprintf(why, n, "%s: must be %s, got %s%s%s", k->key, type_text(k),
			 is_int ? "" : "\"", text, is_int ? "" : "\"");
	return -1;
}

int conf_set(struct conf *c, const char *key, const char *text,
	     char *why, size_t n)
{
	const struct conf_key *k = conf_find(key);

	if (k == NULL) {
		snprintf(why, n, "%s: no such setting", key);
		return -1;
	}
	return decode(c, k, text, 0, 0, why, n);
}

const char *conf_format(const struct conf_key *k, int64_t v, char *buf, size_t n)
{
	char d[GOTIME_DURATION_BUF];

	switch (k->type) {
	case CONF_INT:
		snprintf(buf, n, "%lld", (long long)v);
		break;
	case CONF_DUR:
		snprintf(buf, n, "%s", gotime_format_duration(v, d));
		break;
	case CONF_SIZE:
		if (v != 0 && v % (1LL << 30) == 0)
			snprintf(buf, n, "%lldG", (long long)(v >> 30));
		else if (v != 0 && v % (1LL << 20) == 0)
			snprintf(buf, n, "%lldM", (long long)(v >> 20));
		else if (v != 0 && v % (1LL << 10) == 0)
			snprintf(buf, n, "%lldK", (long long)(v >> 10));
		else
			snprintf(buf, n, "%lld", (long long)v);
		break;
	case CONF_ENUM:
		snprintf(buf, n, "%s", v >= 0 && k->names[v] ? k->names[v] : "?");
		break;
	case CONF_STR: /* only the default is formatted: none */
		snprintf(buf, n, "none");
		break;
	}
	return buf;
}

/* {==== Files ====} */

/* An error or warning at node v, "file:line:col: " then fmt. */
static void at(struct reg_error *list, const struct reg_value *v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void at(struct reg_error *list, const struct reg_value *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reg__vreport(list, NULL, v, fmt, ap);
	va_end(ap);
}

/* Is some row's key under the section path ("http" for "http.x.y")? */
static bool is_section(const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < countof(keys); i++)
		if (strncmp(keys[i].key, path, len) == 0 && keys[i].key[len] == '.')
			return true;
	return false;
}

/* Decode the mapping m whose dotted path is prefix ("" at the root). */
static void walk(struct conf *c, const struct reg_value *m, const char *prefix,
		 struct reg_error *err, struct reg_error *warn)
{
	char path[256], why[256];

	for (size_t i = 0; i < m->n; i++) {
		const struct reg_value *v = m->items[i];
		const struct conf_key *k;

		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", m->keys[i]);
		k = conf_find(path);
		if (k != NULL) {
			if (v->type == REG_SEQ || v->type == REG_MAP || v->type == REG_NULL) {
				at(err, v, "%s: must be %s, got %s", path,
				   k->type == CONF_ENUM ? "a name" : type_text(k),
				   reg_value_type_name(v->type));
			} else if (decode(c, k, v->str, v->type == REG_INT, v->i,
					  why, sizeof(why)) < 0) {
				at(err, v, "%s", why);
			}
		} else if (is_section(path)) {
			if (v->type == REG_MAP)
				walk(c, v, path, err, warn);
			else if (v->type != REG_NULL)
				at(err, v, "%s: must be a mapping, got %s", path,
				   reg_value_type_name(v->type));
		} else {
			at(warn, v, "unknown setting \"%s\" (ignored)", path);
		}
	}
}

int conf_read_file(struct conf *c, const char *path,
		   struct reg_error *err, struct reg_error *warn)
{
	struct reg_arena a = {0};
	struct reg_value *root;
	int before = err->count;
	bool ok;
	FILE *f = fopen(path, "r");

	/* libfyaml reports a missing file as a bare syntax error. */
	if (f == NULL) {
		char line[512];
		snprintf(line, sizeof(line), "%s: cannot read: %s", path, strerror(errno));
		reg__err_line(err, line);
		return -1;
	}
	fclose(f);
	root = yaml_read_file(path, path, &a, err, &ok);
	if (ok && root != NULL) {
		if (root->type == REG_MAP)
			walk(c, root, "", err, warn);
		else if (root->type != REG_NULL)
			at(err, root, "the config file must be a mapping, got %s",
			   reg_value_type_name(root->type));
	}
	reg__arena_free(&a);
	return err->count > before ? -1 : 0;
}

int conf_load(struct conf *c, char *const *files, int nfiles,
	      struct reg_error *warn)
{
	static char name[] = ".wippy.yaml";
	char *const dflt[] = { name };
	struct reg_error err = {0};

	if (nfiles == 0) {
		if (access(name, F_OK) != 0)
			return 0;
		files = dflt;
		nfiles = 1;
	}
	for (int i = 0; i < nfiles && err.count == 0; i++)
		conf_read_file(c, files[i], &err, warn);
	if (err.count == 0)
		return 0;
	for (const char *p = err.msg; p && *p;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		fprintf(stderr, "wippy: %.*s\n", len, p);
		p += len + (nl != NULL);
	}
	fprintf(stderr, "wippy: bad configuration; nothing started\n");
	reg_error_free(&err);
	return -1;
}
