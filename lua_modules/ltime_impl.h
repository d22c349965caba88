/*
** lua_modules/ltime_impl.h: what the four files of the `time` module share
** and nobody else may use: the Location, Time and parse-state layouts and
** the helpers each file lends the others.
**
**   ltime.c     the bindings: userdata plumbing, Time methods, the module
**               functions and the metatables (lua_modules/ltime.h);
**   duration.c  the Duration userdata: reading duration arguments, its
**               methods and arithmetic;
**   timefmt.c   Go layouts: format a Time, parse a value into fields;
**   timezone.c  Locations: offset lookups, POSIX TZ rules, TZif loading.
**
** Everything here is HIDDEN (internal to the binary) and named as it was
** when the module was one file. Include it only from those four files and
** their unit tests.
*/
#ifndef LUA_MODULES_LTIME_IMPL_H
#define LUA_MODULES_LTIME_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

#include "engine/common.h"
#include "runtime/gotime.h"

#define NS_PER_SEC   GOTIME_NS_PER_SEC
#define SECS_PER_DAY GOTIME_SECS_PER_DAY
/* Seconds from Go's zero time (0001-01-01 UTC) to the unix epoch. */
#define ABS_TO_UNIX  62135596800LL
/* Years beyond this are refused so day and second counts fit in int64. */
#define MAX_YEAR     100000000000LL
/* Times are kept within +-2^62 s so adding a zone offset cannot overflow. */
#define MAX_SEC      (1LL << 62)

/* {==================================================================
** Types: Location, Time, parse state
** =================================================================== */

enum { LOC_UTC, LOC_LOCAL, LOC_FIXED, LOC_ZONE };

/* One local time type of a TZif file. */
struct ztype {
	int32_t off;            /* seconds east of UTC */
	uint8_t isdst;
	uint8_t abbr;           /* index into loc.abbrs */
};

/* One end of a POSIX TZ DST rule: Jn, n or Mm.w.d, plus local time. */
struct rulept {
	char kind;              /* 'J', 'N' or 'M' */
	int day, week, mon;
	int32_t time;           /* seconds after local midnight */
};

/* The POSIX TZ footer of a TZif file, for times after the last transition. */
struct tzrule {
	char std[16], dst[16];
	int32_t stdoff, dstoff; /* seconds east of UTC */
	int has_dst;
	struct rulept start, end;
};

struct loc {
	int kind;
	int32_t off;            /* LOC_FIXED: seconds east of UTC */
	const char *name;       /* what tostring(loc) prints; NUL-terminated */
	/* LOC_ZONE tables, all inside the same userdata block */
	uint32_t ntrans, ntypes;
	const int64_t *trans;   /* ascending transition instants */
	const uint8_t *tidx;    /* type index in force from trans[i] on */
	const struct ztype *types;
	const char *abbrs;
	int has_rule;
	struct tzrule rule;
};

/* The two static locations (timezone.c); every Time in UTC or Local
** points at one of them. */
HIDDEN extern const struct loc loc_utc, loc_local;

/* What a location says about one instant. */
struct zinfo {
	int32_t off;
	char abbr[16];
};


/* A Time userdata. */
struct tval {
	int64_t sec;            /* unix seconds */
	int32_t nsec;           /* 0 .. 999999999 */
	const struct loc *loc;  /* static, or inside the Location user value */
};

/*
** The pieces a parse collects before they are turned into a Time. month,
** day and yday start at -1 meaning "not in the layout"; a missing year is
** 0 and missing clock fields are 0, as in Go.
*/
struct pstate {
	int64_t year;
	int month, day, yday, hour, min, sec, nsec;
	int zoff;               /* seconds east, valid if has_zoff */
	int has_zoff, is_utc, am, pm;
	char zname[16];
};


/* }================================================================== */

/* {==================================================================
** timezone.c
** =================================================================== */

/* Offset and abbreviation of location l at unix second t. */
HIDDEN void loc_lookup(const struct loc *l, int64_t t, struct zinfo *z);

/*
** Unix second for wall clock `local` (seconds since 1970 as if UTC) in l,
** resolving gaps and overlaps as Go's Date does.
*/
HIDDEN int64_t loc_unix(const struct loc *l, int64_t local);

/*
** Offset of the zone called `name` in l around instant t (Go's
** lookupName). Returns 1 and sets *off, or 0 when l knows no such name.
*/
HIDDEN int loc_find_name(const struct loc *l, const char *name, int64_t t,
			 int32_t *off);

/*
** Push the Location for IANA zone `name` from the zoneinfo directory.
** Returns 0, -ENOENT when there is no such zone, -EINVAL when its file
** is not TZif (nothing pushed then). [-0, +(0|1), m]
*/
HIDDEN int zone_load(lua_State *L, const char *name);

/* }================================================================== */

/* {==================================================================
** timefmt.c
** =================================================================== */

/* Append t formatted with Go layout lay[0..n) to b. [-0, +0, m] */
HIDDEN void format_time(luaL_Buffer *b, const struct tval *t,
			const char *lay, size_t n);

/*
** Parse val[0..vn) per layout lay[0..ln) into *ps (Go's time.parse, zone
** resolution left to the caller). Returns NULL, or pushes a Go-style
** message and returns it. [-0, +(0|1), m]
*/
HIDDEN const char *parse_fields(lua_State *L, const char *lay, size_t ln,
				const char *val, size_t vn, struct pstate *ps);

/* }================================================================== */

/* {==================================================================
** duration.c
** =================================================================== */

/*
** Read the duration at idx without raising: 0 and *out, or a Go-style
** reason (a static string) with *out untouched. [-0, +0, -]
*/
HIDDEN const char *dur_read(lua_State *L, int idx, int64_t *out);

/* The Duration metamethods and methods, for ltime.c's registration. */
HIDDEN extern const luaL_Reg dur_meta[], dur_methods[];

/* }================================================================== */

/* {==================================================================
** ltime.c: userdata plumbing
** =================================================================== */

/* Set metatable `name` (created on first use) on the top value. [-0, +0, m] */
HIDDEN void setmeta(lua_State *L, const char *name);

/* Push a zeroed Location userdata with `extra` bytes after it. [-0, +1, m] */
HIDDEN struct loc *newloc(lua_State *L, size_t extra);

/* luaL_checkudata for the three types. [-0, +0, v] */
HIDDEN int64_t *checkdur(lua_State *L, int i);
HIDDEN struct tval *checktime(lua_State *L, int i);
HIDDEN struct loc *checkloc(lua_State *L, int i);

/* 1 for the static UTC and Local locations. */
HIDDEN int is_static(const struct loc *l);

/*
** Push a Time for sec + nsec (normalised) in loc, anchored to the
** Location (or Time) at stack index `anchor` (0 for static locations).
** [-0, +1, m]
*/
HIDDEN struct tval *pushtime(lua_State *L, int64_t sec, int64_t nsec,
			     const struct loc *loc, int anchor);

/* The optional Location argument at i, or dflt. [-0, +0, v] */
HIDDEN const struct loc *optloc(lua_State *L, int i, const struct loc *dflt);

/* Push nil and an error object of `kind` with message msg; returns 2. */
HIDDEN int ret_error(lua_State *L, const char *kind, const char *msg);

/* Create the metatable `name` only (duration, time or location). */
HIDDEN void createmeta_named(lua_State *L, const char *name);

/* }================================================================== */

#endif
