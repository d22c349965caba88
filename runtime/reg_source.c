/*
** runtime/reg_source.c: where a Lua entry's code is.
**
** Owns: the source of process.lua, library.lua and function.lua (a
** file:// URL that must name an existing file and may not leave the source
** root) and the bytecode of process.lua.bc (a file under an fs.directory,
** pinned by its sha256 and checked to be Lua 5.4 bytecode). It may not
** compile anything: runtime/code.c does, after the load.
*/
#include "runtime/reg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/sha256.h"

/* Largest process.lua.bc bytecode file read to check its hash. */
#define MAX_BYTECODE (64u << 20)

/* Lexically normalise an absolute path: drop ".", "//", resolve "..". */
static void normalize(char *path)
{
	char *out = path, *p = path;

	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		if (p[0] == '.' && (p[1] == '/' || p[1] == '\0')) {
			p += 1;
		} else if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')) {
			p += 2;
			while (out > path && *--out != '/')
				;
		} else {
			*out++ = '/';
			while (*p && *p != '/')
				*out++ = *p++;
		}
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

/*
** Resolve source: file://rel (relative to the YAML file's directory, and
** not allowed to leave the source root) or file:///abs. The file must
** exist. Returns the absolute path or NULL (error recorded).
*/
const char *reg__lua_source(struct loader *L, struct reg_entry *e)
{
	struct reg_value *v = reg__field(e, "source");
	const char *s = reg__get_str(L, e, "source", true);
	char *path;
	size_t rl = strlen(L->root);
	struct stat st;

	if (s == NULL)
		return NULL;
	if (strncmp(s, "file://", 7) != 0 || s[7] == '\0') {
		reg__errat(L, e, v, "source must be a file:// URL like "
		      "\"file://main.lua\", got \"%s\"", s);
		return NULL;
	}
	s += 7;
	if (s[0] == '/') {
		path = reg__strdup(&L->reg->arena, s);
		normalize(path);
	} else {
		path = reg__printf(&L->reg->arena, "%s/%s", e->_dir, s);
		normalize(path);
		if (strncmp(path, L->root, rl) != 0 ||
		    (path[rl] != '/' && strcmp(L->root, "/") != 0)) {
			reg__errat(L, e, v, "source \"file://%s\" escapes the source "
			      "directory %s", s, L->root);
			return NULL;
		}
	}
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		reg__errat(L, e, v, "missing source file \"file://%s\" (%s: %s)", s, path,
		      stat(path, &st) != 0 ? strerror(errno) : "not a regular file");
		return NULL;
	}
	return path;
}

/* The whole of file path in a malloc'd buffer (*len bytes), or NULL with
** errno set; files past MAX_BYTECODE fail with EFBIG. */
static unsigned char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	unsigned char *buf;
	size_t got = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || (st.st_size > MAX_BYTECODE && (errno = EFBIG))) {
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0) {
			if (r == 0)
				break;	/* shrank under us: hash what is there */
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return buf;
}

/*
** process.lua.bc (the original's precompiled process): fs names an
** fs.directory entry, path a file under its directory, hash that file's
** "sha256:<hex>". The file is read here, its hash checked and its header
** too: only Lua 5.4 bytecode (luac5.4 output) can run on this runtime.
** The original's own `wippy pack --bytecode` writes go-lua bytecode (magic
** "CAUL", a different instruction set), which stock Lua cannot load; such
** a file is an error that says so, at load, not a crash at spawn. Returns
** the absolute path of the file or NULL (error recorded).
*/
const char *reg__fs_dir(struct loader *L, struct reg_entry *e, const char *field,
			 struct reg_entry **fs_out)
{
	struct reg_value *fv = reg__field(e, field);
	const char *fsid = reg__get_str(L, e, field, true);
	const char *dir;
	struct reg_entry *fs;

	if (fsid == NULL)
		return NULL;
	fs = reg_find(L->reg, strchr(fsid, ':') ? fsid :
		      reg__printf(&L->reg->arena, "%s:%s", e->ns, fsid));
	if (fs == NULL || fs->kind == NULL || strcmp(fs->kind, "fs.directory") != 0) {
		reg__errat(L, e, fv, "%s \"%s\" must name an fs.directory entry (%s)",
		      field, fsid, fs ? fs->kind : "no such entry");
		return NULL;
	}
	fs->_used = true;	/* it serves this entry: not "ignored" */
	if (fs_out)
		*fs_out = fs;
	dir = reg_value_str(fs->data, "directory");
	if (dir == NULL || dir[0] == '\0') {
		reg__errat(L, fs, reg__field(fs, "directory"), "fs.directory needs a "
		      "\"directory\" string (used by %s)", e->id);
		return NULL;
	}
	if (dir[0] == '/')
		return dir;
	char *cwd = getcwd(NULL, 0);
	const char *abs = reg__printf(&L->reg->arena, "%s/%s", cwd ? cwd : ".", dir);
	free(cwd);
	return abs;
}

const char *reg__bc_source(struct loader *L, struct reg_entry *e)
{
	struct reg_value *hv = reg__field(e, "hash");
	struct reg_entry *fs = NULL;
	const char *dir = reg__fs_dir(L, e, "fs", &fs);
	const char *rel = reg__get_str(L, e, "path", true);
	const char *hash = reg__get_str(L, e, "hash", true);
	unsigned char *data;
	char hex[65], *path;
	size_t len;

	if (dir == NULL || rel == NULL || hash == NULL)
		return NULL;
	if (rel[0] == '/' || !strcmp(rel, "..") || !strncmp(rel, "../", 3) ||
	    strstr(rel, "/../") || (strlen(rel) >= 3 && !strcmp(rel + strlen(rel) - 3, "/.."))) {
		reg__errat(L, e, reg__field(e, "path"), "path \"%s\" must stay inside the "
		      "directory of %s", rel, fs->id);
		return NULL;
	}
	path = reg__printf(&L->reg->arena, "%s/%s", dir, rel);
	normalize(path);
	if ((data = read_all(path, &len)) == NULL) {
		reg__errat(L, e, reg__field(e, "path"), "cannot read bytecode \"%s\" (%s: %s)",
		      rel, path, strerror(errno));
		return NULL;
	}
	sha256_hex(data, len, hex);
	if (strncmp(hash, "sha256:", 7) != 0) {
		reg__errat(L, e, hv, "hash must be \"sha256:<64 hex digits>\", got \"%s\"", hash);
		path = NULL;
	} else if (strcasecmp(hash + 7, hex) != 0) {
		reg__errat(L, e, hv, "hash mismatch for %s: the file is sha256:%s", rel, hex);
		path = NULL;
	} else if (len >= 4 && !memcmp(data, "CAUL", 4)) {
		reg__errat(L, e, reg__field(e, "path"), "%s is go-lua bytecode (the original "
		      "runtime's `wippy pack --bytecode`), which Lua 5.4 cannot load; "
		      "use the process.lua entry with its source, or luac5.4 output", rel);
		path = NULL;
	} else if (len < 5 || memcmp(data, "\x1bLua", 4) != 0) {
		reg__errat(L, e, reg__field(e, "path"), "%s is not Lua bytecode", rel);
		path = NULL;
	} else if (data[4] != 0x54) {
		reg__errat(L, e, reg__field(e, "path"), "%s is bytecode of Lua %d.%d; this "
		      "runtime runs Lua 5.4", rel, data[4] >> 4, data[4] & 15);
		path = NULL;
	}
	free(data);
	return path;
}
