/*
** lua_modules/lyaml.h: require("yaml") (the name is Lua's habit, as in
** ltime.c; runtime/yaml.c is the registry's YAML reader).
*/
#ifndef LUA_MODULES_LYAML_H
#define LUA_MODULES_LYAML_H

#include <lua.h>

/* require("yaml"): {encode, decode}. [-0, +1, m] */
int luaopen_yaml(lua_State *L);

#endif
