/*
** lua_modules/time.c: Duration, Time and Location for the Lua `time`
** module, following Go's time package closely enough that layouts,
** duration strings and printed values match what Wippy (written in Go)
** produces.
**
** Invariants:
**  - A Time is {sec, nsec, loc}: unix seconds, 0 <= nsec < 1e9, and a
**    pointer to an immutable struct loc. UTC and Local point at the static
**    loc_utc/loc_local; every other location lives inside a Location
**    userdata, which the Time keeps alive through its user value 1.
**  - Location userdata are immutable after construction; their zone
**    tables sit in the same block as the header (Lua never moves full
**    userdata), so pointers into them stay valid while the block lives.
**  - Nothing here allocates outside the Lua allocator, keeps C globals
**    that change, or yields; the only I/O is load_location reading one
**    zoneinfo file.
** Local time is whatever libc's localtime_r says for the process TZ, so
** it follows TZ and /etc/localtime like Go's Local does.
*/
#include "lua_modules/time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "runtime/errors.h"
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
** Calendar arithmetic (proleptic Gregorian, days since 1970-01-01)
** =================================================================== */

static const char *const long_months[12] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"
};
static const char *const long_days[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday"
};

/* }================================================================== */

/* {==================================================================
** Locations
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

static const struct loc loc_utc = { .kind = LOC_UTC, .name = "UTC" };
static const struct loc loc_local = { .kind = LOC_LOCAL, .name = "Local" };

/* What a location says about one instant. */
struct zinfo {
	int32_t off;
	char abbr[16];
};

static void setabbr(struct zinfo *z, const char *s)
{
	snprintf(z->abbr, sizeof z->abbr, "%s", s ? s : "");
}

/* Seconds from the start of year y (UTC midnight) to rule point r. */
static int64_t rule_time(const struct rulept *r, int64_t y)
{
	int64_t d;

	if (r->kind == 'J') {
		d = r->day - 1;
		if (gotime_is_leap(y) && r->day >= 60)
			d++;
	} else if (r->kind == 'N') {
		d = r->day;
	} else {
		/* Mm.w.d: weekday d of week w (5 = last) of month m. */
		int64_t first = gotime_days_from_civil(y, r->mon, 1);
		int wd1 = (int)gotime_floormod(first + 4, 7);
		int day = r->day - wd1, i;
		if (day < 0)
			day += 7;
		for (i = 1; i < r->week; i++) {
			if (day + 7 >= gotime_days_in(r->mon, y))
				break;
			day += 7;
		}
		d = first - gotime_days_from_civil(y, 1, 1) + day;
	}
	return d * SECS_PER_DAY + r->time;
}

static void rule_lookup(const struct tzrule *r, int64_t t, struct zinfo *z)
{
	int64_t y, ystart, start, end;
	int m, d, isdst;

	if (!r->has_dst) {
		z->off = r->stdoff;
		setabbr(z, r->std);
		return;
	}
	gotime_civil_from_days(gotime_floordiv(t + r->stdoff, SECS_PER_DAY), &y, &m, &d);
	ystart = gotime_days_from_civil(y, 1, 1) * SECS_PER_DAY;
	/* The start is written in standard time, the end in daylight time. */
	start = ystart + rule_time(&r->start, y) - r->stdoff;
	end = ystart + rule_time(&r->end, y) - r->dstoff;
	if (start < end)
		isdst = t >= start && t < end;
	else            /* southern hemisphere: DST spans the new year */
		isdst = !(t >= end && t < start);
	z->off = isdst ? r->dstoff : r->stdoff;
	setabbr(z, isdst ? r->dst : r->std);
}

static void zone_lookup(const struct loc *l, int64_t t, struct zinfo *z)
{
	const struct ztype *ty;
	uint32_t lo = 0, hi = l->ntrans;

	if (l->ntrans == 0 || t < l->trans[0]) {
		uint32_t i = 0;
		if (l->ntrans == 0 && l->has_rule) {
			rule_lookup(&l->rule, t, z);
			return;
		}
		/* Before the first transition: the first standard-time type. */
		while (i < l->ntypes && l->types[i].isdst)
			i++;
		ty = &l->types[i < l->ntypes ? i : 0];
	} else {
		if (t >= l->trans[l->ntrans - 1] && l->has_rule) {
			rule_lookup(&l->rule, t, z);
			return;
		}
		while (hi - lo > 1) {   /* last transition <= t */
			uint32_t mid = lo + (hi - lo) / 2;
			if (l->trans[mid] <= t)
				lo = mid;
			else
				hi = mid;
		}
		ty = &l->types[l->tidx[lo]];
	}
	z->off = ty->off;
	setabbr(z, l->abbrs + ty->abbr);
}

/* Offset and abbreviation of location l at unix second t. */
static void loc_lookup(const struct loc *l, int64_t t, struct zinfo *z)
{
	switch (l->kind) {
	case LOC_UTC:
		z->off = 0;
		setabbr(z, "UTC");
		return;
	case LOC_FIXED:
		z->off = l->off;
		setabbr(z, l->name);
		return;
	case LOC_LOCAL: {
		time_t tt = (time_t)t;
		struct tm tm;
		if (localtime_r(&tt, &tm) == NULL) {
			z->off = 0;
			setabbr(z, "UTC");
		} else {
			z->off = (int32_t)tm.tm_gmtoff;
			setabbr(z, tm.tm_zone);
		}
		return;
	}
	default:
		zone_lookup(l, t, z);
	}
}

/*
** Unix second for wall clock `local` (seconds since 1970 as if UTC) in l.
** Like Go's Date: try the offset in force at `local`, and if the instant
** that gives falls under another offset, use that one. Wall times in a
** gap or an overlap therefore resolve the way Go resolves them.
*/
static int64_t loc_unix(const struct loc *l, int64_t local)
{
	struct zinfo z1, z2;

	loc_lookup(l, local, &z1);
	if (z1.off == 0 && l->kind != LOC_LOCAL && l->kind != LOC_ZONE)
		return local;
	loc_lookup(l, local - z1.off, &z2);
	return local - z2.off;
}

/*
** Offset of the zone called `name` in l around instant t (Go's
** lookupName): prefer a zone of that name actually in force, else any.
*/
static int loc_find_name(const struct loc *l, const char *name, int64_t t,
			 int32_t *off)
{
	struct zinfo z;
	uint32_t i;

	switch (l->kind) {
	case LOC_UTC:
	case LOC_FIXED:
		loc_lookup(l, t, &z);
		if (strcmp(z.abbr, name) != 0)
			return 0;
		*off = z.off;
		return 1;
	case LOC_LOCAL:
		loc_lookup(l, t, &z);
		loc_lookup(l, t - z.off, &z);
		if (strcmp(z.abbr, name) != 0)
			return 0;
		*off = z.off;
		return 1;
	}
	for (i = 0; i < l->ntypes; i++) {
		const struct ztype *ty = &l->types[i];
		if (strcmp(l->abbrs + ty->abbr, name) != 0)
			continue;
		zone_lookup(l, t - ty->off, &z);
		if (strcmp(z.abbr, name) == 0) {
			*off = z.off;
			return 1;
		}
	}
	for (i = 0; i < l->ntypes; i++) {
		if (strcmp(l->abbrs + l->types[i].abbr, name) == 0) {
			*off = l->types[i].off;
			return 1;
		}
	}
	return 0;
}

/* }================================================================== */

/* {==================================================================
** TZif loading (RFC 8536) for load_location
** =================================================================== */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* POSIX TZ name: letters, or anything between < and >. */
static const char *tz_name(const char *p, const char *e, char *out, size_t cap)
{
	size_t n = 0;

	if (p < e && *p == '<') {
		const char *q = memchr(p, '>', (size_t)(e - p));
		if (q == NULL)
			return NULL;
		n = (size_t)(q - p - 1);
		if (n < 1 || n >= cap)
			return NULL;
		memcpy(out, p + 1, n);
		out[n] = 0;
		return q + 1;
	}
	while (p + n < e && ((p[n] >= 'A' && p[n] <= 'Z') ||
			     (p[n] >= 'a' && p[n] <= 'z')))
		n++;
	if (n < 3 || n >= cap)
		return NULL;
	memcpy(out, p, n);
	out[n] = 0;
	return p + n;
}

/* [+-]hh[:mm[:ss]] in seconds; hours up to 167 (RFC 8536 extension). */
static const char *tz_offset(const char *p, const char *e, int32_t *secs)
{
	int sign = 1, part = 0;
	int32_t v[3] = { 0, 0, 0 };

	if (p < e && (*p == '+' || *p == '-'))
		sign = *p++ == '-' ? -1 : 1;
	for (;;) {
		int nd = 0;
		while (p < e && *p >= '0' && *p <= '9' && nd < 3) {
			v[part] = v[part] * 10 + (*p++ - '0');
			nd++;
		}
		if (nd == 0)
			return NULL;
		if (part == 2 || p >= e || *p != ':')
			break;
		p++;
		part++;
	}
	if (v[0] > 167 || v[1] > 59 || v[2] > 59)
		return NULL;
	*secs = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
	return p;
}

static const char *tz_rulept(const char *p, const char *e, struct rulept *r)
{
	int *fields[3] = { &r->mon, &r->week, &r->day };
	int i;

	r->time = 2 * 3600;
	r->day = r->week = r->mon = 0;
	if (p < e && *p == 'M') {
		r->kind = 'M';
		p++;
		for (i = 0; i < 3; i++) {
			int nd = 0;
			if (i > 0) {
				if (p >= e || *p != '.')
					return NULL;
				p++;
			}
			while (p < e && *p >= '0' && *p <= '9' && nd < 2) {
				*fields[i] = *fields[i] * 10 + (*p++ - '0');
				nd++;
			}
			if (nd == 0)
				return NULL;
		}
		if (r->mon < 1 || r->mon > 12 || r->week < 1 || r->week > 5 ||
		    r->day > 6)
			return NULL;
	} else {
		int nd = 0;
		r->kind = 'N';
		if (p < e && *p == 'J') {
			r->kind = 'J';
			p++;
		}
		while (p < e && *p >= '0' && *p <= '9' && nd < 3) {
			r->day = r->day * 10 + (*p++ - '0');
			nd++;
		}
		if (nd == 0 || r->day > 365 || (r->kind == 'J' && r->day < 1))
			return NULL;
	}
	if (p < e && *p == '/')
		p = tz_offset(p + 1, e, &r->time);
	return p;
}

/* Parse a TZ footer like "CET-1CEST,M3.5.0,M10.5.0/3". 0 on success. */
static int tz_parse(const char *p, const char *e, struct tzrule *r)
{
	memset(r, 0, sizeof *r);
	if ((p = tz_name(p, e, r->std, sizeof r->std)) == NULL ||
	    (p = tz_offset(p, e, &r->stdoff)) == NULL)
		return -EINVAL;
	r->stdoff = -r->stdoff;         /* POSIX offsets count west */
	if (p == e)
		return 0;
	if ((p = tz_name(p, e, r->dst, sizeof r->dst)) == NULL)
		return -EINVAL;
	r->has_dst = 1;
	r->dstoff = r->stdoff + 3600;
	if (p < e && *p != ',') {
		if ((p = tz_offset(p, e, &r->dstoff)) == NULL)
			return -EINVAL;
		r->dstoff = -r->dstoff;
	}
	if (p == e) {
		/* No rule given: POSIX's default is the US rule. */
		r->start = (struct rulept){ 'M', 0, 2, 3, 7200 };
		r->end = (struct rulept){ 'M', 0, 1, 11, 7200 };
		return 0;
	}
	if (*p != ',' || (p = tz_rulept(p + 1, e, &r->start)) == NULL ||
	    p >= e || *p != ',' || (p = tz_rulept(p + 1, e, &r->end)) == NULL)
		return -EINVAL;
	return p == e ? 0 : -EINVAL;
}

/*
** Build a LOC_ZONE Location userdata from the TZif image buf[0..n).
** Uses the 64-bit (v2+) block when present. Pushes the Location and
** returns 0, or pushes nothing and returns -EINVAL for a malformed file.
*/
static struct loc *newloc(lua_State *L, size_t extra);

static int zone_build(lua_State *L, const char *name,
		      const unsigned char *buf, size_t n)
{
	const unsigned char *p = buf, *end = buf + n, *d;
	uint32_t isutc, isstd, leap, timecnt, typecnt, charcnt, i;
	size_t tsz = 4, blk, namelen = strlen(name), extra;
	struct loc *l;
	int64_t *trans;
	uint8_t *tidx;
	struct ztype *types;
	char *abbrs, *nm;
	struct tzrule rule;
	int has_rule = 0;

	if (n < 44 || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	/*
	 * Header: magic, version, 15 reserved bytes, then six big-endian
	 * counts. Every count is bounded before it sizes anything, and the
	 * data block must fit in the file, so a hostile file can only be
	 * refused, never read past.
	 */
	for (;;) {
		isutc = be32(p + 20); isstd = be32(p + 24); leap = be32(p + 28);
		timecnt = be32(p + 32); typecnt = be32(p + 36);
		charcnt = be32(p + 40);
		if (typecnt == 0 || typecnt > 256 || charcnt == 0 ||
		    timecnt > 100000 || charcnt > 4096 || leap > 10000 ||
		    isutc > typecnt || isstd > typecnt)
			return -EINVAL;
		blk = timecnt * (tsz + 1) + typecnt * 6 + charcnt +
		      leap * (tsz + 4) + isstd + isutc;
		if ((size_t)(end - p) < 44 + blk)
			return -EINVAL;
		if (tsz == 8 || p[4] < '2')
			break;
		/* v2+: skip the 32-bit block and read the 64-bit one. */
		p += 44 + blk;
		tsz = 8;
		if ((size_t)(end - p) < 44 || memcmp(p, "TZif", 4) != 0)
			return -EINVAL;
	}
	d = p + 44;
	/* The footer follows the v2+ block: "\n<TZ string>\n". */
	if (tsz == 8) {
		const unsigned char *f = d + blk, *nl;
		if (f < end && *f == '\n' &&
		    (nl = memchr(f + 1, '\n', (size_t)(end - f - 1))) != NULL &&
		    nl > f + 1 &&
		    tz_parse((const char *)f + 1, (const char *)nl, &rule) == 0)
			has_rule = 1;
	}
	/*
	 * One block: struct loc, then trans[] (8-aligned, right after the
	 * header whose size is a multiple of 8), types[], tidx[], the
	 * abbreviation bytes plus a NUL guard, and the zone name.
	 */
	extra = timecnt * sizeof(int64_t) + typecnt * sizeof(struct ztype) +
		timecnt + charcnt + 1 + namelen + 1;
	l = newloc(L, extra);
	trans = (int64_t *)(l + 1);
	types = (struct ztype *)(trans + timecnt);
	tidx = (uint8_t *)(types + typecnt);
	abbrs = (char *)(tidx + timecnt);
	nm = abbrs + charcnt + 1;
	for (i = 0; i < timecnt; i++)
		trans[i] = tsz == 8 ? be64(d + 8 * i) : (int32_t)be32(d + 4 * i);
	d += timecnt * tsz;
	for (i = 0; i < timecnt; i++) {
		if (d[i] >= typecnt)
			goto bad;
		tidx[i] = d[i];
	}
	d += timecnt;
	for (i = 0; i < typecnt; i++, d += 6) {
		types[i].off = (int32_t)be32(d);
		types[i].isdst = d[4];
		types[i].abbr = d[5];
		if (d[5] >= charcnt)
			goto bad;
	}
	memcpy(abbrs, d, charcnt);
	abbrs[charcnt] = 0;     /* the last abbreviation is terminated anyway */
	memcpy(nm, name, namelen + 1);
	l->kind = LOC_ZONE;
	l->name = nm;
	l->ntrans = timecnt;
	l->ntypes = typecnt;
	l->trans = trans;
	l->tidx = tidx;
	l->types = types;
	l->abbrs = abbrs;
	l->has_rule = has_rule;
	if (has_rule)
		l->rule = rule;
	return 0;
bad:
	lua_pop(L, 1);
	return -EINVAL;
}

/*
** Push the Location for IANA zone `name` from /usr/share/zoneinfo (or
** $ZONEINFO if set, as Go honours it). Returns 0, -ENOENT when there is
** no such zone (or the name tries to leave the directory), -EINVAL when
** the file is not TZif.
*/
static int zone_load(lua_State *L, const char *name)
{
	const char *dir = getenv("ZONEINFO");
	char path[512];
	unsigned char *buf;
	size_t n;
	FILE *f;
	int rc;

	if (name[0] == '/' || name[0] == 0 || strstr(name, "..") ||
	    strchr(name, '\\') || strlen(name) > 255)
		return -ENOENT;
	if (dir == NULL || dir[0] == 0)
		dir = "/usr/share/zoneinfo";
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL)
		return -ENOENT;
	/* Read into VM memory so a Lua error cannot leak a C buffer. */
	buf = lua_newuserdatauv(L, 1 << 16, 0);
	n = fread(buf, 1, 1 << 16, f);
	fclose(f);
	/* nothing readable (a directory such as "America") is no zone */
	rc = n == 0 ? -ENOENT : zone_build(L, name, buf, n);
	if (rc == 0)
		lua_remove(L, -2);      /* the read buffer */
	else
		lua_pop(L, 1);
	return rc;
}

/* }================================================================== */

/* {==================================================================
** Userdata plumbing
** =================================================================== */

struct tval {
	int64_t sec;            /* unix seconds */
	int32_t nsec;           /* 0 .. 999999999 */
	const struct loc *loc;  /* static, or inside the Location user value */
};

static void createmetas(lua_State *L);
static void createmeta_named(lua_State *L, const char *name);

/*
** Set the metatable `name` on the value on top of the stack, creating all
** three on first use. The lazy creation lets the runtime push Times and
** Durations (timer channels) into a state that never required `time`.
*/
static void setmeta(lua_State *L, const char *name)
{
	if (luaL_getmetatable(L, name) == LUA_TNIL) {
		lua_pop(L, 1);
		createmeta_named(L, name);
		luaL_getmetatable(L, name);
	}
	lua_setmetatable(L, -2);
}

static struct loc *newloc(lua_State *L, size_t extra)
{
	struct loc *l = lua_newuserdatauv(L, sizeof *l + extra, 0);
	memset(l, 0, sizeof *l + extra);
	setmeta(L, TIME_LOCATION_META);
	return l;
}

static int64_t *checkdur(lua_State *L, int i)
{
	return luaL_checkudata(L, i, TIME_DURATION_META);
}

static struct tval *checktime(lua_State *L, int i)
{
	return luaL_checkudata(L, i, TIME_TIME_META);
}

static struct loc *checkloc(lua_State *L, int i)
{
	return luaL_checkudata(L, i, TIME_LOCATION_META);
}

static int is_static(const struct loc *l)
{
	return l->kind == LOC_UTC || l->kind == LOC_LOCAL;
}

/*
** Push a Time for sec + nsec (nsec may be any value; it is normalised) in
** location loc. `anchor` is 0 for the static locations, else the stack
** index of the Location userdata that holds loc, or of a Time whose user
** value does; the new Time keeps that Location alive.
*/
static struct tval *pushtime(lua_State *L, int64_t sec, int64_t nsec,
			     const struct loc *loc, int anchor)
{
	struct tval *t;

	anchor = anchor ? lua_absindex(L, anchor) : 0;
	if (is_static(loc))
		loc = loc->kind == LOC_UTC ? &loc_utc : &loc_local;
	sec += gotime_floordiv(nsec, NS_PER_SEC);
	nsec = gotime_floormod(nsec, NS_PER_SEC);
	t = lua_newuserdatauv(L, sizeof *t, 1);
	t->sec = sec;
	t->nsec = (int32_t)nsec;
	t->loc = loc;
	setmeta(L, TIME_TIME_META);
	if (!is_static(loc) && anchor) {
		if (luaL_testudata(L, anchor, TIME_TIME_META))
			lua_getiuservalue(L, anchor, 1);
		else
			lua_pushvalue(L, anchor);
		lua_setiuservalue(L, -2, 1);
	}
	return t;
}

/*
** Read the optional Location argument at i: returns its loc (resolved to
** the static UTC/Local) or dflt when the argument is absent or nil.
*/
static const struct loc *optloc(lua_State *L, int i, const struct loc *dflt)
{
	const struct loc *l;

	if (lua_isnoneornil(L, i))
		return dflt;
	l = checkloc(L, i);
	if (l->kind == LOC_UTC)
		return &loc_utc;
	if (l->kind == LOC_LOCAL)
		return &loc_local;
	return l;
}

/*
** Push nil and an error object of the given kind with message msg (a
** string that may be on the stack; it is copied first). Returns 2.
*/
static int ret_error(lua_State *L, const char *kind, const char *msg)
{
	return errors_ret(L, kind, "%s", msg);
}

/* }================================================================== */

/* {==================================================================
** Durations
** =================================================================== */

/*
** Read a duration without raising; NULL or a Go-style error reason.
** Strings are never coerced to numbers: "1000" is a missing unit, as in
** Go, not 1000 ns.
*/
static const char *dur_read(lua_State *L, int idx, int64_t *out)
{
	const char *why;
	int64_t *d;

	switch (lua_type(L, idx)) {
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			*out = lua_tointeger(L, idx);
		} else {
			lua_Number n = lua_tonumber(L, idx);
			/* 2^63 as a double; NaN fails both comparisons */
			if (!(n > -9223372036854775808.0 &&
			      n < 9223372036854775808.0))
				return "duration out of range";
			*out = (int64_t)n;
		}
		return NULL;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		return gotime_parse_duration(s, len, out, &why) < 0 ? why : NULL;
	}
	case LUA_TUSERDATA:
		if ((d = luaL_testudata(L, idx, TIME_DURATION_META)) != NULL) {
			*out = *d;
			return NULL;
		}
		break;
	}
	return "duration expected (number, string or Duration)";
}

int64_t time_check_duration(lua_State *L, int idx)
{
	int64_t v = 0;
	const char *why = dur_read(L, idx, &v);

	if (why != NULL) {
		if (lua_type(L, idx) == LUA_TSTRING)
			luaL_argerror(L, idx, lua_pushfstring(L,
				"time: %s \"%s\"", why, lua_tostring(L, idx)));
		luaL_argerror(L, idx, why);
	}
	return v;
}

int time_opt_duration(lua_State *L, int idx, int64_t *out)
{
	return dur_read(L, idx, out) == NULL ? 0 : -EINVAL;
}

void time_push_duration(lua_State *L, int64_t ns)
{
	int64_t *d = lua_newuserdatauv(L, sizeof *d, 0);
	*d = ns;
	setmeta(L, TIME_DURATION_META);
}

static char *fmt_int(char *w, uint64_t v)
{
	do
		*--w = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return w;
}

/* Go's float conversion: whole units plus the remainder as a fraction. */
static lua_Number dur_float(int64_t d, int64_t unit)
{
	return (lua_Number)(d / unit) + (lua_Number)(d % unit) / (lua_Number)unit;
}

/* d:hours() -> float  [-0, +1, -] */
static int d_hours(lua_State *L)
{
	lua_pushnumber(L, dur_float(*checkdur(L, 1), 3600 * NS_PER_SEC));
	return 1;
}

/* d:minutes() -> float  [-0, +1, -] */
static int d_minutes(lua_State *L)
{
	lua_pushnumber(L, dur_float(*checkdur(L, 1), 60 * NS_PER_SEC));
	return 1;
}

/* d:seconds() -> float  [-0, +1, -] */
static int d_seconds(lua_State *L)
{
	lua_pushnumber(L, dur_float(*checkdur(L, 1), NS_PER_SEC));
	return 1;
}

/* d:milliseconds() -> integer  [-0, +1, -] */
static int d_milliseconds(lua_State *L)
{
	lua_pushinteger(L, *checkdur(L, 1) / 1000000);
	return 1;
}

/* d:microseconds() -> integer  [-0, +1, -] */
static int d_microseconds(lua_State *L)
{
	lua_pushinteger(L, *checkdur(L, 1) / 1000);
	return 1;
}

/* d:nanoseconds() -> integer  [-0, +1, -] */
static int d_nanoseconds(lua_State *L)
{
	lua_pushinteger(L, *checkdur(L, 1));
	return 1;
}

/* tostring(d) -> "1h30m0s"  [-0, +1, m] */
static int d_tostring(lua_State *L)
{
	char buf[GOTIME_DURATION_BUF];
	lua_pushstring(L, gotime_format_duration(*checkdur(L, 1), buf));
	return 1;
}

/* Metamethods take any duration-like operand, so `d < 5 * SECOND` works. */

/* d1 == d2; false (never an error) against a non-duration  [-0, +1, -] */
static int d_eq(lua_State *L)
{
	int64_t a, b;
	lua_pushboolean(L, dur_read(L, 1, &a) == NULL &&
			   dur_read(L, 2, &b) == NULL && a == b);
	return 1;
}

/* d1 < d2  [-0, +1, v] */
static int d_lt(lua_State *L)
{
	lua_pushboolean(L, time_check_duration(L, 1) < time_check_duration(L, 2));
	return 1;
}

/* d1 <= d2  [-0, +1, v] */
static int d_le(lua_State *L)
{
	lua_pushboolean(L, time_check_duration(L, 1) <= time_check_duration(L, 2));
	return 1;
}

/* d1 + d2 (wraps on overflow, as Go does)  [-0, +1, m] */
static int d_add(lua_State *L)
{
	uint64_t a = (uint64_t)time_check_duration(L, 1);
	uint64_t b = (uint64_t)time_check_duration(L, 2);
	time_push_duration(L, (int64_t)(a + b));
	return 1;
}

/* d1 - d2  [-0, +1, m] */
static int d_sub(lua_State *L)
{
	uint64_t a = (uint64_t)time_check_duration(L, 1);
	uint64_t b = (uint64_t)time_check_duration(L, 2);
	time_push_duration(L, (int64_t)(a - b));
	return 1;
}

/* -d  [-0, +1, m] */
static int d_unm(lua_State *L)
{
	time_push_duration(L, (int64_t)(0 - (uint64_t)*checkdur(L, 1)));
	return 1;
}

/* }================================================================== */

/* {==================================================================
** Layouts: Go's reference-time verbs, shared by format and parse
** =================================================================== */

enum {
	S_NONE, S_LONGMONTH, S_MONTH, S_NUMMONTH, S_ZEROMONTH, S_LONGWEEKDAY,
	S_WEEKDAY, S_DAY, S_UNDERDAY, S_ZERODAY, S_UNDERYEARDAY,
	S_ZEROYEARDAY, S_HOUR, S_HOUR12, S_ZEROHOUR12, S_MINUTE,
	S_ZEROMINUTE, S_SECOND, S_ZEROSECOND, S_LONGYEAR, S_YEAR, S_PM,
	S_pm, S_TZ, S_ISO8601TZ, S_ISO8601SECONDSTZ, S_ISO8601SHORTTZ,
	S_ISO8601COLONTZ, S_ISO8601COLONSECONDSTZ, S_NUMTZ, S_NUMSECONDSTZ,
	S_NUMSHORTTZ, S_NUMCOLONTZ, S_NUMCOLONSECONDSTZ, S_FRAC0, S_FRAC9
};

/*
** One step through a layout: literal prefix, then one verb. Format and
** parse both walk a layout with next_chunk, which is what keeps them
** inverse to each other.
*/
struct chunk {
	size_t plen;            /* literal bytes before the verb */
	size_t vlen;            /* bytes of the verb itself */
	int std;                /* S_NONE: the rest is literal */
	int ndig;               /* S_FRAC*: digits asked for */
	char sep;               /* S_FRAC*: '.' or ',' */
};

static int lower_at(const char *l, size_t n, size_t i)
{
	return i < n && l[i] >= 'a' && l[i] <= 'z';
}

static int digit_at(const char *l, size_t n, size_t i)
{
	return i < n && l[i] >= '0' && l[i] <= '9';
}

static int at(const char *l, size_t n, size_t i, const char *w)
{
	size_t k = strlen(w);
	return n - i >= k && memcmp(l + i, w, k) == 0;
}

/*
** Go's nextStdChunk, verb for verb and in the same precedence: find the
** first verb in lay[0..n), report the literal bytes before it in plen and
** its own length in vlen. Longer verbs win over their prefixes
** ("January" over "Jan", "2006" over "2", "-07:00:00" over "-07").
** "Jan"/"Mon" followed by a lower-case letter are words, not verbs, and
** "_2006" is a literal underscore before the year (Go's special case).
*/
static void next_chunk(const char *l, size_t n, struct chunk *c)
{
	static const int std0x[6] = {
		S_ZEROMONTH, S_ZERODAY, S_ZEROHOUR12, S_ZEROMINUTE,
		S_ZEROSECOND, S_YEAR
	};
	static const struct { const char *w; int std; } tz[] = {
		{ "-070000", S_NUMSECONDSTZ }, { "-07:00:00", S_NUMCOLONSECONDSTZ },
		{ "-0700", S_NUMTZ }, { "-07:00", S_NUMCOLONTZ },
		{ "-07", S_NUMSHORTTZ },
		{ "Z070000", S_ISO8601SECONDSTZ },
		{ "Z07:00:00", S_ISO8601COLONSECONDSTZ },
		{ "Z0700", S_ISO8601TZ }, { "Z07:00", S_ISO8601COLONTZ },
		{ "Z07", S_ISO8601SHORTTZ },
	};
	size_t i, k;

	c->ndig = 0;
	c->sep = 0;
	for (i = 0; i < n; i++) {
		int std = S_NONE;
		size_t len = 0;
		switch (l[i]) {
		case 'J':
			if (at(l, n, i, "January"))
				std = S_LONGMONTH, len = 7;
			else if (at(l, n, i, "Jan") && !lower_at(l, n, i + 3))
				std = S_MONTH, len = 3;
			break;
		case 'M':
			if (at(l, n, i, "Monday"))
				std = S_LONGWEEKDAY, len = 6;
			else if (at(l, n, i, "Mon") && !lower_at(l, n, i + 3))
				std = S_WEEKDAY, len = 3;
			else if (at(l, n, i, "MST"))
				std = S_TZ, len = 3;
			break;
		case '0':
			if (i + 1 < n && l[i + 1] >= '1' && l[i + 1] <= '6')
				std = std0x[l[i + 1] - '1'], len = 2;
			else if (at(l, n, i, "002"))
				std = S_ZEROYEARDAY, len = 3;
			break;
		case '1':
			if (at(l, n, i, "15"))
				std = S_HOUR, len = 2;
			else
				std = S_NUMMONTH, len = 1;
			break;
		case '2':
			if (at(l, n, i, "2006"))
				std = S_LONGYEAR, len = 4;
			else
				std = S_DAY, len = 1;
			break;
		case '_':
			if (at(l, n, i, "_2006")) {
				/* a literal '_' followed by the year */
				c->plen = i + 1;
				c->vlen = 4;
				c->std = S_LONGYEAR;
				return;
			}
			if (at(l, n, i, "_2"))
				std = S_UNDERDAY, len = 2;
			else if (at(l, n, i, "__2"))
				std = S_UNDERYEARDAY, len = 3;
			break;
		case '3': std = S_HOUR12, len = 1; break;
		case '4': std = S_MINUTE, len = 1; break;
		case '5': std = S_SECOND, len = 1; break;
		case 'P':
			if (at(l, n, i, "PM"))
				std = S_PM, len = 2;
			break;
		case 'p':
			if (at(l, n, i, "pm"))
				std = S_pm, len = 2;
			break;
		case '-':
		case 'Z':
			for (k = 0; k < sizeof tz / sizeof tz[0]; k++)
				if (at(l, n, i, tz[k].w)) {
					std = tz[k].std;
					len = strlen(tz[k].w);
					break;
				}
			break;
		case '.':
		case ',':
			if (i + 1 < n && (l[i + 1] == '0' || l[i + 1] == '9')) {
				char ch = l[i + 1];
				size_t j = i + 1;
				while (j < n && l[j] == ch)
					j++;
				/* only a run of one digit, not followed by more */
				if (!digit_at(l, n, j)) {
					std = ch == '0' ? S_FRAC0 : S_FRAC9;
					len = j - i;
					c->ndig = (int)(j - i - 1);
					c->sep = l[i];
				}
			}
			break;
		}
		if (std != S_NONE) {
			c->plen = i;
			c->vlen = len;
			c->std = std;
			return;
		}
	}
	c->plen = n;
	c->vlen = 0;
	c->std = S_NONE;
}

/* Go's appendInt: optional '-', then at least `width` zero-padded digits. */
static void put_int(luaL_Buffer *b, int64_t x, int width)
{
	char tmp[24], *w = tmp + sizeof tmp;
	uint64_t u = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;

	if (x < 0)
		luaL_addchar(b, '-');
	w = fmt_int(w, u);
	while (tmp + sizeof tmp - w < width)
		*--w = '0';
	luaL_addlstring(b, w, (size_t)(tmp + sizeof tmp - w));
}

static void put_frac(luaL_Buffer *b, int32_t nsec, const struct chunk *c)
{
	char tmp[10];
	int n = c->ndig > 9 ? 9 : c->ndig;

	if (c->std == S_FRAC9 && (n == 0 || nsec == 0))
		return;
	snprintf(tmp, sizeof tmp, "%09d", (int)nsec);
	if (c->std == S_FRAC9)
		while (n > 0 && tmp[n - 1] == '0')
			n--;
	if (n == 0)
		return;
	luaL_addchar(b, c->sep);
	luaL_addlstring(b, tmp, (size_t)n);
}

/*
** Append t formatted with Go layout lay[0..n) to b. The wall clock is
** broken down once up front; the loop then alternates literal prefix and
** verb exactly as Go's Time.appendFormat does, so any byte of the layout
** that is not a verb is copied as is (there is no escape syntax in Go).
** Unknown or partial verbs ("Janet", ".00x") are literals, again as in Go.
*/
static void format_time(luaL_Buffer *b, const struct tval *t,
			const char *lay, size_t n)
{
	struct zinfo z;
	struct gotime_civil c;
	struct chunk ch;

	loc_lookup(t->loc, t->sec, &z);
	gotime_civil_of(t->sec + z.off, &c);
	while (n > 0) {
		int h12;
		next_chunk(lay, n, &ch);
		luaL_addlstring(b, lay, ch.plen);
		if (ch.std == S_NONE)
			break;
		lay += ch.plen + ch.vlen;
		n -= ch.plen + ch.vlen;
		h12 = c.hour % 12 == 0 ? 12 : c.hour % 12;
		switch (ch.std) {
		case S_YEAR: put_int(b, c.year % 100, 2); break;
		case S_LONGYEAR: put_int(b, c.year, 4); break;
		case S_MONTH:
			luaL_addlstring(b, long_months[c.mon - 1], 3);
			break;
		case S_LONGMONTH:
			luaL_addstring(b, long_months[c.mon - 1]);
			break;
		case S_NUMMONTH: put_int(b, c.mon, 0); break;
		case S_ZEROMONTH: put_int(b, c.mon, 2); break;
		case S_WEEKDAY:
			luaL_addlstring(b, long_days[c.wday], 3);
			break;
		case S_LONGWEEKDAY:
			luaL_addstring(b, long_days[c.wday]);
			break;
		case S_DAY: put_int(b, c.day, 0); break;
		case S_UNDERDAY:
			if (c.day < 10)
				luaL_addchar(b, ' ');
			put_int(b, c.day, 0);
			break;
		case S_ZERODAY: put_int(b, c.day, 2); break;
		case S_UNDERYEARDAY:
			if (c.yday < 100)
				luaL_addchar(b, ' ');
			if (c.yday < 10)
				luaL_addchar(b, ' ');
			put_int(b, c.yday, 0);
			break;
		case S_ZEROYEARDAY: put_int(b, c.yday, 3); break;
		case S_HOUR: put_int(b, c.hour, 2); break;
		case S_HOUR12: put_int(b, h12, 0); break;
		case S_ZEROHOUR12: put_int(b, h12, 2); break;
		case S_MINUTE: put_int(b, c.min, 0); break;
		case S_ZEROMINUTE: put_int(b, c.min, 2); break;
		case S_SECOND: put_int(b, c.sec, 0); break;
		case S_ZEROSECOND: put_int(b, c.sec, 2); break;
		case S_PM: luaL_addstring(b, c.hour >= 12 ? "PM" : "AM"); break;
		case S_pm: luaL_addstring(b, c.hour >= 12 ? "pm" : "am"); break;
		case S_ISO8601TZ: case S_ISO8601COLONTZ: case S_ISO8601SECONDSTZ:
		case S_ISO8601SHORTTZ: case S_ISO8601COLONSECONDSTZ:
		case S_NUMTZ: case S_NUMCOLONTZ: case S_NUMSECONDSTZ:
		case S_NUMSHORTTZ: case S_NUMCOLONSECONDSTZ: {
			int colon = ch.std == S_ISO8601COLONTZ ||
				    ch.std == S_NUMCOLONTZ ||
				    ch.std == S_ISO8601COLONSECONDSTZ ||
				    ch.std == S_NUMCOLONSECONDSTZ;
			int secs = ch.std == S_ISO8601SECONDSTZ ||
				   ch.std == S_NUMSECONDSTZ ||
				   ch.std == S_ISO8601COLONSECONDSTZ ||
				   ch.std == S_NUMCOLONSECONDSTZ;
			int shrt = ch.std == S_NUMSHORTTZ ||
				   ch.std == S_ISO8601SHORTTZ;
			int32_t zone = z.off / 60, abs = z.off;
			if (ch.std >= S_ISO8601TZ && ch.std <= S_ISO8601COLONSECONDSTZ
			    && z.off == 0) {
				luaL_addchar(b, 'Z');
				break;
			}
			if (zone < 0) {
				luaL_addchar(b, '-');
				zone = -zone;
				abs = -abs;
			} else {
				luaL_addchar(b, '+');
			}
			put_int(b, zone / 60, 2);
			if (colon)
				luaL_addchar(b, ':');
			if (!shrt)
				put_int(b, zone % 60, 2);
			if (secs) {
				if (colon)
					luaL_addchar(b, ':');
				put_int(b, abs % 60, 2);
			}
			break;
		}
		case S_TZ:
			if (z.abbr[0]) {
				luaL_addstring(b, z.abbr);
			} else {
				int32_t zone = z.off / 60;
				luaL_addchar(b, zone < 0 ? '-' : '+');
				if (zone < 0)
					zone = -zone;
				put_int(b, zone / 60, 2);
				put_int(b, zone % 60, 2);
			}
			break;
		case S_FRAC0:
		case S_FRAC9:
			put_frac(b, t->nsec, &ch);
			break;
		}
	}
}

/* }================================================================== */

/* {==================================================================
** Parsing times (Go's time.parse)
** =================================================================== */

/* A cursor over the value being parsed; p only moves forward, p <= e. */
struct cur {
	const char *p, *e;
};

static int cdigit(const struct cur *v, size_t i)
{
	return v->p + i < v->e && v->p[i] >= '0' && v->p[i] <= '9';
}

/* Go's getnum: one or two digits; `fixed` demands two. */
static int getnum(struct cur *v, int fixed, int *out)
{
	if (!cdigit(v, 0))
		return -1;
	if (!cdigit(v, 1)) {
		if (fixed)
			return -1;
		*out = v->p[0] - '0';
		v->p += 1;
		return 0;
	}
	*out = (v->p[0] - '0') * 10 + (v->p[1] - '0');
	v->p += 2;
	return 0;
}

/* Go's getnum3: one to three digits; `fixed` demands three. */
static int getnum3(struct cur *v, int fixed, int *out)
{
	int n = 0, i;

	for (i = 0; i < 3 && cdigit(v, (size_t)i); i++)
		n = n * 10 + (v->p[i] - '0');
	if (i == 0 || (fixed && i != 3))
		return -1;
	*out = n;
	v->p += i;
	return 0;
}

/* Match a month or day name (case-insensitively, like Go). */
static int lookup_name(struct cur *v, const char *const *names, int count,
		       int abbrev)
{
	int i;

	for (i = 0; i < count; i++) {
		size_t k = abbrev ? 3 : strlen(names[i]);
		if ((size_t)(v->e - v->p) >= k &&
		    strncasecmp(v->p, names[i], k) == 0) {
			v->p += k;
			return i;
		}
	}
	return -1;
}

/* Go's skip: match the literal prefix, any run of spaces matching any. */
static int skip_lit(struct cur *v, const char *pre, size_t n)
{
	const char *e = pre + n;

	while (pre < e) {
		if (*pre == ' ') {
			if (v->p < v->e && *v->p != ' ')
				return -1;
			while (pre < e && *pre == ' ')
				pre++;
			while (v->p < v->e && *v->p == ' ')
				v->p++;
			continue;
		}
		if (v->p >= v->e || *v->p != *pre)
			return -1;
		pre++;
		v->p++;
	}
	return 0;
}

/* Go's parseNanoseconds over value[0..nbytes) = ".ddd"; at most 9 digits count. */
static int parse_nanos(struct cur *v, size_t nbytes, int *ns)
{
	size_t i;
	int x = 0, scale;

	if (v->p[0] != '.' && v->p[0] != ',')
		return -1;
	if (nbytes > 10)
		nbytes = 10;
	for (i = 1; i < nbytes; i++) {
		if (!cdigit(v, i))
			return -1;
		x = x * 10 + (v->p[i] - '0');
	}
	for (scale = (int)(10 - nbytes); scale > 0; scale--)
		x *= 10;
	*ns = x;
	return 0;
}

/* Go's parseTimeZone: how many bytes of v look like a zone abbreviation. */
static size_t zone_abbr_len(const struct cur *v)
{
	size_t len = (size_t)(v->e - v->p), n;
	const char *s = v->p;

	if (len < 3)
		return 0;
	if (len >= 4 && (memcmp(s, "ChST", 4) == 0 || memcmp(s, "MeST", 4) == 0))
		return 4;
	if (memcmp(s, "GMT", 3) == 0) {
		/* GMT, or GMT+h / GMT-hh within -23..+23 */
		int x = 0;
		if (len == 3 || (s[3] != '+' && s[3] != '-'))
			return 3;
		for (n = 4; n < len && n < 6 && s[n] >= '0' && s[n] <= '9'; n++)
			x = x * 10 + (s[n] - '0');
		if (n == 4 || x > 23 || (n < len && s[n] >= '0' && s[n] <= '9'))
			return 3;
		return n;
	}
	for (n = 0; n < 6 && n < len && s[n] >= 'A' && s[n] <= 'Z'; n++)
		;
	switch (n) {
	case 3: return 3;
	case 4: return s[3] == 'T' || memcmp(s, "WITA", 4) == 0 ? 4 : 0;
	case 5: return s[4] == 'T' ? 5 : 0;
	default: return 0;
	}
}

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

/*
** Parse value per layout. On success fills ps and returns NULL; on
** failure pushes a Go-style message and returns it.
**
** Walks the layout chunk by chunk like Go's parse: the literal prefix
** must match (runs of spaces match runs of spaces), then the verb reads
** its field. A field that does not read is a syntax error quoting the
** value from where the field began (vhold); a field that reads but lies
** outside its range is a range error. Weekday names are checked for
** syntax only. After the loop the 12-hour clock, day-of-year and day of
** month are reconciled; the caller resolves the zone.
*/
static const char *parse_fields(lua_State *L, const char *lay, size_t ln,
				const char *val, size_t vn, struct pstate *ps)
{
	const char *alay = lay, *range = NULL;
	struct cur v = { val, val + vn };
	struct chunk ch, nx;

	memset(ps, 0, sizeof *ps);
	ps->month = ps->day = ps->yday = -1;
	for (;;) {
		const char *vhold, *verb;
		int err = 0, x = 0;

		next_chunk(lay, ln, &ch);
		verb = lay + ch.plen;
		if (skip_lit(&v, lay, ch.plen) < 0)
			return lua_pushfstring(L,
				"parsing time \"%s\" as \"%s\": cannot parse "
				"\"%s\" as \"%s\"", val, alay, v.p,
				lua_pushlstring(L, lay, ch.plen));
		if (ch.std == S_NONE) {
			if (v.p != v.e)
				return lua_pushfstring(L, "parsing time \"%s\": "
					"extra text: \"%s\"", val, v.p);
			break;
		}
		lay += ch.plen + ch.vlen;
		ln -= ch.plen + ch.vlen;
		vhold = v.p;
		switch (ch.std) {
		case S_YEAR:
			if (!cdigit(&v, 0) || !cdigit(&v, 1)) {
				err = 1;
				break;
			}
			x = (v.p[0] - '0') * 10 + (v.p[1] - '0');
			v.p += 2;
			ps->year = x >= 69 ? 1900 + x : 2000 + x;
			break;
		case S_LONGYEAR: {
			int i;
			if (v.e - v.p < 4 || !cdigit(&v, 0)) {
				err = 1;
				break;
			}
			for (i = 0; i < 4; i++) {
				if (!cdigit(&v, (size_t)i))
					err = 1;
				x = x * 10 + (v.p[i] - '0');
			}
			v.p += 4;
			ps->year = x;
			break;
		}
		case S_MONTH:
		case S_LONGMONTH:
			x = lookup_name(&v, long_months, 12, ch.std == S_MONTH);
			err = x < 0;
			ps->month = x + 1;
			break;
		case S_NUMMONTH:
		case S_ZEROMONTH:
			err = getnum(&v, ch.std == S_ZEROMONTH, &ps->month) < 0;
			if (!err && (ps->month <= 0 || ps->month > 12))
				range = "month";
			break;
		case S_WEEKDAY:
		case S_LONGWEEKDAY:
			/* checked for syntax only, like Go */
			err = lookup_name(&v, long_days, 7, ch.std == S_WEEKDAY) < 0;
			break;
		case S_DAY:
		case S_UNDERDAY:
		case S_ZERODAY:
			if (ch.std == S_UNDERDAY && v.p < v.e && *v.p == ' ')
				v.p++;
			err = getnum(&v, ch.std == S_ZERODAY, &ps->day) < 0;
			break;
		case S_UNDERYEARDAY:
		case S_ZEROYEARDAY: {
			int i;
			for (i = 0; i < 2; i++)
				if (ch.std == S_UNDERYEARDAY && v.p < v.e &&
				    *v.p == ' ')
					v.p++;
			err = getnum3(&v, ch.std == S_ZEROYEARDAY, &ps->yday) < 0;
			break;
		}
		case S_HOUR:
			err = getnum(&v, 0, &ps->hour) < 0;
			if (!err && ps->hour >= 24)
				range = "hour";
			break;
		case S_HOUR12:
		case S_ZEROHOUR12:
			err = getnum(&v, ch.std == S_ZEROHOUR12, &ps->hour) < 0;
			if (!err && ps->hour > 12)
				range = "hour";
			break;
		case S_MINUTE:
		case S_ZEROMINUTE:
			err = getnum(&v, ch.std == S_ZEROMINUTE, &ps->min) < 0;
			if (!err && ps->min >= 60)
				range = "minute";
			break;
		case S_SECOND:
		case S_ZEROSECOND: {
			size_t k = 2;
			err = getnum(&v, ch.std == S_ZEROSECOND, &ps->sec) < 0;
			if (err)
				break;
			if (ps->sec >= 60) {
				range = "second";
				break;
			}
			/* A fraction in the value but none in the layout. */
			if (v.e - v.p < 2 || (*v.p != '.' && *v.p != ',') ||
			    !cdigit(&v, 1))
				break;
			next_chunk(lay, ln, &nx);
			if (nx.std == S_FRAC0 || nx.std == S_FRAC9)
				break;
			while (cdigit(&v, k))
				k++;
			err = parse_nanos(&v, k, &ps->nsec) < 0;
			v.p += k;
			break;
		}
		case S_PM:
		case S_pm: {
			const char *pm = ch.std == S_PM ? "PM" : "pm";
			const char *am = ch.std == S_PM ? "AM" : "am";
			if (v.e - v.p < 2) {
				err = 1;
			} else if (memcmp(v.p, pm, 2) == 0) {
				ps->pm = 1;
			} else if (memcmp(v.p, am, 2) == 0) {
				ps->am = 1;
			} else {
				err = 1;
			}
			v.p += err ? 0 : 2;
			break;
		}
		case S_ISO8601TZ: case S_ISO8601SHORTTZ: case S_ISO8601COLONTZ:
		case S_ISO8601SECONDSTZ: case S_ISO8601COLONSECONDSTZ:
			if (v.p < v.e && *v.p == 'Z') {
				v.p++;
				ps->is_utc = 1;
				break;
			}
			/* fall through */
		case S_NUMTZ: case S_NUMSHORTTZ: case S_NUMCOLONTZ:
		case S_NUMSECONDSTZ: case S_NUMCOLONSECONDSTZ: {
			/* offsets of the h, m, s digit pairs, and total length */
			int ho = 1, mo = -1, so = -1, len;
			int hh = 0, mm = 0, ss = 0;
			struct cur t;
			if (ch.std == S_ISO8601COLONTZ || ch.std == S_NUMCOLONTZ) {
				mo = 4, len = 6;
			} else if (ch.std == S_NUMSHORTTZ ||
				   ch.std == S_ISO8601SHORTTZ) {
				len = 3;
			} else if (ch.std == S_ISO8601COLONSECONDSTZ ||
				   ch.std == S_NUMCOLONSECONDSTZ) {
				mo = 4, so = 7, len = 9;
			} else if (ch.std == S_ISO8601SECONDSTZ ||
				   ch.std == S_NUMSECONDSTZ) {
				mo = 3, so = 5, len = 7;
			} else {
				mo = 3, len = 5;
			}
			if (v.e - v.p < len ||
			    ((len == 6 || len == 9) && v.p[3] != ':') ||
			    (len == 9 && v.p[6] != ':')) {
				err = 1;
				break;
			}
			t.p = v.p + ho, t.e = t.p + 2;
			err |= getnum(&t, 1, &hh) < 0;
			if (mo > 0) {
				t.p = v.p + mo, t.e = t.p + 2;
				err |= getnum(&t, 1, &mm) < 0;
			}
			if (so > 0) {
				t.p = v.p + so, t.e = t.p + 2;
				err |= getnum(&t, 1, &ss) < 0;
			}
			ps->zoff = (hh * 60 + mm) * 60 + ss;
			if (v.p[0] == '-')
				ps->zoff = -ps->zoff;
			else if (v.p[0] != '+')
				err = 1;
			ps->has_zoff = 1;
			v.p += len;
			break;
		}
		case S_TZ: {
			size_t k;
			if (v.e - v.p >= 3 && memcmp(v.p, "UTC", 3) == 0) {
				ps->is_utc = 1;
				v.p += 3;
				break;
			}
			k = zone_abbr_len(&v);
			if (k == 0 || k >= sizeof ps->zname) {
				err = 1;
				break;
			}
			memcpy(ps->zname, v.p, k);
			ps->zname[k] = 0;
			v.p += k;
			break;
		}
		case S_FRAC0: {
			size_t nd = 1 + (size_t)ch.ndig;
			if ((size_t)(v.e - v.p) < nd) {
				err = 1;
				break;
			}
			err = parse_nanos(&v, nd, &ps->nsec) < 0;
			v.p += nd;
			break;
		}
		case S_FRAC9: {
			size_t k = 1;
			if (v.e - v.p < 2 || (*v.p != '.' && *v.p != ',') ||
			    !cdigit(&v, 1))
				break;  /* fraction omitted */
			while (cdigit(&v, k))
				k++;
			err = parse_nanos(&v, k, &ps->nsec) < 0;
			v.p += k;
			break;
		}
		}
		if (range)
			return lua_pushfstring(L, "parsing time \"%s\": %s out "
					       "of range", val, range);
		if (err) {
			lua_pushlstring(L, verb, ch.vlen);
			return lua_pushfstring(L,
				"parsing time \"%s\" as \"%s\": cannot parse "
				"\"%s\" as \"%s\"", val, alay, vhold,
				lua_tostring(L, -1));
		}
	}
	if (ps->pm && ps->hour < 12)
		ps->hour += 12;
	else if (ps->am && ps->hour == 12)
		ps->hour = 0;
	if (ps->yday >= 0) {
		int m, d;
		if (ps->yday < 1 || ps->yday > 365 + gotime_is_leap(ps->year))
			return lua_pushfstring(L, "parsing time \"%s\": day-of-"
					       "year out of range", val);
		gotime_civil_from_days(gotime_days_from_civil(ps->year, 1, 1) + ps->yday - 1,
				&(int64_t){ 0 }, &m, &d);
		if ((ps->month >= 0 && ps->month != m) ||
		    (ps->day >= 0 && ps->day != d))
			return lua_pushfstring(L, "parsing time \"%s\": day-of-"
					       "year does not match %s", val,
					       ps->month >= 0 && ps->month != m
					       ? "month" : "day");
		ps->month = m;
		ps->day = d;
	} else {
		if (ps->month < 0)
			ps->month = 1;
		if (ps->day < 0)
			ps->day = 1;
	}
	if (ps->day < 1 || ps->day > gotime_days_in(ps->month, ps->year))
		return lua_pushfstring(L, "parsing time \"%s\": day out of "
				       "range", val);
	return NULL;
}

/* }================================================================== */

/* {==================================================================
** Time methods
** =================================================================== */

/*
** Wall clock fields of t in its own location. Every accessor recomputes
** them (a zone lookup plus integer calendar math, well under a
** microsecond) rather than caching, which keeps a Time 24 bytes.
*/
static void time_civil(const struct tval *t, struct gotime_civil *c)
{
	struct zinfo z;
	loc_lookup(t->loc, t->sec, &z);
	gotime_civil_of(t->sec + z.off, c);
}

/*
** Go's Date: normalise every field (month 13 is January next year, hour
** 25 is 1am tomorrow, ...) then resolve the wall time in loc. Raises a
** Lua error when the year leaves +-1e11. Returns the unix second and
** stores the normalised nanosecond.
*/
static int64_t date_unix(lua_State *L, int64_t y, int64_t mo, int64_t d,
			 int64_t h, int64_t mi, int64_t s, int64_t ns,
			 const struct loc *loc, int32_t *nsec_out)
{
	__int128 yy, secs;
	int64_t m0;

	m0 = gotime_floormod(mo - 1, 12);
	yy = (__int128)y + gotime_floordiv(mo - 1, 12);
	if (yy > MAX_YEAR || yy < -MAX_YEAR)
		luaL_error(L, "time: year out of range");
	secs = (__int128)gotime_days_from_civil((int64_t)yy, (int)m0 + 1, 1);
	secs = (secs + (__int128)d - 1) * SECS_PER_DAY + (__int128)h * 3600 +
	       (__int128)mi * 60 + s + gotime_floordiv(ns, NS_PER_SEC);
	if (secs > MAX_SEC || secs < -MAX_SEC)
		luaL_error(L, "time: date out of range");
	*nsec_out = (int32_t)gotime_floormod(ns, NS_PER_SEC);
	return loc_unix(loc, (int64_t)secs);
}

/* r = t + d nanoseconds, saturating at +-MAX_SEC. */
static void add_ns(struct tval *r, const struct tval *t, int64_t d)
{
	int64_t dsec = d / NS_PER_SEC, nsec = t->nsec + d % NS_PER_SEC;

	if (nsec >= NS_PER_SEC)
		dsec++, nsec -= NS_PER_SEC;
	else if (nsec < 0)
		dsec--, nsec += NS_PER_SEC;
	r->sec = t->sec + dsec;         /* both within +-2^62: no overflow */
	if (r->sec > MAX_SEC || r->sec < -MAX_SEC)
		r->sec = r->sec > 0 ? MAX_SEC : -MAX_SEC;
	r->nsec = (int32_t)nsec;
}

/* t:add(d) -> Time  [-0, +1, m] */
static int t_add(lua_State *L)
{
	struct tval *t = checktime(L, 1), r;
	add_ns(&r, t, time_check_duration(L, 2));
	pushtime(L, r.sec, r.nsec, t->loc, 1);
	return 1;
}

/* t:sub(u) -> Duration, clamped to the int64 range  [-0, +1, m] */
static int t_sub(lua_State *L)
{
	struct tval *t = checktime(L, 1), *u = checktime(L, 2);
	__int128 d = ((__int128)t->sec - u->sec) * NS_PER_SEC +
		     (t->nsec - u->nsec);

	if (d > INT64_MAX)
		d = INT64_MAX;
	else if (d < INT64_MIN)
		d = INT64_MIN;
	time_push_duration(L, (int64_t)d);
	return 1;
}

/* t:add_date(years, months, days) -> Time  [-0, +1, m] */
static int t_add_date(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	lua_Integer y = luaL_checkinteger(L, 2), m = luaL_checkinteger(L, 3);
	lua_Integer d = luaL_checkinteger(L, 4);
	struct gotime_civil c;
	int32_t ns;
	int64_t sec;

	time_civil(t, &c);
	if (y > MAX_YEAR || y < -MAX_YEAR || m > MAX_YEAR || m < -MAX_YEAR ||
	    d > MAX_YEAR || d < -MAX_YEAR)
		luaL_error(L, "time: date out of range");
	sec = date_unix(L, c.year + y, c.mon + m, c.day + d, c.hour, c.min,
			c.sec, t->nsec, t->loc, &ns);
	pushtime(L, sec, ns, t->loc, 1);
	return 1;
}

static int cmp_time(const struct tval *a, const struct tval *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	return a->nsec < b->nsec ? -1 : a->nsec > b->nsec;
}

/* t:before(u) -> boolean  [-0, +1, -] */
static int t_before(lua_State *L)
{
	lua_pushboolean(L, cmp_time(checktime(L, 1), checktime(L, 2)) < 0);
	return 1;
}

/* t:after(u) -> boolean  [-0, +1, -] */
static int t_after(lua_State *L)
{
	lua_pushboolean(L, cmp_time(checktime(L, 1), checktime(L, 2)) > 0);
	return 1;
}

/* t:equal(u): same instant, whatever the locations  [-0, +1, -] */
static int t_equal(lua_State *L)
{
	lua_pushboolean(L, cmp_time(checktime(L, 1), checktime(L, 2)) == 0);
	return 1;
}

/*
** t:is_zero() -> boolean: t is Go's zero Time, 0001-01-01 00:00:00 UTC
** (whatever its location), as time.date(1, 1, 1, 0, 0, 0, 0, time.utc)
** gives.  [-0, +1, -]
*/
static int t_is_zero(lua_State *L)
{
	struct tval *t = checktime(L, 1);

	lua_pushboolean(L, t->sec == -ABS_TO_UNIX && t->nsec == 0);
	return 1;
}

/* t == u: same instant; false (never an error) for a non-Time  [-0, +1, -] */
static int t_eq(lua_State *L)
{
	struct tval *a = luaL_testudata(L, 1, TIME_TIME_META);
	struct tval *b = luaL_testudata(L, 2, TIME_TIME_META);
	lua_pushboolean(L, a && b && cmp_time(a, b) == 0);
	return 1;
}

/* t <= u  [-0, +1, -] */
static int t_le(lua_State *L)
{
	lua_pushboolean(L, cmp_time(checktime(L, 1), checktime(L, 2)) <= 0);
	return 1;
}

/* t:format(layout) -> string  [-0, +1, m] */
static int t_format(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	size_t n;
	const char *lay = luaL_checklstring(L, 2, &n);
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	format_time(&b, t, lay, n);
	luaL_pushresult(&b);
	return 1;
}

static void push_formatted(lua_State *L, const struct tval *t, const char *lay)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	format_time(&b, t, lay, strlen(lay));
	luaL_pushresult(&b);
}

/* t:format_rfc3339() -> string  [-0, +1, m] */
static int t_format_rfc3339(lua_State *L)
{
	push_formatted(L, checktime(L, 1), "2006-01-02T15:04:05Z07:00");
	return 1;
}

/* tostring(t): Go's Time.String (no monotonic reading)  [-0, +1, m] */
static int t_tostring(lua_State *L)
{
	push_formatted(L, checktime(L, 1),
		       "2006-01-02 15:04:05.999999999 -0700 MST");
	return 1;
}

/* t:unix() -> integer seconds  [-0, +1, -] */
static int t_unix(lua_State *L)
{
	lua_pushinteger(L, checktime(L, 1)->sec);
	return 1;
}

/* t:unix_nano() -> integer (wraps outside 1678..2262, like Go)  [-0, +1, -] */
static int t_unix_nano(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	lua_pushinteger(L, (lua_Integer)((uint64_t)t->sec * NS_PER_SEC +
					 (uint64_t)t->nsec));
	return 1;
}

/* t:unix_milli() -> integer  [-0, +1, -] */
static int t_unix_milli(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	lua_pushinteger(L, (lua_Integer)((uint64_t)t->sec * 1000 +
					 (uint64_t)(t->nsec / 1000000)));
	return 1;
}

/* The calendar accessors: one integer of the wall clock.  [-0, +1, -] */
#define FIELD_GETTER(fname, expr)                       \
	static int fname(lua_State *L)                  \
	{                                               \
		struct gotime_civil c;                         \
		time_civil(checktime(L, 1), &c);        \
		lua_pushinteger(L, (expr));             \
		return 1;                               \
	}
FIELD_GETTER(t_year, c.year)
FIELD_GETTER(t_month, c.mon)
FIELD_GETTER(t_day, c.day)
FIELD_GETTER(t_hour, c.hour)
FIELD_GETTER(t_minute, c.min)
FIELD_GETTER(t_second, c.sec)
FIELD_GETTER(t_weekday, c.wday)
FIELD_GETTER(t_year_day, c.yday)

/* t:nanosecond() -> integer 0..999999999  [-0, +1, -] */
static int t_nanosecond(lua_State *L)
{
	lua_pushinteger(L, checktime(L, 1)->nsec);
	return 1;
}

/* t:date() -> year, month, day  [-0, +3, -] */
static int t_date(lua_State *L)
{
	struct gotime_civil c;
	time_civil(checktime(L, 1), &c);
	lua_pushinteger(L, c.year);
	lua_pushinteger(L, c.mon);
	lua_pushinteger(L, c.day);
	return 3;
}

/* t:clock() -> hour, minute, second  [-0, +3, -] */
static int t_clock(lua_State *L)
{
	struct gotime_civil c;
	time_civil(checktime(L, 1), &c);
	lua_pushinteger(L, c.hour);
	lua_pushinteger(L, c.min);
	lua_pushinteger(L, c.sec);
	return 3;
}

/* t:zone() -> abbreviation, offset seconds east of UTC  [-0, +2, m] */
static int t_zone(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	struct zinfo z;
	loc_lookup(t->loc, t->sec, &z);
	lua_pushstring(L, z.abbr);
	lua_pushinteger(L, z.off);
	return 2;
}

/* t:utc() -> Time  [-0, +1, m] */
static int t_utc(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	pushtime(L, t->sec, t->nsec, &loc_utc, 0);
	return 1;
}

/* t:in_local() -> Time  [-0, +1, m] */
static int t_in_local(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	pushtime(L, t->sec, t->nsec, &loc_local, 0);
	return 1;
}

/* t:in_location(loc) -> Time  [-0, +1, m] */
static int t_in_location(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	checkloc(L, 2);
	pushtime(L, t->sec, t->nsec, optloc(L, 2, NULL), 2);
	return 1;
}

/* t:location() -> Location  [-0, +1, m] */
static int t_location(lua_State *L)
{
	struct tval *t = checktime(L, 1);
	if (is_static(t->loc)) {
		struct loc *l = newloc(L, 0);
		*l = *t->loc;
	} else {
		lua_getiuservalue(L, 1, 1);
	}
	return 1;
}

/*
** Go's div remainder: (t - zero time) mod d, in [0, d). Go measures from
** 0001-01-01 UTC, not from 1970, so rounding to durations that do not
** divide a day (7s, 13m) lands where Go's does; 128-bit arithmetic keeps
** the nanosecond count exact for every representable time.
*/
static int64_t time_rem(const struct tval *t, int64_t d)
{
	__int128 abs = ((__int128)t->sec + ABS_TO_UNIX) * NS_PER_SEC + t->nsec;
	__int128 r = abs % d;
	if (r < 0)
		r += d;
	return (int64_t)r;
}

/* t:round(d) -> Time, halfway rounds up; d <= 0 returns t  [-0, +1, m] */
static int t_round(lua_State *L)
{
	struct tval *t = checktime(L, 1), r = *t;
	int64_t d = time_check_duration(L, 2), rem;

	if (d > 0) {
		rem = time_rem(t, d);
		if ((uint64_t)rem + (uint64_t)rem < (uint64_t)d)
			add_ns(&r, t, -rem);
		else
			add_ns(&r, t, d - rem);
	}
	pushtime(L, r.sec, r.nsec, t->loc, 1);
	return 1;
}

/* t:truncate(d) -> Time; d <= 0 returns t  [-0, +1, m] */
static int t_truncate(lua_State *L)
{
	struct tval *t = checktime(L, 1), r = *t;
	int64_t d = time_check_duration(L, 2);

	if (d > 0)
		add_ns(&r, t, -time_rem(t, d));
	pushtime(L, r.sec, r.nsec, t->loc, 1);
	return 1;
}

/* t < u  [-0, +1, -] */
static int t_lt(lua_State *L)
{
	return t_before(L);
}

/* tostring(loc) / loc:string() -> name  [-0, +1, m] */
static int l_tostring(lua_State *L)
{
	lua_pushstring(L, checkloc(L, 1)->name);
	return 1;
}

/* }================================================================== */

/* {==================================================================
** Module functions
** =================================================================== */

int64_t time_now_unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

void time_push_time(lua_State *L, int64_t unix_ns)
{
	pushtime(L, gotime_floordiv(unix_ns, NS_PER_SEC), gotime_floormod(unix_ns, NS_PER_SEC),
		 &loc_local, 0);
}

/* time.now() -> Time in Local  [-0, +1, m] */
static int m_now(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	pushtime(L, ts.tv_sec, ts.tv_nsec, &loc_local, 0);
	return 1;
}

/* time.unix(sec [, nsec]) -> Time in Local; nsec may be out of range  [-0, +1, m] */
static int m_unix(lua_State *L)
{
	lua_Integer sec = luaL_checkinteger(L, 1);
	lua_Integer nsec = luaL_optinteger(L, 2, 0);
	luaL_argcheck(L, sec >= -MAX_SEC && sec <= MAX_SEC, 1, "out of range");
	pushtime(L, sec, nsec, &loc_local, 0);
	return 1;
}

/*
** time.date(y, mo, d, h, mi, s, ns [, loc]) -> Time. Fields normalise as
** in Go; loc defaults to Local (Go requires one; Local matches now()).
** [-0, +1, v]
*/
static int m_date(lua_State *L)
{
	lua_Integer f[7];
	const struct loc *loc;
	int32_t ns;
	int64_t sec;
	int i;

	for (i = 0; i < 7; i++)
		f[i] = i < 3 ? luaL_checkinteger(L, i + 1)
			     : luaL_optinteger(L, i + 1, 0);
	loc = optloc(L, 8, &loc_local);
	sec = date_unix(L, f[0], f[1], f[2], f[3], f[4], f[5], f[6], loc, &ns);
	pushtime(L, sec, ns, loc, is_static(loc) ? 0 : 8);
	return 1;
}

/*
** time.parse(layout, value [, loc]) -> Time | nil, err. Without loc this
** is Go's time.Parse (no zone in the value: UTC; a zone matching Local:
** Local); with loc it is ParseInLocation. [-0, +(1|2), m]
**
** Zone resolution, in Go's order:
**   "Z" or "UTC" in the value          -> UTC;
**   a numeric offset (maybe with name) -> `local` if it had exactly that
**                                         offset (and name) then, else a
**                                         new fixed zone named by the
**                                         abbreviation ("" if none);
**   an abbreviation alone              -> `local` if it knows the name,
**                                         else a fixed zone of offset 0
**                                         (GMT+h: h hours) whose wall
**                                         clock is read as UTC;
**   nothing                            -> the default location.
*/
static int m_parse(lua_State *L)
{
	size_t ln, vn;
	const char *lay = luaL_checklstring(L, 1, &ln);
	const char *val = luaL_checklstring(L, 2, &vn);
	const struct loc *dflt = optloc(L, 3, &loc_utc);
	const struct loc *local = optloc(L, 3, &loc_local);
	int anchor = lua_isnoneornil(L, 3) || is_static(dflt) ? 0 : 3;
	struct pstate ps;
	const char *msg;
	int64_t sec;
	int32_t ns;
	struct zinfo z;

	if ((msg = parse_fields(L, lay, ln, val, vn, &ps)) != NULL)
		return ret_error(L, ERRORS_INVALID, msg);
	if (ps.is_utc) {
		sec = date_unix(L, ps.year, ps.month, ps.day, ps.hour, ps.min,
				ps.sec, ps.nsec, &loc_utc, &ns);
		pushtime(L, sec, ns, &loc_utc, 0);
		return 1;
	}
	if (ps.has_zoff || ps.zname[0]) {
		int32_t off = ps.has_zoff ? ps.zoff : 0;
		struct loc *fz;
		size_t nl;
		sec = date_unix(L, ps.year, ps.month, ps.day, ps.hour, ps.min,
				ps.sec, ps.nsec, &loc_utc, &ns);
		if (ps.has_zoff) {
			/* Use local if it really had that offset then. */
			loc_lookup(local, sec - off, &z);
			if (z.off == off && (!ps.zname[0] ||
					     strcmp(z.abbr, ps.zname) == 0)) {
				pushtime(L, sec - off, ns, local, anchor);
				return 1;
			}
		} else {
			if (loc_find_name(local, ps.zname, sec, &off)) {
				pushtime(L, sec - off, ns, local, anchor);
				return 1;
			}
			/*
			 * Unknown abbreviation: a fake zone with offset 0, or
			 * GMT+h's. Go does not shift the instant here, so the
			 * wall clock was read as UTC; keep that quirk.
			 */
			off = 0;
			if (strncmp(ps.zname, "GMT", 3) == 0 && ps.zname[3])
				off = (int32_t)strtol(ps.zname + 3, NULL, 10) * 3600;
		}
		nl = strlen(ps.zname);
		fz = newloc(L, nl + 1);
		memcpy(fz + 1, ps.zname, nl + 1);
		fz->kind = LOC_FIXED;
		fz->off = off;
		fz->name = (const char *)(fz + 1);
		pushtime(L, ps.has_zoff ? sec - off : sec, ns, fz, -1);
		lua_remove(L, -2);
		return 1;
	}
	sec = date_unix(L, ps.year, ps.month, ps.day, ps.hour, ps.min, ps.sec,
			ps.nsec, dflt, &ns);
	pushtime(L, sec, ns, dflt, anchor);
	return 1;
}

/* time.parse_duration(v) -> Duration | nil, err  [-0, +(1|2), m] */
static int m_parse_duration(lua_State *L)
{
	int64_t d;
	const char *why = dur_read(L, 1, &d);

	if (why != NULL) {
		if (lua_type(L, 1) == LUA_TSTRING)
			why = lua_pushfstring(L, "time: %s \"%s\"", why,
					      lua_tostring(L, 1));
		return ret_error(L, ERRORS_INVALID, why);
	}
	time_push_duration(L, d);
	return 1;
}

/* time.fixed_zone(name, offset_seconds) -> Location  [-0, +1, m] */
static int m_fixed_zone(lua_State *L)
{
	size_t n;
	const char *name = luaL_checklstring(L, 1, &n);
	lua_Integer off = luaL_checkinteger(L, 2);
	struct loc *l;

	luaL_argcheck(L, off > -7 * 86400 && off < 7 * 86400, 2,
		      "offset out of range");
	l = newloc(L, n + 1);
	memcpy(l + 1, name, n);
	l->kind = LOC_FIXED;
	l->off = (int32_t)off;
	l->name = (const char *)(l + 1);
	return 1;
}

/*
** time.load_location(name) -> Location | nil, err. "UTC" gives UTC,
** "Local" gives Local, anything else is read from the zoneinfo database.
** "" is an Invalid error, as in the original (Go itself would read it as
** UTC); a zone the database lacks is NotFound. [-0, +(1|2), m]
*/
static int m_load_location(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	struct loc *l;
	int rc;

	if (name[0] == 0)
		return ret_error(L, ERRORS_INVALID, "empty location name");
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Local") == 0) {
		l = newloc(L, 0);
		*l = strcmp(name, "Local") == 0 ? loc_local : loc_utc;
		return 1;
	}
	if ((rc = zone_load(L, name)) == 0)
		return 1;
	if (rc == -ENOENT)
		return ret_error(L, ERRORS_NOT_FOUND, lua_pushfstring(L,
			"unknown time zone %s", name));
	return ret_error(L, ERRORS_INVALID, lua_pushfstring(L,
		"malformed time zone information for %s", name));
}

/* }================================================================== */

/* {==================================================================
** Registration
** =================================================================== */

static const luaL_Reg dur_meta[] = {
	{ "__tostring", d_tostring },
	{ "__eq", d_eq },
	{ "__lt", d_lt },
	{ "__le", d_le },
	{ "__add", d_add },
	{ "__sub", d_sub },
	{ "__unm", d_unm },
	{ "__index", NULL },    /* placeholder, set to dur_methods */
	{ NULL, NULL }
};

static const luaL_Reg dur_methods[] = {
	{ "hours", d_hours },
	{ "minutes", d_minutes },
	{ "seconds", d_seconds },
	{ "milliseconds", d_milliseconds },
	{ "microseconds", d_microseconds },
	{ "nanoseconds", d_nanoseconds },
	{ "string", d_tostring },
	{ NULL, NULL }
};

static const luaL_Reg time_meta[] = {
	{ "__tostring", t_tostring },
	{ "__eq", t_eq },
	{ "__lt", t_lt },
	{ "__le", t_le },
	{ "__index", NULL },
	{ NULL, NULL }
};

static const luaL_Reg time_methods[] = {
	{ "add", t_add },
	{ "sub", t_sub },
	{ "add_date", t_add_date },
	{ "before", t_before },
	{ "after", t_after },
	{ "equal", t_equal },
	{ "is_zero", t_is_zero },
	{ "format", t_format },
	{ "format_rfc3339", t_format_rfc3339 },
	{ "string", t_tostring },
	{ "unix", t_unix },
	{ "unix_nano", t_unix_nano },
	{ "unix_milli", t_unix_milli },
	{ "year", t_year },
	{ "month", t_month },
	{ "day", t_day },
	{ "hour", t_hour },
	{ "minute", t_minute },
	{ "second", t_second },
	{ "nanosecond", t_nanosecond },
	{ "weekday", t_weekday },
	{ "year_day", t_year_day },
	{ "date", t_date },
	{ "clock", t_clock },
	{ "zone", t_zone },
	{ "utc", t_utc },
	{ "in_local", t_in_local },
	{ "in_location", t_in_location },
	{ "location", t_location },
	{ "round", t_round },
	{ "truncate", t_truncate },
	{ NULL, NULL }
};

static const luaL_Reg loc_meta[] = {
	{ "__tostring", l_tostring },
	{ "__index", NULL },
	{ NULL, NULL }
};

static const luaL_Reg loc_methods[] = {
	{ "string", l_tostring },
	{ NULL, NULL }
};

static const luaL_Reg funcs[] = {
	{ "now", m_now },
	{ "unix", m_unix },
	{ "date", m_date },
	{ "parse", m_parse },
	{ "parse_duration", m_parse_duration },
	{ "fixed_zone", m_fixed_zone },
	{ "load_location", m_load_location },
	{ NULL, NULL }
};

/*
** __index of a metatable whose method table is not built yet: builds it
** (upvalue 1: the luaL_Reg list, upvalue 2: the metatable), installs it as
** the real __index and answers the lookup. A process that only passes Time
** values along (a ticker's ticks) never pays for ~40 methods.
** [-0, +1, m]
*/
static int lazy_index(lua_State *L)
{
	const luaL_Reg *methods = lua_touserdata(L, lua_upvalueindex(1));
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_pushvalue(L, -1);
	lua_setfield(L, lua_upvalueindex(2), "__index");
	lua_pushvalue(L, 2);
	lua_rawget(L, -2);
	return 1;
}

static void createmeta(lua_State *L, const char *name, const luaL_Reg *meta,
		       const luaL_Reg *methods)
{
	if (!luaL_newmetatable(L, name)) {
		lua_pop(L, 1);
		return;
	}
	luaL_setfuncs(L, meta, 0);
	lua_pushlightuserdata(L, (void *)methods);
	lua_pushvalue(L, -2);
	lua_pushcclosure(L, lazy_index, 2);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}

/* Register the metatable `name` only: a process that only receives ticks
** needs Time, not Duration or Location. [-0, +0, m] */
static void createmeta_named(lua_State *L, const char *name)
{
	if (strcmp(name, TIME_DURATION_META) == 0)
		createmeta(L, TIME_DURATION_META, dur_meta, dur_methods);
	else if (strcmp(name, TIME_TIME_META) == 0)
		createmeta(L, TIME_TIME_META, time_meta, time_methods);
	else
		createmeta(L, TIME_LOCATION_META, loc_meta, loc_methods);
}

/* Register the three metatables (each only if missing). [-0, +0, m] */
static void createmetas(lua_State *L)
{
	createmeta(L, TIME_DURATION_META, dur_meta, dur_methods);
	createmeta(L, TIME_TIME_META, time_meta, time_methods);
	createmeta(L, TIME_LOCATION_META, loc_meta, loc_methods);
}

static const struct { const char *name; lua_Integer v; } int_consts[] = {
	{ "NANOSECOND", 1 },
	{ "MICROSECOND", 1000 },
	{ "MILLISECOND", 1000000 },
	{ "SECOND", NS_PER_SEC },
	{ "MINUTE", 60 * NS_PER_SEC },
	{ "HOUR", 3600 * NS_PER_SEC },
	{ "JANUARY", 1 }, { "FEBRUARY", 2 }, { "MARCH", 3 }, { "APRIL", 4 },
	{ "MAY", 5 }, { "JUNE", 6 }, { "JULY", 7 }, { "AUGUST", 8 },
	{ "SEPTEMBER", 9 }, { "OCTOBER", 10 }, { "NOVEMBER", 11 },
	{ "DECEMBER", 12 },
	{ "SUNDAY", 0 }, { "MONDAY", 1 }, { "TUESDAY", 2 }, { "WEDNESDAY", 3 },
	{ "THURSDAY", 4 }, { "FRIDAY", 5 }, { "SATURDAY", 6 },
};

/* Go's layout constants under the module's upper-snake names. */
static const struct { const char *name, *v; } str_consts[] = {
	{ "LAYOUT", "01/02 03:04:05PM '06 -0700" },
	{ "ANSIC", "Mon Jan _2 15:04:05 2006" },
	{ "UNIX_DATE", "Mon Jan _2 15:04:05 MST 2006" },
	{ "RUBY_DATE", "Mon Jan 02 15:04:05 -0700 2006" },
	{ "RFC822", "02 Jan 06 15:04 MST" },
	{ "RFC822Z", "02 Jan 06 15:04 -0700" },
	{ "RFC850", "Monday, 02-Jan-06 15:04:05 MST" },
	{ "RFC1123", "Mon, 02 Jan 2006 15:04:05 MST" },
	{ "RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700" },
	{ "RFC3339", "2006-01-02T15:04:05Z07:00" },
	{ "RFC3339NANO", "2006-01-02T15:04:05.999999999Z07:00" },
	{ "RFC3339_NANO", "2006-01-02T15:04:05.999999999Z07:00" },
	{ "KITCHEN", "3:04PM" },
	{ "STAMP", "Jan _2 15:04:05" },
	{ "STAMP_MILLI", "Jan _2 15:04:05.000" },
	{ "STAMP_MICRO", "Jan _2 15:04:05.000000" },
	{ "STAMP_NANO", "Jan _2 15:04:05.000000000" },
	{ "DATE_TIME", "2006-01-02 15:04:05" },
	{ "DATE_ONLY", "2006-01-02" },
	{ "TIME_ONLY", "15:04:05" },
};

int time_luaopen_base(lua_State *L)
{
	struct loc *l;
	size_t i;

	createmetas(L);
	luaL_newlib(L, funcs);
	for (i = 0; i < sizeof int_consts / sizeof int_consts[0]; i++) {
		lua_pushinteger(L, int_consts[i].v);
		lua_setfield(L, -2, int_consts[i].name);
	}
	for (i = 0; i < sizeof str_consts / sizeof str_consts[0]; i++) {
		lua_pushstring(L, str_consts[i].v);
		lua_setfield(L, -2, str_consts[i].name);
	}
	l = newloc(L, 0);
	*l = loc_utc;
	lua_setfield(L, -2, "utc");
	l = newloc(L, 0);
	*l = loc_local;
	lua_setfield(L, -2, "localtz");
	return 1;
}

/* }================================================================== */
