/*
** lua_modules/payload.c: Payload objects, the global `payload`, and the
** transcoders between a Lua value and the byte formats.
**
** A Payload is a userdata {fmt, index} with one user value: its data (the
** Lua value for "lua/any", the error object for "golang/error", a Lua
** string for the byte formats), or, while index > 0, the Message it came
** from, its value number `index` still undecoded. The first :data()
** decodes the message and puts that value in the Message's place, which
** lets the Message go, so later calls return the same value. (One user
** value, not one for each: 16 bytes less per message received, and one
** store less.)
**
** Transcoding follows the original's graph (rt:runtime/lua/engine/payload):
** every edge goes to or from "lua/any", so X -> Y is X -> lua -> Y. JSON
** uses the json module's codec; STRING and BYTES are Go's %v of the value
** as the original's Lua=>String does; YAML is parsed by libfyaml and
** emitted here (libfyaml 0.7.12 cannot set a scalar's quoting style on a
** built node, and a string like "123" must come back a string); MSGPACK is
** a small codec of our own: msgpack-c would first build its own object
** tree in a zone and we would copy it again into Lua, while decoding
** straight into the state is one validating pass, and it needs no new
** package. There is no Go value here, so "golang/any" has no edges, and
** "golang/error" has none in the original either.
**
** Every transcoding failure reaches Lua as `nil, err` with kind INTERNAL,
** not retryable, as the original's payload module reports them.
** Nothing here raises except memory errors and argument type errors.
*/
#include "payload.h"
#include "udata.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <libfyaml.h>

#include "runtime/errors.h"
#include "json.h"
#include "lazylib.h"
#include "message.h"
#include "runtime/payload.h"

/* Deepest nesting any transcoder accepts (a cycle ends here too). */
#define MAXDEPTH JSON_MAXDEPTH

enum fmt { F_LUA, F_JSON, F_YAML, F_STRING, F_BYTES, F_MSGPACK, F_GOLANG,
	   F_ERROR, F_NFMT };

/* The format strings (rt:api/payload, tests/app/src/test/payload/format.lua)
** and the names payload.format gives them. */
static const char *const fmt_name[F_NFMT] = {
	"lua/any", "json/plain", "yaml/plain", "text/plain",
	"application/octet-stream", "application/msgpack", "golang/any",
	"golang/error"
};
static const char *const fmt_key[F_NFMT] = {
	"LUA", "JSON", "YAML", "STRING", "BYTES", "MSGPACK", "GOLANG", "ERROR"
};

struct pobj {
	int fmt;
	int index;      /* > 0: value `index` of the Message in user value 2 */
};

static int fmt_find(const char *s)
{
	for (int i = 0; i < F_NFMT; i++)
		if (strcmp(s, fmt_name[i]) == 0)
			return i;
	return -1;
}

static int is_bytes_fmt(int f)
{
	return f == F_JSON || f == F_YAML || f == F_STRING || f == F_BYTES ||
	       f == F_MSGPACK;
}

/* {==================================================================
** Byte buffer in a fixed stack slot
** ===================================================================
** luaL_Buffer wants its box at the top of the stack between operations;
** the encoders below push keys and values while they write, so they use
** this instead: the storage is a userdata kept at one absolute slot and
** replaced when it grows. A memory error leaves it as plain garbage.
*/
struct sbuf {
	lua_State *L;
	int slot;
	char *p;
	size_t n, cap;
};

static void sb_init(lua_State *L, struct sbuf *b)
{
	lua_pushnil(L);
	b->L = L;
	b->slot = lua_gettop(L);
	b->p = NULL;
	b->n = b->cap = 0;
}

static void sb_add(struct sbuf *b, const void *s, size_t len)
{
	if (b->cap - b->n < len) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char *q;
		while (cap - b->n < len)
			cap *= 2;
		q = lua_newuserdatauv(b->L, cap, 0);
		if (b->n)
			memcpy(q, b->p, b->n);
		lua_replace(b->L, b->slot);
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
}

static void sb_addc(struct sbuf *b, char c) { sb_add(b, &c, 1); }
static void sb_adds(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Replace the buffer's slot with the string it holds; the slot must be the
** top of the stack again. [-1, +1, m] */
static void sb_result(struct sbuf *b)
{
	lua_pushlstring(b->L, b->p ? b->p : "", b->n);
	lua_replace(b->L, b->slot);
}

/* }================================================================== */

/* {==================================================================
** Go's rendering of values (what ToGoAny + fmt "%v" print)
** =================================================================== */

/*
** Format d as Go's %v does (strconv 'g' with the shortest digits that read
** back to d; the exponent form below 1e-4 and from 1e6 on): "3", "0.5",
** "1e+06", "1.234567e+06", "NaN", "+Inf". Returns the length.
*/
static int gofloat(char *out, size_t cap, double d)
{
	char e[40];
	int p, x;

	if (isnan(d))
		return snprintf(out, cap, "NaN");
	if (isinf(d))
		return snprintf(out, cap, d > 0 ? "+Inf" : "-Inf");
	if (d == 0)
		return snprintf(out, cap, signbit(d) ? "-0" : "0");
	for (p = 1; p < 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, d);
		if (strtod(e, NULL) == d)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", p - 1, d);
	x = atoi(strchr(e, 'e') + 1);
	if (x < -4 || x >= 6)
		return snprintf(out, cap, "%s", e);
	return snprintf(out, cap, "%.*f", p - 1 - x > 0 ? p - 1 - x : 0, d);
}

/* Push the string Go's lua.LValue.String() gives the value at idx: what
** ToGoAny makes of a table key, a function or another userdata. An error
** object gives its message. [-0, +1, m] */
static void push_gostring(lua_State *L, int idx)
{
	char buf[64];
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		lua_pushvalue(L, idx);
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
		else {
			gofloat(buf, sizeof(buf), lua_tonumber(L, idx));
			lua_pushstring(L, buf);
		}
		break;
	case LUA_TBOOLEAN:
		lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
		break;
	case LUA_TNIL:
		lua_pushliteral(L, "nil");
		break;
	default:
		if (errors_is_error(L, idx)) {
			size_t len;
			const char *m = errors_message(L, idx, &len);
			lua_pushlstring(L, m, len);
		} else {
			lua_pushfstring(L, "%s: %p", luaL_typename(L, idx),
					lua_topointer(L, idx));
		}
		break;
	}
}

struct key {
	const char *s;
	size_t len;
	int i;          /* index in the keys table */
};

static int keycmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/*
** For the map-like table at t, push a table {orig1, str1, orig2, str2, ...}
** of its keys and their Go strings, ordered by the strings (Go sorts map
** keys when printing, and a stable order makes every encoding
** reproducible). Returns the key count. [-0, +1, m]
*/
static int sorted_keys(lua_State *L, int t)
{
	int n = 0, i;
	struct key *k;

	lua_newtable(L);
	int kt = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		n++;
		lua_pushvalue(L, -1);
		lua_rawseti(L, kt, 2 * n - 1);
		push_gostring(L, -1);
		lua_rawseti(L, kt, 2 * n);
	}
	if (n < 2)
		return n;
	k = lua_newuserdatauv(L, (size_t)n * sizeof(*k), 0);
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, kt, 2 * i + 2);
		k[i].s = lua_tolstring(L, -1, &k[i].len); /* kept alive by kt */
		k[i].i = i + 1;
		lua_pop(L, 1);
	}
	qsort(k, (size_t)n, sizeof(*k), keycmp);
	lua_newtable(L);
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, kt, 2 * k[i].i - 1);
		lua_rawseti(L, -2, 2 * i + 1);
		lua_rawgeti(L, kt, 2 * k[i].i);
		lua_rawseti(L, -2, 2 * i + 2);
	}
	lua_replace(L, kt);
	lua_pop(L, 1);  /* the key array */
	return n;
}

/*
** Append Go's %v of the value at idx (after ToGoAny): a table with
** elements 1..n (n = #t > 0) is a slice "[a b c]", any other table a map
** "map[k:v ...]" with sorted keys, nil inside a table "<nil>". Returns 0,
** or -1 if tables nest deeper than MAXDEPTH. [-0, +0, m]
*/
static int gov(lua_State *L, struct sbuf *b, int idx, int depth)
{
	char buf[64];
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		sb_adds(b, "<nil>");
		return 0;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			snprintf(buf, sizeof(buf), "%lld", (long long)lua_tointeger(L, idx));
		else
			gofloat(buf, sizeof(buf), lua_tonumber(L, idx));
		sb_adds(b, buf);
		return 0;
	case LUA_TTABLE: {
		lua_Unsigned n = lua_rawlen(L, idx);
		int r = 0;
		if (depth >= MAXDEPTH)
			return -1;
		idx = lua_absindex(L, idx);
		luaL_checkstack(L, 4, "payload nesting");
		if (n > 0) {
			sb_addc(b, '[');
			for (lua_Unsigned i = 1; i <= n && r == 0; i++) {
				if (i > 1)
					sb_addc(b, ' ');
				lua_rawgeti(L, idx, (lua_Integer)i);
				r = gov(L, b, -1, depth + 1);
				lua_pop(L, 1);
			}
			sb_addc(b, ']');
			return r;
		}
		int nk = sorted_keys(L, idx);
		sb_adds(b, "map[");
		for (int i = 0; i < nk && r == 0; i++) {
			size_t len;
			const char *s;
			if (i > 0)
				sb_addc(b, ' ');
			lua_rawgeti(L, -1, 2 * i + 2);
			s = lua_tolstring(L, -1, &len);
			sb_add(b, s, len);
			lua_pop(L, 1);
			sb_addc(b, ':');
			lua_rawgeti(L, -1, 2 * i + 1);
			lua_rawget(L, idx);
			r = gov(L, b, -1, depth + 1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
		sb_addc(b, ']');
		return r;
	}
	default: {
		size_t len;
		const char *s;
		push_gostring(L, idx);
		s = lua_tolstring(L, -1, &len);
		sb_add(b, s, len);
		lua_pop(L, 1);
		return 0;
	}
	}
}

/* Lua => String / Bytes: the original's ToString. Strings stay as they
** are, nil is "", everything else is Go's %v. [-0, +1, m] */
static int to_text(lua_State *L, int idx)
{
	struct sbuf b;
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		lua_pushvalue(L, idx);
		return 0;
	case LUA_TNIL:
		lua_pushliteral(L, "");
		return 0;
	default:
		sb_init(L, &b);
		if (gov(L, &b, idx, 0) < 0) {
			lua_pop(L, 1);
			lua_pushliteral(L, "tables nested too deep");
			return -1;
		}
		sb_result(&b);
		return 0;
	}
}

/* }================================================================== */

/* {==================================================================
** YAML
** =================================================================== */

/* A string that yaml would read back as something else, or that needs
** quoting to be read at all, is written double-quoted. */
static int yaml_plain_ok(const char *s, size_t len)
{
	static const char *const words[] = {
		"null", "Null", "NULL", "~", "true", "True", "TRUE", "false",
		"False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO", "on",
		"On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N", NULL
	};
	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ' || s[len - 1] == ':')
		return 0;
	if (strchr("-?:,[]{}#&*!|>'\"%@`.+0123456789", s[0]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c == ':' && i + 1 < len && s[i + 1] == ' ')
			return 0;
		if (c == '#' && s[i - 1] == ' ')
			return 0;
	}
	for (int i = 0; words[i]; i++)
		if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0)
			return 0;
	return 1;
}

static void yaml_str(struct sbuf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	if (yaml_plain_ok(s, len)) {
		sb_add(b, s, len);
		return;
	}
	sb_addc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':  sb_adds(b, "\\\""); break;
		case '\\': sb_adds(b, "\\\\"); break;
		case '\n': sb_adds(b, "\\n"); break;
		case '\t': sb_adds(b, "\\t"); break;
		case '\r': sb_adds(b, "\\r"); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
				sb_add(b, e, 4);
			} else {
				sb_addc(b, (char)c);
			}
		}
	}
	sb_addc(b, '"');
}

static void indent(struct sbuf *b, int n)
{
	while (n-- > 0)
		sb_addc(b, ' ');
}

/* A non-empty table, written as a block on its own lines. */
static int yaml_is_block(lua_State *L, int idx)
{
	if (lua_type(L, idx) != LUA_TTABLE)
		return 0;
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	if (lua_next(L, idx)) {
		lua_pop(L, 2);
		return 1;
	}
	return 0;
}

/* Write a scalar (or an empty table as "{}") without a newline. */
static void yaml_scalar(lua_State *L, struct sbuf *b, int idx)
{
	char buf[64];
	size_t len;
	const char *s;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		sb_adds(b, "null");
		break;
	case LUA_TBOOLEAN:
		sb_adds(b, lua_toboolean(L, idx) ? "true" : "false");
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			snprintf(buf, sizeof(buf), "%lld", (long long)lua_tointeger(L, idx));
		} else {
			double d = lua_tonumber(L, idx);
			if (isnan(d))
				strcpy(buf, ".nan");
			else if (isinf(d))
				strcpy(buf, d > 0 ? ".inf" : "-.inf");
			else
				gofloat(buf, sizeof(buf), d);
		}
		sb_adds(b, buf);
		break;
	case LUA_TTABLE:
		sb_adds(b, "{}");
		break;
	default:
		push_gostring(L, idx);
		s = lua_tolstring(L, -1, &len);
		yaml_str(b, s, len);
		lua_pop(L, 1);
		break;
	}
}

/*
** Write the non-empty table at idx as a block at column col: a sequence
** ("- item" lines) when #t > 0, else a mapping with sorted keys. A nested
** non-empty table goes on the following lines, four columns in.
*/
static int yaml_block(lua_State *L, struct sbuf *b, int idx, int col, int depth)
{
	lua_Unsigned n = lua_rawlen(L, idx);
	int r = 0;
	if (depth >= MAXDEPTH)
		return -1;
	idx = lua_absindex(L, idx);
	luaL_checkstack(L, 4, "payload nesting");
	if (n > 0) {
		for (lua_Unsigned i = 1; i <= n && r == 0; i++) {
			indent(b, col);
			lua_rawgeti(L, idx, (lua_Integer)i);
			if (yaml_is_block(L, -1)) {
				sb_adds(b, "-\n");
				r = yaml_block(L, b, -1, col + 4, depth + 1);
			} else {
				sb_adds(b, "- ");
				yaml_scalar(L, b, -1);
				sb_addc(b, '\n');
			}
			lua_pop(L, 1);
		}
		return r;
	}
	int nk = sorted_keys(L, idx);
	for (int i = 0; i < nk && r == 0; i++) {
		size_t len;
		const char *s;
		indent(b, col);
		lua_rawgeti(L, -1, 2 * i + 2);
		s = lua_tolstring(L, -1, &len);
		yaml_str(b, s, len);
		lua_pop(L, 1);
		lua_rawgeti(L, -1, 2 * i + 1);
		lua_rawget(L, idx);
		if (yaml_is_block(L, -1)) {
			sb_adds(b, ":\n");
			r = yaml_block(L, b, -1, col + 4, depth + 1);
		} else {
			sb_adds(b, ": ");
			yaml_scalar(L, b, -1);
			sb_addc(b, '\n');
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return r;
}

/* Lua => YAML: one document, ending in a newline. [-0, +1, m] */
static int to_yaml(lua_State *L, int idx)
{
	struct sbuf b;
	int r = 0;
	sb_init(L, &b);
	if (yaml_is_block(L, idx)) {
		r = yaml_block(L, &b, idx, 0, 0);
	} else {
		yaml_scalar(L, &b, idx);
		sb_addc(&b, '\n');
	}
	if (r < 0) {
		lua_pop(L, 1);
		lua_pushliteral(L, "failed to marshal to YAML: tables nested too deep");
		return -1;
	}
	sb_result(&b);
	return 0;
}

/* [-+]?digits with optional fraction and exponent, or .digits. */
static int is_float_text(const char *s, size_t len)
{
	size_t i = 0, digits = 0;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (digits == 0)
		return 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t d0;
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		d0 = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d0)
			return 0;
	}
	return i == len;
}

static int word_is(const char *s, size_t len, const char *a, const char *b2,
		   const char *c)
{
	return (strlen(a) == len && memcmp(s, a, len) == 0) ||
	       (strlen(b2) == len && memcmp(s, b2, len) == 0) ||
	       (strlen(c) == len && memcmp(s, c, len) == 0);
}

/* Push what a plain scalar means under YAML's core schema: null, a
** boolean, an integer (decimal, 0x, 0o), a float (.inf, .nan) or the
** string itself. [-0, +1, m] */
static void yaml_resolve(lua_State *L, const char *s, size_t len)
{
	char tmp[80];
	const char *t = s;
	int sign = 0;

	if (len == 0 || word_is(s, len, "null", "Null", "NULL") ||
	    (len == 1 && s[0] == '~')) {
		lua_pushnil(L);
		return;
	}
	if (word_is(s, len, "true", "True", "TRUE")) {
		lua_pushboolean(L, 1);
		return;
	}
	if (word_is(s, len, "false", "False", "FALSE")) {
		lua_pushboolean(L, 0);
		return;
	}
	if (len < sizeof(tmp)) {
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		t = tmp;
		if (t[0] == '-' || t[0] == '+')
			sign = 1;
		if (word_is(t + sign, len - sign, ".inf", ".Inf", ".INF")) {
			lua_pushnumber(L, t[0] == '-' ? -HUGE_VAL : HUGE_VAL);
			return;
		}
		if (!sign && word_is(t, len, ".nan", ".NaN", ".NAN")) {
			lua_pushnumber(L, NAN);
			return;
		}
		if (!sign && len > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o')) {
			const char *d = t + 2;
			int base = t[1] == 'x' ? 16 : 8;
			char *end;
			errno = 0;
			unsigned long long v = strtoull(d, &end, base);
			if (*end == '\0' && errno == 0 && v <= INT64_MAX &&
			    d[0] != '-' && d[0] != '+' && d[0] != ' ') {
				lua_pushinteger(L, (lua_Integer)v);
				return;
			}
		}
		if (is_float_text(t, len)) {
			size_t i = sign;
			while (i < len && t[i] >= '0' && t[i] <= '9')
				i++;
			if (i == len) {
				char *end;
				errno = 0;
				long long v = strtoll(t, &end, 10);
				if (errno == 0) {
					lua_pushinteger(L, (lua_Integer)v);
					return;
				}
			}
			lua_pushnumber(L, strtod(t, NULL));
			return;
		}
	}
	lua_pushlstring(L, s, len);
}

/* Push the Lua value of node n (NULL is nil). Raises on memory errors and
** with a string message on what cannot be a Lua value. [-0, +1, e] */
static void yaml_node(lua_State *L, struct fy_node *n, int depth)
{
	void *it = NULL;
	size_t len;
	const char *s;

	if (n == NULL) {
		lua_pushnil(L);
		return;
	}
	if (depth >= MAXDEPTH)
		luaL_error(L, "nesting too deep");
	luaL_checkstack(L, 4, "payload nesting");
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		s = fy_node_get_scalar(n, &len);
		if (s == NULL)
			s = "", len = 0;
		if (fy_node_get_style(n) == FYNS_PLAIN)
			yaml_resolve(L, s, len);
		else
			lua_pushlstring(L, s, len);
		return;
	case FYNT_SEQUENCE: {
		struct fy_node *item;
		lua_Integer i = 0;
		lua_createtable(L, fy_node_sequence_item_count(n), 0);
		while ((item = fy_node_sequence_iterate(n, &it)) != NULL) {
			yaml_node(L, item, depth + 1);
			lua_rawseti(L, -2, ++i);
		}
		return;
	}
	case FYNT_MAPPING: {
		struct fy_node_pair *pair;
		lua_createtable(L, 0, fy_node_mapping_item_count(n));
		while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
			struct fy_node *k = fy_node_pair_key(pair);
			if (k == NULL || fy_node_get_type(k) != FYNT_SCALAR)
				luaL_error(L, "mapping key is not a scalar");
			yaml_node(L, k, depth + 1);
			if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER &&
			    isnan(lua_tonumber(L, -1))))
				luaL_error(L, "mapping key cannot be a Lua key");
			yaml_node(L, fy_node_pair_value(pair), depth + 1);
			lua_rawset(L, -3);
		}
		return;
	}
	}
}

static int yaml_node_entry(lua_State *L)
{
	yaml_node(L, lua_touserdata(L, 1), 0);
	return 1;
}

/*
** YAML => Lua: parse the first document of s with libfyaml (aliases
** resolved) and push its value; on bad input push a message and return
** -1. The document is built outside Lua, so the conversion runs under
** lua_pcall to free it on any error; a memory error is raised again after.
*/
/* libfyaml's diagnostic output: keep the first error's text. (Collecting
** errors instead leaks them in libfyaml 0.7.12 when the document builder
** reports one, as on a depth limit.) */
struct yaml_err { char msg[200]; int have; };

static void yaml_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	struct yaml_err *ye = user;
	(void)diag;
	if (ye->have)
		return;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	/* "<memory-@0x...>:3:1: error: ..." names no file: keep "3:1: ...". */
	if (len > 0 && buf[0] == '<') {
		const char *gt = memchr(buf, '>', len);
		if (gt != NULL && gt + 1 < buf + len && gt[1] == ':') {
			len -= (size_t)(gt + 2 - buf);
			buf = gt + 2;
		}
	}
	snprintf(ye->msg, sizeof(ye->msg), "%.*s", (int)len, buf);
	ye->have = 1;
}

int lpayload_from_yaml(lua_State *L, const char *s, size_t len)
{
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	struct fy_diag *diag;
	struct fy_parser *fyp;
	struct fy_document *fyd;
	struct yaml_err ye = { "", 0 };
	int r;

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = yaml_diag;
	dcfg.user = &ye;
	dcfg.level = FYET_ERROR;
	dcfg.colorize = false;
	dcfg.show_source = false;
	diag = fy_diag_create(&dcfg);
	if (diag == NULL)
		abort();        /* libfyaml allocation failure, like xmalloc */
	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT;
	pcfg.diag = diag;
	/* An explicit parser, destroyed on every path. */
	fyp = fy_parser_create(&pcfg);
	if (fyp == NULL)
		abort();
	fyd = fy_parser_set_string(fyp, s, len) == 0 ? fy_parse_load_document(fyp) : NULL;
	if (fyd == NULL && !ye.have && !fy_parser_get_stream_error(fyp)) {
		/* A stream with no document (only comments): nil, as Go's
		** yaml.Unmarshal leaves its value. */
		fy_parser_destroy(fyp);
		fy_diag_unref(diag);
		lua_pushnil(L);
		return 0;
	}
	if (fyd == NULL) {
		if (ye.have)
			lua_pushstring(L, ye.msg);
		else
			lua_pushliteral(L, "syntax error");
		fy_parser_destroy(fyp);
		fy_diag_unref(diag);
		return -1;
	}
	lua_pushcfunction(L, yaml_node_entry);
	lua_pushlightuserdata(L, fy_document_root(fyd));
	r = lua_pcall(L, 1, 1, 0);
	fy_parse_document_destroy(fyp, fyd);
	fy_parser_destroy(fyp);
	fy_diag_unref(diag);
	if (r == LUA_ERRMEM)
		lua_error(L);
	return r == LUA_OK ? 0 : -1;
}

/* YAML => Lua for the payload transcoder: as lpayload_from_yaml, with the
** original's "failed to unmarshal YAML: " before a message. */
static int from_yaml(lua_State *L, const char *s, size_t len)
{
	if (lpayload_from_yaml(L, s, len) == 0)
		return 0;
	lua_pushfstring(L, "failed to unmarshal YAML: %s", lua_tostring(L, -1));
	lua_remove(L, -2);
	return -1;
}

int lpayload_to_yaml(lua_State *L, int idx)
{
	return to_yaml(L, idx);
}

/* }================================================================== */

/* {==================================================================
** MessagePack
** =================================================================== */

static void mp_be(struct sbuf *b, uint8_t tag, uint64_t v, int bytes)
{
	uint8_t out[9];
	out[0] = tag;
	for (int i = 0; i < bytes; i++)
		out[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	sb_add(b, out, (size_t)bytes + 1);
}

/* A length-prefixed header: fix form below fixmax, then 8/16/32-bit tags
** (tag8 0 means the family has no 8-bit form). */
static int mp_len(struct sbuf *b, size_t n, uint8_t fix, size_t fixmax,
		  uint8_t tag8, uint8_t tag16, uint8_t tag32)
{
	if (n < fixmax)
		sb_addc(b, (char)(fix | n));
	else if (tag8 && n <= 0xff)
		mp_be(b, tag8, n, 1);
	else if (n <= 0xffff)
		mp_be(b, tag16, n, 2);
	else if (n <= 0xffffffffu)
		mp_be(b, tag32, n, 4);
	else
		return -1;
	return 0;
}

static void mp_str(struct sbuf *b, const char *s, size_t len)
{
	mp_len(b, len, 0xa0, 32, 0xd9, 0xda, 0xdb);
	sb_add(b, s, len);
}

/* Encode the value at idx: integers in their smallest form, floats as
** float64, tables with 1..n (n = #t > 0) as arrays, other tables as maps
** keyed by Go strings (ToGoAny), other values as their Go string. */
static int mp_enc(lua_State *L, struct sbuf *b, int idx, int depth)
{
	size_t len;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		sb_addc(b, (char)0xc0);
		return 0;
	case LUA_TBOOLEAN:
		sb_addc(b, (char)(lua_toboolean(L, idx) ? 0xc3 : 0xc2));
		return 0;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			int64_t v = (int64_t)lua_tointeger(L, idx);
			if (v >= 0) {
				if (v < 128) sb_addc(b, (char)v);
				else if (v <= 0xff) mp_be(b, 0xcc, (uint64_t)v, 1);
				else if (v <= 0xffff) mp_be(b, 0xcd, (uint64_t)v, 2);
				else if (v <= 0xffffffffLL) mp_be(b, 0xce, (uint64_t)v, 4);
				else mp_be(b, 0xcf, (uint64_t)v, 8);
			} else {
				if (v >= -32) sb_addc(b, (char)(uint8_t)v);
				else if (v >= INT8_MIN) mp_be(b, 0xd0, (uint64_t)v & 0xff, 1);
				else if (v >= INT16_MIN) mp_be(b, 0xd1, (uint64_t)v & 0xffff, 2);
				else if (v >= INT32_MIN) mp_be(b, 0xd2, (uint64_t)v & 0xffffffff, 4);
				else mp_be(b, 0xd3, (uint64_t)v, 8);
			}
		} else {
			double d = lua_tonumber(L, idx);
			uint64_t bits;
			memcpy(&bits, &d, 8);
			mp_be(b, 0xcb, bits, 8);
		}
		return 0;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if (len > 0xffffffffu)
			return -1;
		mp_str(b, s, len);
		return 0;
	case LUA_TTABLE: {
		lua_Unsigned n = lua_rawlen(L, idx);
		int r = 0;
		if (depth >= MAXDEPTH)
			return -1;
		idx = lua_absindex(L, idx);
		luaL_checkstack(L, 4, "payload nesting");
		if (n > 0) {
			if (mp_len(b, n, 0x90, 16, 0, 0xdc, 0xdd) < 0)
				return -1;
			for (lua_Unsigned i = 1; i <= n && r == 0; i++) {
				lua_rawgeti(L, idx, (lua_Integer)i);
				r = mp_enc(L, b, -1, depth + 1);
				lua_pop(L, 1);
			}
			return r;
		}
		int nk = sorted_keys(L, idx);
		mp_len(b, (size_t)nk, 0x80, 16, 0, 0xde, 0xdf);
		for (int i = 0; i < nk && r == 0; i++) {
			lua_rawgeti(L, -1, 2 * i + 2);
			s = lua_tolstring(L, -1, &len);
			mp_str(b, s, len);
			lua_pop(L, 1);
			lua_rawgeti(L, -1, 2 * i + 1);
			lua_rawget(L, idx);
			r = mp_enc(L, b, -1, depth + 1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
		return r;
	}
	default:
		push_gostring(L, idx);
		s = lua_tolstring(L, -1, &len);
		mp_str(b, s, len);
		lua_pop(L, 1);
		return 0;
	}
}

/* Lua => MsgPack. [-0, +1, m] */
static int to_msgpack(lua_State *L, int idx)
{
	struct sbuf b;
	sb_init(L, &b);
	if (mp_enc(L, &b, idx, 0) < 0) {
		lua_pop(L, 1);
		lua_pushliteral(L, "failed to encode to MsgPack: tables nested too deep");
		return -1;
	}
	sb_result(&b);
	return 0;
}

struct mprd {
	const uint8_t *p, *end;
	const char *err;        /* static message once something failed */
};

static int mp_need(struct mprd *r, size_t n)
{
	if ((size_t)(r->end - r->p) < n) {
		r->err = "truncated input";
		return -1;
	}
	return 0;
}

static uint64_t mp_uint(struct mprd *r, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | *r->p++;
	return v;
}

/* Push one decoded value; on bad input set r->err, leave the stack as it
** was and return -1. Counts are checked against the bytes left before any
** table is sized from them. */
static int mp_dec(lua_State *L, struct mprd *r, int depth)
{
	uint8_t c;
	uint64_t n = 0;
	int bytes;

	if (depth >= MAXDEPTH) {
		r->err = "nesting too deep";
		return -1;
	}
	if (mp_need(r, 1) < 0)
		return -1;
	c = *r->p++;
	if (c <= 0x7f) { lua_pushinteger(L, c); return 0; }
	if (c >= 0xe0) { lua_pushinteger(L, (int8_t)c); return 0; }
	if ((c & 0xe0) == 0xa0) { n = c & 0x1f; goto str; }
	if ((c & 0xf0) == 0x90) { n = c & 0x0f; goto array; }
	if ((c & 0xf0) == 0x80) { n = c & 0x0f; goto map; }
	switch (c) {
	case 0xc0: lua_pushnil(L); return 0;
	case 0xc2: lua_pushboolean(L, 0); return 0;
	case 0xc3: lua_pushboolean(L, 1); return 0;
	case 0xc4: case 0xd9: bytes = 1; goto strlen_;
	case 0xc5: case 0xda: bytes = 2; goto strlen_;
	case 0xc6: case 0xdb: bytes = 4; goto strlen_;
	case 0xca: {
		float f;
		uint32_t u;
		if (mp_need(r, 4) < 0) return -1;
		u = (uint32_t)mp_uint(r, 4);
		memcpy(&f, &u, 4);
		lua_pushnumber(L, f);
		return 0;
	}
	case 0xcb: {
		double d;
		uint64_t u;
		if (mp_need(r, 8) < 0) return -1;
		u = mp_uint(r, 8);
		memcpy(&d, &u, 8);
		lua_pushnumber(L, d);
		return 0;
	}
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		bytes = 1 << (c - 0xcc);
		if (mp_need(r, (size_t)bytes) < 0) return -1;
		n = mp_uint(r, bytes);
		if (n > INT64_MAX)
			lua_pushnumber(L, (lua_Number)n);
		else
			lua_pushinteger(L, (lua_Integer)n);
		return 0;
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		int64_t v;
		bytes = 1 << (c - 0xd0);
		if (mp_need(r, (size_t)bytes) < 0) return -1;
		n = mp_uint(r, bytes);
		if (bytes == 1) v = (int8_t)n;
		else if (bytes == 2) v = (int16_t)n;
		else if (bytes == 4) v = (int32_t)n;
		else v = (int64_t)n;
		lua_pushinteger(L, (lua_Integer)v);
		return 0;
	}
	case 0xdc: case 0xdd:
		bytes = c == 0xdc ? 2 : 4;
		if (mp_need(r, (size_t)bytes) < 0) return -1;
		n = mp_uint(r, bytes);
		goto array;
	case 0xde: case 0xdf:
		bytes = c == 0xde ? 2 : 4;
		if (mp_need(r, (size_t)bytes) < 0) return -1;
		n = mp_uint(r, bytes);
		goto map;
	default:        /* 0xc1 (never used) and the ext types */
		r->err = c == 0xc1 ? "invalid byte 0xc1" : "ext types are not supported";
		return -1;
	}
strlen_:
	if (mp_need(r, (size_t)bytes) < 0) return -1;
	n = mp_uint(r, bytes);
str:
	if (mp_need(r, n) < 0) return -1;
	lua_pushlstring(L, (const char *)r->p, n);
	r->p += n;
	return 0;
array:
	if (mp_need(r, n) < 0) return -1;  /* each element takes a byte */
	luaL_checkstack(L, 4, "payload nesting");
	lua_createtable(L, (int)n, 0);
	for (uint64_t i = 1; i <= n; i++) {
		if (mp_dec(L, r, depth + 1) < 0) {
			lua_pop(L, 1);
			return -1;
		}
		lua_rawseti(L, -2, (lua_Integer)i);
	}
	return 0;
map:
	if (n > (uint64_t)(r->end - r->p) / 2) {
		r->err = "truncated input";
		return -1;
	}
	luaL_checkstack(L, 4, "payload nesting");
	lua_createtable(L, 0, (int)n);
	for (uint64_t i = 0; i < n; i++) {
		if (mp_dec(L, r, depth + 1) < 0) {
			lua_pop(L, 1);
			return -1;
		}
		if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER &&
		    isnan(lua_tonumber(L, -1)))) {
			r->err = "map key cannot be a Lua key";
			lua_pop(L, 2);
			return -1;
		}
		if (mp_dec(L, r, depth + 1) < 0) {
			lua_pop(L, 2);
			return -1;
		}
		lua_rawset(L, -3);
	}
	return 0;
}

/* MsgPack => Lua: exactly one value, nothing after it. [-0, +1, m] */
static int from_msgpack(lua_State *L, const char *s, size_t len)
{
	struct mprd r = {(const uint8_t *)s, (const uint8_t *)s + len, NULL};
	if (mp_dec(L, &r, 0) == 0 && r.p != r.end) {
		lua_pop(L, 1);
		r.err = "trailing bytes after the value";
	}
	if (r.err) {
		lua_pushfstring(L, "failed to decode MsgPack: %s", r.err);
		return -1;
	}
	return 0;
}

/* }================================================================== */

/* {==================================================================
** Transcoding steps
** =================================================================== */

/* Push the Lua value of the bytes-format string at idx (returns 0), or a
** message (returns -1). */
static int step_to_lua(lua_State *L, int fmt, int idx)
{
	size_t len;
	const char *s = lua_tolstring(L, idx, &len);
	switch (fmt) {
	case F_JSON:
		if (json_decode_push(L, s, len) == 1)
			return 0;
		lua_pushfstring(L, "failed to decode JSON: %s",
				errors_message(L, -1, NULL));
		lua_replace(L, -3);
		lua_pop(L, 1);
		return -1;
	case F_YAML:
		return from_yaml(L, s, len);
	case F_MSGPACK:
		return from_msgpack(L, s, len);
	default:        /* STRING, BYTES: the string itself */
		lua_pushvalue(L, idx);
		return 0;
	}
}

/* Push the bytes-format string for the Lua value at idx (returns 0), or a
** message (returns -1). */
static int step_from_lua(lua_State *L, int fmt, int idx)
{
	switch (fmt) {
	case F_JSON:
		if (json_encode_push(L, idx) == 1)
			return 0;
		lua_pushfstring(L, "failed to encode to JSON: %s",
				errors_message(L, -1, NULL));
		lua_replace(L, -3);
		lua_pop(L, 1);
		return -1;
	case F_YAML:
		return to_yaml(L, idx);
	case F_MSGPACK:
		return to_msgpack(L, idx);
	default:
		return to_text(L, idx);
	}
}

/* Replace the message at the top with nil and an INTERNAL error object
** carrying it (not retryable) and return 2. [-1, +2, m] */
static int fail(lua_State *L)
{
	errors_push(L, ERRORS_INTERNAL, "%s", lua_tostring(L, -1));
	lua_pushnil(L);
	lua_replace(L, -3);
	return 2;
}

/* }================================================================== */

/* {==================================================================
** Payload objects
** =================================================================== */

static const char payload_key; /* the metatable's registry key: udata.h */

static struct pobj *check_pobj(lua_State *L, int i)
{
	return udata_check(L, i, &payload_key, PAYLOAD_META);
}

static int pl_data(lua_State *L);
static int pl_transcode(lua_State *L);
static int pl_format(lua_State *L);
static int pl_tostring(lua_State *L);

static const luaL_Reg pl_methods[] = {
	{"data", pl_data},
	{"unmarshal", pl_data},
	{"get_format", pl_format},
	{"transcode", pl_transcode},
	{NULL, NULL}
};

/* Push the metatable, made on first use. [-0, +1, m] */
static void push_meta(lua_State *L)
{
	udata_push_meta(L, UDATA_PAYLOAD, &payload_key, PAYLOAD_META, pl_methods, pl_tostring);
}

/* Push a new Payload of format fmt holding the value at data. [-0, +1, m] */
static void push_pobj(lua_State *L, int fmt, int data)
{
	struct pobj *p;
	data = lua_absindex(L, data);
	p = lua_newuserdatauv(L, sizeof(*p), 1);
	p->fmt = fmt;
	p->index = 0;
	lua_pushvalue(L, data);
	lua_setiuservalue(L, -2, 1);
	push_meta(L);
	lua_setmetatable(L, -2);
}

void lpayload_push_value(lua_State *L, int idx)
{
	push_pobj(L, errors_is_error(L, idx) ? F_ERROR : F_LUA, idx);
}

void lpayload_push_message(lua_State *L, int msgidx, int index)
{
	struct pobj *p;
	msgidx = lua_absindex(L, msgidx);
	p = lua_newuserdatauv(L, sizeof(*p), 1);
	p->fmt = F_LUA;
	p->index = index;
	lua_pushvalue(L, msgidx);
	lua_setiuservalue(L, -2, 1);
	push_meta(L);
	lua_setmetatable(L, -2);
}

/* Push the data of the Payload at idx, decoding a message's value first.
** Returns 0, or pushes nil and an error and returns -1. */
static int push_data(lua_State *L, int idx, struct pobj *p)
{
	if (p->index > 0) {
		int top = lua_gettop(L), n;
		lua_getiuservalue(L, idx, 1);
		n = payload_decode(L, message_payload(L, -1));
		if (n < 0) {
			lua_settop(L, top);
			errors_ret(L, ERRORS_INTERNAL, "cannot decode payload: %s",
				   payload_strerror(n));
			return -1;
		}
		if (p->index <= n)
			lua_pushvalue(L, top + 1 + p->index);
		else
			lua_pushnil(L);
		lua_setiuservalue(L, idx, 1);   /* the Message may go now */
		lua_settop(L, top);
		p->index = 0;
	}
	lua_getiuservalue(L, idx, 1);
	return 0;
}

/* payload:data() / :unmarshal() -> value | nil, err. A "lua/any" payload
** gives its value; a bytes format is transcoded to Lua first; ERROR and
** GOLANG have no way to Lua (as in the original). [-0, +(1|2), m] */
static int pl_data(lua_State *L)
{
	struct pobj *p = check_pobj(L, 1);
	if (push_data(L, 1, p) < 0)
		return 2;
	if (p->fmt == F_LUA)
		return 1;
	if (!is_bytes_fmt(p->fmt)) {
		lua_pushfstring(L, "no transcoding path found from %s to %s",
				fmt_name[p->fmt], fmt_name[F_LUA]);
		return fail(L);
	}
	if (step_to_lua(L, p->fmt, -1) < 0) {
		lua_pushfstring(L, "error transcoding payload: %s", lua_tostring(L, -1));
		return fail(L);
	}
	return 1;
}

/* payload:transcode(format) -> payload, nil | nil, err. The target is a
** string (raises otherwise); an unknown or unreachable one is an error.
** [-0, +2, m] */
static int pl_transcode(lua_State *L)
{
	struct pobj *p = check_pobj(L, 1);
	const char *to = luaL_checkstring(L, 2);
	int t = fmt_find(to), v;

	if (push_data(L, 1, p) < 0)
		return 2;
	v = lua_gettop(L);
	if (t == p->fmt) {
		push_pobj(L, t, v);
		lua_pushnil(L);
		return 2;
	}
	if (t < 0 || t == F_GOLANG || t == F_ERROR ||
	    (p->fmt != F_LUA && !is_bytes_fmt(p->fmt))) {
		lua_pushfstring(L, "no transcoding path found from %s to %s",
				fmt_name[p->fmt], to);
		return fail(L);
	}
	if (p->fmt != F_LUA) {
		if (step_to_lua(L, p->fmt, v) < 0)
			goto err;
		v = lua_gettop(L);
	}
	if (t != F_LUA) {
		if (step_from_lua(L, t, v) < 0)
			goto err;
		v = lua_gettop(L);
	}
	push_pobj(L, t, v);
	lua_pushnil(L);
	return 2;
err:
	lua_pushfstring(L, "error transcoding payload: %s", lua_tostring(L, -1));
	return fail(L);
}

/* payload:get_format() [-0, +1, -] */
static int pl_format(lua_State *L)
{
	lua_pushstring(L, fmt_name[check_pobj(L, 1)->fmt]);
	return 1;
}

/* tostring(payload): "payload{format=lua/any}" [-0, +1, m] */
static int pl_tostring(lua_State *L)
{
	lua_pushfstring(L, "payload{format=%s}", fmt_name[check_pobj(L, 1)->fmt]);
	return 1;
}

/* }================================================================== */

/* {==================================================================
** The global
** =================================================================== */

/*
** payload.new(value [, format]) -> payload | nil, err. Without a format
** (or with LUA) it is the original's: a "lua/any" payload of value, or a
** "golang/error" one for an error object. A bytes format (our addition)
** takes value as that format's text; ERROR takes an error object. Other
** combinations give nil and an INVALID error. [-0, +(1|2), m]
*/
static int p_new(lua_State *L)
{
	int f;
	lua_settop(L, 2);
	if (lua_isnil(L, 2)) {
		push_pobj(L, errors_is_error(L, 1) ? F_ERROR : F_LUA, 1);
		return 1;
	}
	if (lua_type(L, 2) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "payload format must be a string, got %s",
				  luaL_typename(L, 2));
	f = fmt_find(lua_tostring(L, 2));
	if (f < 0)
		return errors_ret(L, ERRORS_INVALID, "unknown payload format: %s",
				  lua_tostring(L, 2));
	if (f == F_LUA) {
		push_pobj(L, errors_is_error(L, 1) ? F_ERROR : F_LUA, 1);
		return 1;
	}
	if (f == F_GOLANG)
		return errors_ret(L, ERRORS_INVALID, "%s payloads cannot be made from Lua",
				  fmt_name[f]);
	if (f == F_ERROR && !errors_is_error(L, 1))
		return errors_ret(L, ERRORS_INVALID, "a %s payload needs an error, got %s",
				  fmt_name[f], luaL_typename(L, 1));
	if (is_bytes_fmt(f) && lua_type(L, 1) != LUA_TSTRING)
		return errors_ret(L, ERRORS_INVALID, "a %s payload needs a string, got %s",
				  fmt_name[f], luaL_typename(L, 1));
	push_pobj(L, f, 1);
	return 1;
}

/* payload.format: the format strings by name. [-0, +1, m] */
static int make_format(lua_State *L)
{
	lua_createtable(L, 0, F_NFMT);
	for (int i = 0; i < F_NFMT; i++) {
		lua_pushstring(L, fmt_name[i]);
		lua_setfield(L, -2, fmt_key[i]);
	}
	return 1;
}

static const luaL_Reg funcs[] = {
	{"new", p_new},
	{NULL, NULL}
};

static const luaL_Reg makers[] = {
	{"format", make_format},
	{NULL, NULL}
};

int luaopen_payload(lua_State *L)
{
	lazylib_new2(L, funcs, makers);
	return 1;
}

/* }================================================================== */
