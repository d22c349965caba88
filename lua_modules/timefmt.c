/*
** lua_modules/timefmt.c: Go layouts for the `time` module: formatting a
** Time with a layout (Go's Time.Format) and parsing a value with one into
** date and clock fields (Go's time.parse). Format and parse walk a layout
** with the same next_chunk, which keeps them inverse to each other. Zone
** resolution of a parsed value is left to ltime.c; this file may not make
** userdata or read zone files.
*/
#include "lua_modules/ltime_impl.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "runtime/gotime.h"

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

/* Write v in decimal backwards, ending just before w; returns the start. */
static char *fmt_int(char *w, uint64_t v)
{
	do
		*--w = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return w;
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
void format_time(luaL_Buffer *b, const struct tval *t,
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
const char *parse_fields(lua_State *L, const char *lay, size_t ln,
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
