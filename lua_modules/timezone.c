/*
** lua_modules/timezone.c: Locations of the `time` module: what offset and
** abbreviation a location gives an instant (UTC, Local through libc's
** localtime_r, fixed zones, IANA zones with their POSIX TZ rule footer),
** the reverse lookup for wall clocks and zone names, and loading IANA
** zones from the system zoneinfo files (TZif, RFC 8536). The only I/O of
** the module is zone_load reading one zoneinfo file. This file may not
** format, parse layouts or register metatables.
**
** Local time is whatever libc's localtime_r says for the process TZ, so
** it follows TZ and /etc/localtime like Go's Local does.
*/
#include "lua_modules/ltime_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/gotime.h"

/* {==================================================================
** Locations
** =================================================================== */

const struct loc loc_utc = { .kind = LOC_UTC, .name = "UTC" };
const struct loc loc_local = { .kind = LOC_LOCAL, .name = "Local" };

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
void loc_lookup(const struct loc *l, int64_t t, struct zinfo *z)
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
int64_t loc_unix(const struct loc *l, int64_t local)
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
int loc_find_name(const struct loc *l, const char *name, int64_t t,
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
int zone_load(lua_State *L, const char *name)
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
