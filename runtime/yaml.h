/*
** runtime/yaml.h: the YAML reader. One YAML file becomes a tree of struct
** reg_value (runtime/registry.h), every node with its file:line:col, so
** that whatever reads the tree can point at the line the user wrote.
**
** Plain scalars are typed by the YAML 1.2 core schema, quoted ones are
** strings; anchors and aliases are resolved (an alias is a deep copy, so
** a later rewrite of one does not touch the other); only the first
** document of a stream is read. This is the one libfyaml user besides the
** payload codec (lua_modules/payload.c).
*/
#ifndef RUNTIME_YAML_H
#define RUNTIME_YAML_H

#include <stdbool.h>

struct reg_arena;
struct reg_error;
struct reg_value;

/*
** Read the YAML file at path into a tree allocated in a (it lives as long
** as the arena); file is the name nodes carry in their positions. Returns
** the root, NULL for an empty file, with *ok true; or NULL with *ok false
** and one line per problem appended to err ("file:line:col: YAML syntax
** error: ...", bytes that are not UTF-8, unknown aliases, aliases that
** expand past a bound, duplicate keys, non-scalar keys).
*/
struct reg_value *yaml_read_file(const char *path, const char *file,
				 struct reg_arena *a, struct reg_error *err,
				 bool *ok);

/*
** Type the plain scalar v from its text (v->str) by the YAML 1.2 core
** schema: null, bool, int (decimal, 0x, 0o; an int64 overflow stays a
** string), float (with .inf and .nan), else string. A quoted scalar is
** always a string. Used again after interpolation rewrote v->str, so that
** a plain "${env:PORT|8080}" becomes the integer 8080.
*/
void yaml_type_scalar(struct reg_value *v);

#endif
