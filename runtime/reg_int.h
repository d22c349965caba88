/*
** runtime/reg_int.h: what the registry's own files share and nobody else
** may use (as Lua's lstate.h is to lapi.c and ldo.c).
**
** The registry is one module in several files, each owning one noun:
**
**   registry.c   struct registry: the two load phases, the id index,
**                lookup and iteration, service order
**   reg_value.c  the value tree's memory (one arena per registry) and its
**                read helpers (reg_value_*)
**   reg_error.c  error and warning lists (reg_error_*), "file:line:col:
**                id: what" lines
**   yaml.c       the YAML reader: libfyaml events -> value tree
**   reg_interp.c ${env:...} interpolation through a caller's lookup
**   reg_field.c  the field table: one row per configuration key, decoded,
**                type-checked and defaulted in one place
**   reg_kinds.c  the kinds: their names, their field tables, their checks
**   reg_source.c where a Lua entry's code is: file:// sources, bytecode
**   reg_lock.c   wippy.lock
**   reg_change.c change sets and the registry versions derived from them
**
** Everything here is HIDDEN: it links between these files only, and no
** header outside the registry includes this one. None of these files knows
** the env (runtime/env.h): values come in through struct reg_lookup.
*/
#ifndef RUNTIME_REG_INT_H
#define RUNTIME_REG_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"
#include "runtime/registry.h"

/* {====================================================================
** Arena (reg_value.c): all of a registry's memory, freed at once
** ===================================================================== */

struct reg_chunk;

struct reg_arena {
	struct reg_chunk *head;
};

/* Zeroed, max_align_t-aligned memory that lives until reg__arena_free().
** Aborts on allocation failure, like xmalloc. */
HIDDEN void *reg__alloc(struct reg_arena *a, size_t n);
HIDDEN char *reg__strndup(struct reg_arena *a, const char *s, size_t len);
HIDDEN char *reg__strdup(struct reg_arena *a, const char *s);
HIDDEN char *reg__printf(struct reg_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
HIDDEN void reg__arena_free(struct reg_arena *a);

/* A short printable form of v for messages: "\"text\"" (in buf),
** "a mapping", "a sequence", "null" or "nothing". */
HIDDEN const char *reg__show(const struct reg_value *v, char *buf, size_t size);

/* }==================================================================== */

/* {====================================================================
** The registry and its loader (registry.c)
** ===================================================================== */

struct loader;

struct registry {
	struct reg_arena arena;
	struct reg_entry **entries;	/* file order */
	size_t n, cap;
	uint32_t *hash;			/* positions + 1, open addressing,
					** hcap a power of 2 */
	size_t hcap;
	const char *root;		/* realpath of the source root */
	struct reg_error warn;		/* reg_warnings() */
	struct loader *load;		/* between reg_parse and reg_decode */
};

/* State of one load, from reg_parse() to the end of reg_decode(). */
struct loader {
	struct registry *reg;
	struct reg_error err;		/* both phases' errors */
	struct reg_error warn;		/* handed to the registry on success */
	const char *root;		/* realpath of the source root */
	const struct reg_lookup *lookup;	/* phase 2; NULL: no env */
};

/* Namespace and entry-name rules (spec 1.2). */
HIDDEN bool reg__valid_ns(const char *s);
HIDDEN bool reg__valid_name(const char *s);

/* Rebuild reg's id index from entries[0..n) (ids are unique). */
HIDDEN void reg__index(struct registry *reg);

/* The position of e in reg (entries may be shared between versions and
** sit at other positions there), or reg->n when e is not in reg. */
HIDDEN size_t reg__pos(const struct registry *reg, const struct reg_entry *e);

/* }==================================================================== */

/* {====================================================================
** Error lines (reg_error.c)
** ===================================================================== */

/* Append one line; past REG_ERROR_MAX only the count grows. */
HIDDEN void reg__err_line(struct reg_error *err, const char *line);

/* Close the list: drop the last newline, note what the cap cut off. */
HIDDEN void reg__err_finish(struct reg_error *err);

/*
** Add one line about entry e (may be NULL) at node v (may be NULL; then
** at e's own position) to list: "file:line:col: id: " then fmt.
*/
HIDDEN void reg__vreport(struct reg_error *list, const struct reg_entry *e,
			 const struct reg_value *v, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/* An error (the load fails) about e at v, as reg__vreport. */
HIDDEN void reg__errat(struct loader *L, const struct reg_entry *e,
		       const struct reg_value *v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A warning (kept in the registry, the load goes on) about e at v. */
HIDDEN void reg__warnat(struct reg_error *list, const struct reg_entry *e,
			const struct reg_value *v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* }==================================================================== */

/* {====================================================================
** Kinds (reg_kinds.c)
** ===================================================================== */

#define KMASK(k) (1u << (k))
#define MASK_STORAGE (KMASK(REG_K_ENV_OS) | KMASK(REG_K_ENV_STATIC) | \
		      KMASK(REG_K_ENV_MEMORY) | KMASK(REG_K_ENV_FILE) | \
		      KMASK(REG_K_ENV_ROUTER))
#define MASK_SERVICE (KMASK(REG_K_PROCESS_HOST) | KMASK(REG_K_PROCESS_SERVICE) | \
		      KMASK(REG_K_TERMINAL_HOST) | KMASK(REG_K_HTTP_SERVICE) | \
		      MASK_DB | MASK_STORE)
#define MASK_DB (KMASK(REG_K_DB_SQLITE) | KMASK(REG_K_DB_POSTGRES))
#define MASK_STORE (KMASK(REG_K_STORE_MEMORY) | KMASK(REG_K_STORE_SQL))

/* Set e->k and e->has_lifecycle from e->kind. Returns false (error
** recorded) for a kind that is neither run nor documented. */
HIDDEN bool reg__classify(struct loader *L, struct reg_entry *e);

/* env.* kinds are decoded in phase 1 and never interpolated: they are
** where interpolated values come from. */
HIDDEN bool reg__is_env_kind(enum reg_kind k);

/* Decode e's fields by its kind's table, then the lifecycle block. */
HIDDEN void reg__decode_entry(struct loader *L, struct reg_entry *e);

/* "process.host or process.service" for the kinds in mask, into buf. */
HIDDEN const char *reg__kind_list(unsigned mask, char *buf, size_t size);

/* No two env.variable entries may share a public name. */
HIDDEN void reg__check_variables(struct loader *L);

/* }==================================================================== */

/* {====================================================================
** Field table (reg_field.c)
** ===================================================================== */

/* What a row's key holds. */
enum reg_ftype {
	RF_STR,		/* string -> const char * */
	RF_BOOL,	/* true/false -> bool */
	RF_INT,		/* integer in [min, max] -> int */
	RF_I64,		/* integer in [min, max] -> int64_t */
	RF_NUM,		/* non-negative number -> double */
	RF_DUR,		/* Go duration ("5s", 0) -> int64_t nanoseconds */
	RF_MODE,	/* octal file mode (0644) -> int */
	RF_MAP,		/* mapping -> const struct reg_value * */
	RF_SEQ,		/* sequence -> const struct reg_value * */
	RF_REF,		/* entry reference of a kind in kinds -> struct reg_entry * */
	RF_FN,		/* the setter does everything */
};

#define RF_REQUIRED	1u	/* missing (or null) is an error */
#define RF_NONEMPTY	2u	/* RF_STR: "" is an error */
#define RF_NOWHERE	((size_t)-1)	/* off: checked, not kept */

struct reg_field;

/*
** A setter runs after the row's own type check, with v the key's value
** (NULL when absent or null) and *dst where the row stores (NULL for
** RF_NOWHERE). It validates further and may overwrite *dst.
*/
typedef void (*reg_setter)(struct loader *L, struct reg_entry *e,
			   const struct reg_field *f, struct reg_value *v,
			   void *dst);

/*
** One configuration key of one kind, on the model of nginx's
** ngx_command_t: name, type, where it goes, its default, whether it is
** required. The default is written here and nowhere else: the decoder
** stores it when the key is absent or of the wrong type (the error is
** recorded, decoding goes on so later keys are checked too).
*/
struct reg_field {
	const char *key;	/* dotted path in the entry's data */
	enum reg_ftype type;
	unsigned flags;		/* RF_REQUIRED, RF_NONEMPTY */
	size_t off;		/* offsetof(struct reg_entry, ...) or RF_NOWHERE */
	union {
		bool b;
		int64_t i;
		double f;
		const char *s;
	} def;
	int64_t min, max;	/* RF_INT, RF_I64 */
	unsigned kinds;		/* RF_REF: KMASK of the accepted kinds */
	const char *const *oneof;	/* RF_STR: allowed values, NULL-ended */
	reg_setter set;		/* optional; required for RF_FN */
};

/* Decode every row of t[0..n) for e, in order. */
HIDDEN void reg__decode_fields(struct loader *L, struct reg_entry *e,
			       const struct reg_field *t, size_t n);

/* The value at path in e's data, treating an explicit null as missing. */
HIDDEN struct reg_value *reg__field(const struct reg_entry *e, const char *path);

/* The string at path: NULL when absent; an error when required and
** absent, or present and not a string. */
HIDDEN const char *reg__get_str(struct loader *L, struct reg_entry *e,
				const char *path, bool required);

/*
** Resolve the reference in node v (field named what) to an entry whose
** kind is in mask. A bare name resolves in e's namespace (spec 1.2).
** Returns NULL (error recorded) when v is not a string, names a missing
** entry, or an entry of the wrong kind; NULL without error for v NULL.
*/
HIDDEN struct reg_entry *reg__ref_at(struct loader *L, struct reg_entry *e,
				     const struct reg_value *v, const char *what,
				     unsigned mask);

/* }==================================================================== */

/* {====================================================================
** Interpolation (reg_interp.c) and sources (reg_source.c)
** ===================================================================== */

/* Interpolate every string under v for entry e through L->lookup, and
** retype changed plain scalars. Mapping keys are left as written. */
HIDDEN void reg__interpolate(struct loader *L, struct reg_entry *e,
			     struct reg_value *v);

/* source of a process.lua / library.lua / function.lua: the absolute path
** of an existing file, or NULL (error recorded). */
HIDDEN const char *reg__lua_source(struct loader *L, struct reg_entry *e);

/* process.lua.bc: the absolute path of its checked Lua 5.4 bytecode
** file, or NULL (error recorded). */
HIDDEN const char *reg__bc_source(struct loader *L, struct reg_entry *e);

/* The absolute directory of the fs.directory entry named by e's string
** field `field` (relative directories are taken from the working
** directory, as the original's os.DirFS is); NULL with an error recorded
** when the field is missing or names anything else. Marks the fs entry
** used (no "ignored kind" warning). */
HIDDEN const char *reg__fs_dir(struct loader *L, struct reg_entry *e, const char *field,
			 struct reg_entry **fs_out);

/* }==================================================================== */

#endif
