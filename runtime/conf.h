/*
** runtime/conf.h: the runtime's knobs. One table (runtime/conf.c) names
** every knob once: its key in a config file, its type, its default, its
** command-line flag and one line of why. The defaults, the config files
** (`.wippy.yaml`, `wippy run --config FILE`), the flags and the CLI help
** all go through that table, and conf/wippy.yaml documents it (a unit
** test checks that the two agree).
**
** Precedence, lowest first: the table's defaults, the config files in the
** order given (only `.wippy.yaml` in the working directory, if present,
** when no --config is given, as in the original runtime), then flags.
**
** A struct conf is plain data: filled once on the main thread before the
** runtime boots, copied into struct rt, read-only afterwards.
*/
#ifndef RUNTIME_CONF_H
#define RUNTIME_CONF_H

#include <stddef.h>
#include <stdint.h>

struct reg_error;

/* The value of every knob; each is an int64_t so the table can address it
** by offset. Units are in the names. */
struct conf {
	int64_t shards;            /* scheduler.shards: 0 = one per CPU */
	int64_t slice_ns;          /* scheduler.slice */
	int64_t spin_ns;           /* scheduler.spin */
	int64_t runaway_ns;        /* scheduler.runaway_limit */
	int64_t proc_mem_bytes;    /* process.memory_limit: 0 = none */
	int64_t mailbox_warn;      /* process.mailbox_warn */
	int64_t stop_timeout_ns;   /* shutdown.timeout */
	int64_t log_level;         /* logmanager.min_level: enum log_level */
	int64_t log_format;        /* logmanager.format: enum log_format */
	int64_t http_pool_idle;    /* http.handler_pool.idle_max */
	int64_t http_max_conns;    /* http.max_connections: per shard, 0 = from the fd limit */
	int64_t security_strict;   /* security.strict_mode: 1 = no actor/scope is denied */
	int64_t cluster_enabled;   /* cluster.enabled: 1 = join cluster.nats */
	int64_t cluster_hb_ns;     /* cluster.heartbeat */
	/* CONF_STR rows: NUL-terminated, "" when not set. */
	char cluster_node[64];     /* cluster.node */
	char cluster_nats[256];    /* cluster.nats */
	uint32_t given;            /* bit k: row k was set by a file or a flag */
};

enum conf_type {
	CONF_INT,    /* YAML integer */
	CONF_DUR,    /* Go duration text ("10s"); a bare 0 is 0 too */
	CONF_SIZE,   /* bytes: an integer, or text with K/M/G (binary) */
	CONF_ENUM,   /* one of names[] (stored as its index) */
	CONF_STR,    /* text, into a char array of max bytes at off (def: "") */
};

/* One knob: a row of the table. */
struct conf_key {
	const char *key;           /* dotted path in the file: "shutdown.timeout" */
	enum conf_type type;
	size_t off;                /* offsetof(struct conf, member) */
	int64_t def;               /* the default: the one place it is written */
	int64_t min, max;          /* accepted range (CONF_INT, CONF_DUR, CONF_SIZE);
	                           ** CONF_STR: max is the array's size */
	const char *const *names;  /* CONF_ENUM: NULL-terminated */
	int int_base;              /* CONF_ENUM with ints: integer i is index
	                           ** i - int_base (the original's min_level) */
	int ints;                  /* CONF_ENUM: integers accepted too */
	const char *flag;          /* the `wippy run` flag, or NULL */
	const char *origin;        /* "original" (same key as the original
	                           ** runtime's .wippy.yaml) or "wippy" (ours) */
	const char *why;           /* one line for the help and the docs */
};

/* The table, and its length in *n. Static, read-only. */
const struct conf_key *conf_keys(size_t *n);

/* The row for a dotted key, or NULL. */
const struct conf_key *conf_find(const char *key);

/* Fill c with every row's default; c->given is 0. */
void conf_defaults(struct conf *c);

/* Whether row key was set by a file or a flag (not the default). */
int conf_given(const struct conf *c, const char *key);

/*
** Set row key from text (a flag's argument), by the row's type and range.
** Returns 0, or -1 with the reason in why (NUL-terminated, at most n bytes).
*/
int conf_set(struct conf *c, const char *key, const char *text,
	     char *why, size_t n);

/*
** Read one config file over c. Errors go to err ("file:line:col: ..."),
** warnings to warn (each unknown key, by name and place; the value is
** ignored). Returns 0, or -1 when err got a line: the file could not be
** read, is malformed YAML, or a known key has a value of the wrong type
** or out of range. Both lists are the caller's (reg_error_free).
*/
int conf_read_file(struct conf *c, const char *path,
		   struct reg_error *err, struct reg_error *warn);

/*
** Read the config files over c: files[0..nfiles) in order, or, when
** nfiles is 0, `.wippy.yaml` in the working directory if it exists.
** Prints each error to stderr as "wippy: LINE" and returns -1 on any;
** warnings are appended to warn (caller frees). Returns 0 otherwise.
*/
int conf_load(struct conf *c, char *const *files, int nfiles,
	      struct reg_error *warn);

/* Format v as row k's type writes it ("10s", "512M", "text", "0") into
** buf (n bytes). Returns buf. */
const char *conf_format(const struct conf_key *k, int64_t v, char *buf, size_t n);

#endif
