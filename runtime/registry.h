/*
** runtime/registry.h: the registry, i.e. every entry of a Wippy application
** loaded from the YAML files of its source tree (spec section 1).
**
** Loading has two phases, because interpolation needs env values and env
** values come from entries. reg_parse() walks a source directory, reads
** every definition file into a value tree (runtime/yaml.c), indexes the
** ids and decodes the env.* entries, which are never interpolated; the
** caller builds its env from them; reg_decode() then expands ${env:...}
** through the caller's lookup, validates every other entry against its
** kind and resolves references between entries to pointers. The registry
** does not know the env: runtime/env.c builds one from a registry, and
** env_load() runs the phases with it. Once reg_decode() returns nothing in
** the registry changes until reg_free(), so any thread may read it
** without locking. Changes at run time make a new registry instead
** (reg_derive), which shares the unchanged entries of the old one.
**
** Ownership: the registry owns every entry, every value tree and every
** string reachable from it (ids, paths, scalar text). Pointers stay valid
** until reg_free().
*/
#ifndef RUNTIME_REGISTRY_H
#define RUNTIME_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registry;	/* opaque */

/* {====================================================================
** Errors
** ===================================================================== */

/*
** What reg_decode() reports when a load fails. msg is one error per line, each
** of the form "file:line:col: entry-id: what is wrong (offending value)",
** with the location or the id left out where it does not exist. At most
** REG_ERROR_MAX lines are kept; count is the real total. Free with
** reg_error_free(); a zeroed struct is a valid empty one.
*/
#define REG_ERROR_MAX 100

struct reg_error {
	char *msg;	/* NUL-terminated, owned; NULL when count == 0 */
	int count;	/* errors seen, may exceed the lines in msg */
	size_t _len, _cap;
};

/* Release the message buffer and zero the struct. Safe on a zeroed one. */
void reg_error_free(struct reg_error *err);

/* }==================================================================== */

/* {====================================================================
** Generic values: the YAML tree of an entry, with source positions
** ===================================================================== */

enum reg_vtype {
	REG_NULL,
	REG_BOOL,
	REG_INT,
	REG_FLOAT,
	REG_STR,
	REG_SEQ,
	REG_MAP,
};

/*
** One YAML node. Scalars keep their text in str (after interpolation) even
** when typed as bool/int/float, so "default: 8080" still reads as "8080".
** Plain scalars are typed by the YAML 1.2 core schema; quoted ones are
** strings. Sequences use items[0..n); mappings use keys[i] -> items[i] in
** file order. line and col are 1-based; file is the YAML file's path.
*/
struct reg_value {
	enum reg_vtype type;
	int line, col;
	const char *file;
	const char *str;	/* scalars only: the text; NULL for containers */
	union {
		bool b;
		int64_t i;
		double f;
	};
	size_t n;			/* seq/map: number of items */
	struct reg_value **items;	/* seq/map: the values */
	const char **keys;		/* map: the keys */
	bool _plain;			/* plain scalar: retyped after interpolation */
	bool _unset;			/* interpolation failed (reported): the
					** decoders take the default silently */
};

/*
** Walk a dotted path ("a.b.0.c") from v: map keys by name (a key that
** itself contains dots, like "cors.allow.origins", matches too), sequence
** items by decimal index. Returns NULL when any step is missing, v is
** NULL, or path is NULL/empty (then v itself is returned).
*/
struct reg_value *reg_value_get(const struct reg_value *v, const char *path);

/*
** The string at path, or NULL if missing or not a string. Scalars of other
** types are not converted: use reg_value_text() for "any scalar as text".
*/
const char *reg_value_str(const struct reg_value *v, const char *path);

/* The text of the scalar at path (any scalar type, not null), or NULL. */
const char *reg_value_text(const struct reg_value *v, const char *path);

/* Integer/bool at path, or def when missing or of another type. */
int64_t reg_value_int(const struct reg_value *v, const char *path, int64_t def);
bool reg_value_bool(const struct reg_value *v, const char *path, bool def);

/* "null", "bool", "int", "float", "string", "sequence", "mapping". */
const char *reg_value_type_name(enum reg_vtype t);

/* }==================================================================== */

/* {====================================================================
** Entries
** ===================================================================== */

/* Kinds the runtime understands; everything else allowed is REG_K_OTHER. */
enum reg_kind {
	REG_K_OTHER,		/* spec 1.4 "other kinds": kept as generic data */
	REG_K_PROCESS_HOST,
	REG_K_PROCESS_LUA,
	REG_K_LIBRARY_LUA,
	REG_K_FUNCTION_LUA,
	REG_K_PROCESS_SERVICE,
	REG_K_TERMINAL_HOST,
	REG_K_ENV_OS,
	REG_K_ENV_STATIC,
	REG_K_ENV_MEMORY,
	REG_K_ENV_FILE,
	REG_K_ENV_ROUTER,
	REG_K_ENV_VARIABLE,
	REG_K_HTTP_SERVICE,
	REG_K_HTTP_ROUTER,
	REG_K_HTTP_ENDPOINT,
	REG_K_REGISTRY_ENTRY,
	REG_K_PROCESS_LUA_BC,	/* process.lua.bc: Lua 5.4 bytecode in an fs.directory */
	REG_K_CONTRACT_DEFINITION,
	REG_K_CONTRACT_BINDING,
	REG_K_QUEUE_DRIVER_MEMORY,
	REG_K_QUEUE_QUEUE,
	REG_K_QUEUE_CONSUMER,
	REG_K_SECURITY_POLICY,	/* checked at load; compiled by runtime/policy.c */
	REG_K_SECURITY_POLICY_EXPR,	/* the same with an expression (policy_expr.c) */
	REG_K_SECURITY_SCOPE,	/* a named scope: policies: [ids] */
	REG_K_DB_SQLITE,	/* db.sql.sqlite */
	REG_K_DB_POSTGRES,	/* db.sql.postgres */
	REG_K_STORE_MEMORY,	/* store.memory */
	REG_K_STORE_SQL,	/* store.sql: over a db.sql.* entry */
	REG_K_HTTP_STATIC,	/* http.static: files of an fs.directory */
	REG_K_SECURITY_TOKEN_STORE, /* security.token_store: over a store.* */
};

/* process.lua, library.lua, function.lua and process.lua.bc: the kinds
** whose entry holds a struct reg_lua. */
static inline bool reg_kind_is_lua(enum reg_kind k)
{
	return k == REG_K_PROCESS_LUA || k == REG_K_LIBRARY_LUA ||
	       k == REG_K_FUNCTION_LUA || k == REG_K_PROCESS_LUA_BC;
}

/* The kinds process.spawn, process.service and `run -x` accept. */
static inline bool reg_kind_is_process(enum reg_kind k)
{
	return k == REG_K_PROCESS_LUA || k == REG_K_PROCESS_LUA_BC;
}

struct reg_entry;

/*
** The lifecycle block (spec 1.3), present on every service-like kind
** (process.host, process.service, terminal.host, http.service). Durations
** are nanoseconds; absent fields hold the spec defaults, written once, in
** the kind tables of runtime/reg_kinds.c. requires is
** "requires" and "depends_on" merged, de-duplicated, in file order.
*/
struct reg_lifecycle {
	bool auto_start;		/* false */
	int64_t stop_timeout;		/* 10s */
	int64_t stable_threshold;	/* 5s */
	struct reg_entry **requires;
	size_t nrequires;
	struct {
		int64_t initial_delay;	/* 1s */
		int64_t max_delay;	/* 90s */
		double backoff_factor;	/* 2.0 */
		double jitter;		/* 0.1 */
		int max_attempts;	/* 0 = infinite */
	} restart;
	/* startup and start_timeout are checked at load and not kept:
	** nothing here acts on them yet. security is checked at load and
	** read from the entry's data by the supervisor (service.c). */
};

/* imports: require(name) loads the library.lua entry. */
struct reg_import {
	const char *name;
	struct reg_entry *entry;
};

/* process.lua, library.lua (method NULL), function.lua, process.lua.bc. */
struct reg_lua {
	const char *source;	/* absolute path of the Lua file (it exists);
				** for process.lua.bc the bytecode file, whose
				** hash and Lua 5.4 header were checked */
	const char *method;	/* NULL for library.lua */
	const char **modules;	/* names without ':' */
	size_t nmodules;
	struct reg_import *imports;
	size_t nimports;
};

/* queue_size and local_queue_size are checked, not kept: run queues here
** are per shard and grow. */
struct reg_process_host {
	int workers;		/* 0 = not given: one per CPU */
	int64_t max_memory;	/* host.max_memory: the Lua heap limit of each
				** process on this host in bytes, 0 for none;
				** -1 = not given: the runtime's
				** process.memory_limit applies */
};

struct reg_service {
	struct reg_entry *process;	/* a process.lua */
	struct reg_entry *host;		/* a process.host */
	const struct reg_value *input;	/* sequence of args, or NULL */
};

/* All env.storage.* kinds; each uses only its own fields. */
struct reg_env_storage {
	const struct reg_value *values;	/* static: mapping KEY -> scalar */
	const char *file_path;		/* file */
	bool auto_create;		/* file */
	int file_mode, dir_mode;	/* file: 0644, 0755 */
	struct reg_entry **storages;	/* router: ordered env.storage.* */
	size_t nstorages;
};

struct reg_env_variable {
	const char *variable;		/* public name [A-Za-z0-9_]+ or NULL */
	struct reg_entry *storage;	/* an env.storage.* entry */
	const char *def;		/* default text or NULL */
	bool readonly;
};

/* addr is "host:port" or ":port" (checked at load, parsed by the
** listener); a timeout of 0 is none. */
struct reg_http_service {
	const char *addr;
	int64_t read_timeout, write_timeout, idle_timeout;	/* ns: 10s 30s 60s */
	int64_t max_header_bytes;	/* limits: 8192 */
	int64_t max_body_bytes;		/* limits: 120 MiB */
	const char *metrics;		/* GET path of the Prometheus text, or NULL */
	/* tls (our extension): PEM files, both or neither; min "1.2"|"1.3" */
	const char *tls_cert, *tls_key, *tls_min;
};

/* A middleware list and its options, as written (checked at load by
** runtime/hmw.c's table: every name known, every option valid). */
struct reg_http_mw {
	const struct reg_value *names;		/* sequence of strings, or NULL */
	const struct reg_value *options;	/* mapping, or NULL */
};

struct reg_http_router {
	struct reg_entry *server;	/* meta.server: an http.service */
	const char *prefix;		/* "" when absent */
	struct reg_http_mw mw, post;	/* middleware/options, post_middleware/post_options */
};

/* http.static: the files under root served at path. root is absolute (an
** fs.directory's directory, or the legacy `directory` field). */
struct reg_http_static {
	struct reg_entry *server;	/* meta.server: an http.service */
	const char *path;		/* "/..." */
	const char *root;
	const char *index;		/* static_options.index: "index.html" */
	const char *cache;		/* static_options.cache: Cache-Control or NULL */
	bool spa;			/* static_options.spa */
	struct reg_http_mw mw;
};

struct reg_http_endpoint {
	struct reg_entry *router;	/* meta.router: an http.router */
	struct reg_entry *func;		/* a function.lua */
	const char *method;		/* GET POST PUT DELETE PATCH HEAD OPTIONS TRACE */
	const char *path;		/* "/..." with {param} and a final {name...} */
};

/* contract.definition: its methods in file order (names unique, not
** empty); description is "" when absent; the schemas are the raw
** sequences of {format, definition} maps, or NULL. */
struct reg_contract_method {
	const char *name, *description;
	const struct reg_value *input_schemas, *output_schemas;
};

struct reg_contract_def {
	struct reg_contract_method *methods;
	size_t nmethods;
};

/* contract.binding: the contracts it implements, in file order. Ids are
** full "ns:name", checked at load (the contract is a contract.definition
** that defines each method named; each func a function.lua); they stay
** ids so a reader resolves them in the registry version it runs on. */
struct reg_bound_method {
	const char *name, *func;
};

struct reg_bound_contract {
	const char *contract;
	struct reg_bound_method *methods;
	size_t nmethods;
	const char **context_required;
	size_t ncontext_required;
	bool is_default;
};

struct reg_binding {
	struct reg_bound_contract *contracts;
	size_t ncontracts;
};

/* queue.queue: its driver, any queue.driver.* entry (only the memory
** driver runs; a queue on another is inert). */
struct reg_queue {
	struct reg_entry *driver;
};

/* queue.consumer: calls func for each message of queue, at most
** concurrency at once (1..1000, 1); prefetch (1..10000, 10) is checked. */
struct reg_consumer {
	struct reg_entry *queue;	/* a queue.queue */
	struct reg_entry *func;		/* a function.lua */
	int concurrency, prefetch;
};

/*
** db.sql.sqlite and db.sql.postgres (the original's docs: system/database).
** sqlite uses file (a path, or ":memory:") and of pool only max_lifetime,
** as the original (one connection, WAL journal); postgres uses the
** connection fields (or dsn, a libpq conninfo string, when given) and the
** pool. options is the raw mapping appended to the conninfo, sorted by key.
*/
struct reg_db {
	const char *file;		/* sqlite */
	const char *dsn;		/* postgres: NULL unless given */
	const char *host, *database, *username, *password;
	int port;			/* 0 = not given (libpq's default) */
	int max_open, max_idle;		/* pool: 0, 0 */
	int64_t max_lifetime;		/* pool: 1h, ns */
	const struct reg_value *options;	/* mapping or NULL */
};

/* store.memory and store.sql (system/store). Column names are checked
** at load to be plain identifiers. */
/* security.token_store (lua_modules/security_token.c). */
struct reg_token_store {
	struct reg_entry *store;	/* a store.memory or store.sql entry */
	int token_length;		/* random bytes per token: 32 */
	const char *token_key;		/* HMAC-SHA256 key, "" for none */
	int64_t default_expiration;	/* ns: 24h */
};

struct reg_store {
	int max_size;			/* memory: 10000 (0 means the default) */
	int64_t cleanup_interval;	/* ns: memory 5m, sql 0 (none) */
	struct reg_entry *database;	/* sql: a db.sql.* entry */
	const char *table_name;		/* sql */
	const char *id_column, *payload_column, *expire_column; /* key value expires_at */
};

/*
** One registry entry. data is the entry's whole mapping (name, kind, meta
** and the flat kind fields) after interpolation; meta is data's "meta" or
** NULL. The member of the union that is valid follows k; lifecycle is
** valid when has_lifecycle.
*/
struct reg_entry {
	const char *id;		/* "ns:name" */
	const char *ns, *name, *kind;
	enum reg_kind k;
	const char *file;
	int line, col;
	struct reg_value *meta;
	struct reg_value *data;
	bool has_lifecycle;
	struct reg_lifecycle lifecycle;
	union {
		struct reg_lua lua;
		struct reg_process_host host;
		struct reg_service service;
		struct reg_env_storage storage;
		struct reg_env_variable var;
		struct reg_http_service http;
		struct reg_http_router router;
		struct reg_http_endpoint endpoint;
		struct reg_http_static hstatic;
		struct reg_contract_def contract;
		struct reg_binding binding;
		struct reg_queue queue;
		struct reg_consumer consumer;
		struct reg_db db;
		struct reg_store store;
		struct reg_token_store token_store;
	} u;
	size_t _index;		/* position in file order */
	bool _used;		/* an inert kind another entry reads (fs.directory
				** of a process.lua.bc): no "ignored" warning */
	const char *_dir;	/* absolute directory of the YAML file */
};

/* }==================================================================== */

/* {====================================================================
** Loading, lookup, order
** ===================================================================== */

/*
** How reg_decode() expands ${env:NAME}: get(ud, NAME, &out) returns 0 with
** *out a malloc'd value the registry frees, or a negative errno;
** strerror(rc) names that errno in the message of an unset variable (NULL:
** strerror(3)). runtime/env.h's env_get and env_strerror fit.
*/
struct reg_lookup {
	int (*get)(void *ud, const char *key, char **out);
	const char *(*strerror)(int rc);
	void *ud;
};

/*
** Phase 1. Read every .yaml, .yml and .json file under src_dir,
** recursively, in byte-wise sorted order (names starting with '.' are
** skipped), index the entries by id and decode the env.storage.* and
** env.variable entries. Never returns NULL: what is wrong (syntax, field
** types, unknown kinds, duplicate ids, a missing directory) is kept and
** reported by reg_decode(). *env_ok says whether the env entries decoded
** without error, i.e. whether an env built from them (env_create) can
** serve phase 2; without one, interpolation is skipped rather than adding
** errors about values that could not be looked up.
*/
struct registry *reg_parse(const char *src_dir, bool *env_ok);

/*
** Phase 2. Interpolate every other entry through lookup (NULL: none),
** decode and check it against its kind, resolve references, and check
** what spans entries (unique variable names, no requires cycles). Returns
** 0, or -EINVAL with err (may be NULL) holding every error of both phases;
** on success err->count is 0. Either way the registry stays the caller's
** to reg_free(), after the env built from it is destroyed. Call once.
*/
int reg_decode(struct registry *reg, const struct reg_lookup *lookup,
	       struct reg_error *err);

/* Free the registry and everything reachable from it. NULL is a no-op. */
void reg_free(struct registry *reg);

/*
** What the load found worth saying that is not an error, in the format of
** reg_error: one line per entry of a kind the original documents but this
** runtime does not run ("kind \"config.aws\" is not supported by
** this runtime; entry ignored"). count is 0 when there is none. Owned by
** the registry.
*/
const struct reg_error *reg_warnings(const struct registry *reg);

/*
** Check every Lua entry's modules: list against provides(name) (the
** code_provides), which says whether require(name) can be
** answered. Fills out (zeroed first; free with reg_error_free) with one
** line per entry and module that cannot, "file:line:col: id: module \"sql\"
** is not provided by this runtime; require(\"sql\") will fail", at the
** module's position in the list. A name that is also an import is not
** reported: require finds the import. Returns the number of lines.
*/
int reg_check_modules(const struct registry *reg,
		      int (*provides)(const char *name), struct reg_error *out);

/* The entry with full id "ns:name", or NULL. */
struct reg_entry *reg_find(const struct registry *reg, const char *id);

/* Number of entries. */
size_t reg_count(const struct registry *reg);

/*
** Iterate all entries in file order: start with prev == NULL, stop at
** NULL. reg_next_kind() does the same over entries whose kind string
** equals kind.
*/
struct reg_entry *reg_next(const struct registry *reg,
			   const struct reg_entry *prev);
struct reg_entry *reg_next_kind(const struct registry *reg, const char *kind,
				const struct reg_entry *prev);

/*
** Start order of the service-like entries (those with a lifecycle): every
** entry comes after the entries it requires and, for process.service,
** after its host; otherwise file order. *out is an xmalloc'd array of *n
** pointers, freed by the caller. Returns 0, or -ELOOP when requires form a
** cycle; then *out is NULL and err (may be NULL) names the cycle as
** "a -> b -> a". reg_decode() already rejects cycles, so on a loaded
** registry this cannot fail.
*/
int reg_service_order(const struct registry *reg, struct reg_entry ***out,
		      size_t *n, struct reg_error *err);

/*
** Read wippy.lock ("directories: {modules: .wippy, src: ./src}"): on
** success *src_dir and *modules_dir are malloc'd strings (defaults "./src"
** and ".wippy" when a key is absent), freed by the caller. Returns 0,
** -ENOENT (or another open() errno) if the file cannot be read, -EINVAL if
** it is not a mapping of that shape.
*/
int reg_lock_read(const char *lock_path, char **src_dir, char **modules_dir);

/*
** Write wippy.lock atomically (temporary file + rename). Returns 0 or a
** negative errno.
*/
int reg_lock_write(const char *lock_path, const char *src_dir,
		   const char *modules_dir);

/* }==================================================================== */

/* {====================================================================
** Change sets and derived versions (runtime/reg_change.c)
** ===================================================================== */

/*
** A change set: creates, updates and deletes of entries, in order, to be
** applied to a loaded registry by reg_derive(). It owns the values it is
** given (built with the reg_cv_* functions, in its own memory) until it
** is freed; reg_derive copies what it keeps.
**
** An entry is given in the original's Lua shape, {id, kind, meta, data}:
** the registry keeps it flat, as a YAML file writes it (name, kind, meta
** and data's keys side by side), so data must be a mapping (or NULL) and
** its keys name, kind and meta are ignored. Reading goes the other way:
** an entry's data is its mapping without name, kind and meta.
*/
enum reg_op { REG_OP_CREATE, REG_OP_UPDATE, REG_OP_DELETE };

struct reg_changes;

struct reg_changes *reg_changes_new(void);
void reg_changes_free(struct reg_changes *c);

/* Number of operations added. */
size_t reg_changes_count(const struct reg_changes *c);

/*
** Add one operation. id is "ns:name" (copied); kind, meta (a mapping or
** NULL) and data (a mapping or NULL) are for create and update and
** ignored for delete. Nothing is checked here: reg_derive reports what is
** wrong.
*/
void reg_changes_add(struct reg_changes *c, enum reg_op op, const char *id,
		     const char *kind, struct reg_value *meta,
		     struct reg_value *data);

/*
** Values in c's memory, for reg_changes_add. Scalars carry their text in
** str as loaded ones do. reg_cv_seq/reg_cv_map make a container of n
** slots: the caller fills items[i] (and keys[i], with reg_cv_key) for
** every i < n before the value is added.
*/
struct reg_value *reg_cv_null(struct reg_changes *c);
struct reg_value *reg_cv_bool(struct reg_changes *c, bool b);
struct reg_value *reg_cv_int(struct reg_changes *c, int64_t i);
struct reg_value *reg_cv_float(struct reg_changes *c, double f);
struct reg_value *reg_cv_str(struct reg_changes *c, const char *s, size_t len);
struct reg_value *reg_cv_seq(struct reg_changes *c, size_t n);
struct reg_value *reg_cv_map(struct reg_changes *c, size_t n);
const char *reg_cv_key(struct reg_changes *c, const char *s, size_t len);

/*
** Apply c to base and return the new registry in *out, validated as the
** boot's is: every created or updated entry is classified and decoded by
** its kind's table, its references resolved in the new version, and every
** unchanged entry that refers (directly or through others) to a changed
** or deleted one is decoded again, so a dangling reference is an error
** naming the entry that has it. Unchanged entries are shared with base,
** not copied: the same struct reg_entry in both, so a pointer comparison
** tells an entry that did not change. Ids already in use are errors
** (create), as are missing ones (update, delete); kinds this runtime
** builds only at boot (env.*, process.host, terminal.host, http.service)
** cannot be created, updated or deleted. No ${env:...} interpolation:
** values are taken as given. File-less entries resolve file:// sources
** against the source root.
**
** Returns 0, or: -ENOENT (an update or delete of a missing id), -EEXIST
** (a create of an existing one), -ENOTSUP (a kind built only at boot), or
** -EINVAL (an invalid id, kind or field; a dangling reference; a cycle),
** with err (may be NULL) holding one line per problem, "id: what". On
** error *out is NULL and nothing of base changed. base must outlive *out,
** which is freed with reg_free.
*/
int reg_derive(const struct registry *base, const struct reg_changes *c,
	       struct registry **out, struct reg_error *err);

/* }==================================================================== */

#endif
