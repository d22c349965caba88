/*
** test/unit/lua_modules/sqlpg.c: the pure parts of the sql module's
** Postgres handles: `?` rewritten to $n as the original's
** normalizePlaceholders does (its own test cases, plus unterminated
** quotes and comments), and Postgres date/time text turned into Go's
** time.Time String() form, with the texts Go cannot parse left alone.
** The server side is test/integration/postgres.sh.
*/
#include "lua_modules/sqlpg.c"

#include <lualib.h>

#include "tap.h"

static void ph(const char *in, const char *want)
{
	char *got = dollar_placeholders(in, strlen(in));
	ok(strcmp(got, want) == 0, "placeholders: %s -> %s (got %s)", in, want, got);
	free(got);
}

static void tm(lua_State *L, const char *in, int date, int time_, int zone, int utc,
	       const char *want)
{
	luaL_Buffer B;
	int r;
	lua_settop(L, 0);
	luaL_buffinit(L, &B);
	r = go_time(&B, in, date, time_, zone, utc);
	luaL_pushresult(&B);
	if (want == NULL)
		ok(r == 0, "time: %s is left as text", in);
	else
		ok(r == 1 && strcmp(lua_tostring(L, -1), want) == 0,
		   "time: %s -> %s (got %s)", in, want, lua_tostring(L, -1));
}

int main(void)
{
	lua_State *L = luaL_newstate();

	ph("SELECT * FROM users WHERE id = ? AND status = ?",
	   "SELECT * FROM users WHERE id = $1 AND status = $2");
	ph("SELECT '?' AS literal, \"?\" AS ident -- ?\n/* ? */ WHERE id = ? AND body = $$?$$",
	   "SELECT '?' AS literal, \"?\" AS ident -- ?\n/* ? */ WHERE id = $1 AND body = $$?$$");
	ph("SELECT data ?| array['a'] FROM docs WHERE id = ? AND data ?& array['b']",
	   "SELECT data ?| array['a'] FROM docs WHERE id = $1 AND data ?& array['b']");
	ph("SELECT 'it''s ?', $tag$ ? $tag$, ?", "SELECT 'it''s ?', $tag$ ? $tag$, $1");
	ph("SELECT $1, $2", "SELECT $1, $2");
	ph("SELECT 'unterminated ?", "SELECT 'unterminated ?");
	ph("SELECT ? /* open ?", "SELECT $1 /* open ?");
	ph("SELECT $notatag ?", "SELECT $notatag $1");
	ph("", "");
	{
		char big[4096];
		memset(big, '?', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		char *got = dollar_placeholders(big, strlen(big));
		ok(strstr(got, "$4095") != NULL && got[0] == '$', "placeholders: 4095 of them");
		free(got);
	}

	tm(L, "2024-01-02 03:04:05+00", 1, 1, 1, 1, "2024-01-02 03:04:05 +0000 UTC");
	tm(L, "2024-01-02 03:04:05.120+00", 1, 1, 1, 1, "2024-01-02 03:04:05.12 +0000 UTC");
	tm(L, "2024-01-02 03:04:05+05:30", 1, 1, 1, 1, "2024-01-02 03:04:05 +0530 +0530");
	tm(L, "2024-01-02 03:04:05-08", 1, 1, 1, 0, "2024-01-02 03:04:05 -0800 -0800");
	tm(L, "2024-01-02 03:04:05.123456", 1, 1, 0, 0, "2024-01-02 03:04:05.123456 +0000 +0000");
	tm(L, "2024-02-29", 1, 0, 0, 0, "2024-02-29 00:00:00 +0000 +0000");
	tm(L, "13:14:15.5", 0, 1, 0, 1, "0000-01-01 13:14:15.5 +0000 UTC");
	tm(L, "13:14:15+02", 0, 1, 1, 1, "0000-01-01 13:14:15 +0200 +0200");
	tm(L, "infinity", 1, 1, 1, 1, NULL);
	tm(L, "0044-03-15 BC", 1, 0, 0, 0, NULL);
	tm(L, "2024-01-02", 1, 1, 0, 0, NULL);
	lua_close(L);
	return tap_done();
}
